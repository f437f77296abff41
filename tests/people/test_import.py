"""Import of residents and party members: dry run, row-level errors, duplicates, all or nothing."""

import csv

import pytest
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from apps.people.importer import people_import, people_import_file
from apps.people.models import PartyMember, PartyOrganization, Resident
from apps.territory.models import Household
from tests.people.helpers import bad_id, valid_id

HEADER = ["楼栋地址", "单元", "房号", "姓名", "手机号", "身份证号"]


def _households(n=3):
    return list(Household.objects.select_related("building", "unit").order_by("id")[:n])


def _row(hh, name, phone, idnum):
    return [hh.building.address, hh.unit.number, hh.room, name, phone, idnum]


def write_csv(path, rows, header=HEADER):
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def good_rows():
    a, b, c = _households()
    return [
        _row(a, "赵一", "13900000001", valid_id("34011119900101001")),
        _row(b, "钱二", "13900000002", valid_id("34011119900101002")),
        _row(c, "孙三", "", valid_id("34011119900101003")),
    ]


def test_dry_run_validates_and_writes_nothing(demo, tmp_path):
    before = Resident.objects.count()
    report = people_import_file(kind="residents", path=write_csv(tmp_path / "r.csv", good_rows()))
    assert (report.rows, report.valid, report.errors, report.written) == (3, 3, [], 0)
    assert Resident.objects.count() == before


def test_commit_writes_encrypted_rows(demo, tmp_path):
    report = people_import_file(
        kind="residents", path=write_csv(tmp_path / "r.csv", good_rows()), dry_run=False
    )
    assert report.written == 3
    r = Resident.objects.get(name="赵一")
    assert r.phone == "13900000001" and r.id_masked.startswith("3401") and "*" in r.id_masked
    assert valid_id("34011119900101001") not in r.id_cipher


def test_bad_rows_are_reported_by_row_and_field_and_nothing_is_written(demo, tmp_path):
    a, b, c = _households()
    existing = Resident.objects.first()
    rows = good_rows() + [
        _row(a, "周四", "13900000004", bad_id("34011119900101004")),  # row 5
        _row(b, "吴五", "1390000", valid_id("34011119900101005")),  # row 6
        ["不存在的楼", 1, "101", "郑六", "", valid_id("34011119900101006")],  # row 7
        _row(c, "王七", "", valid_id("34011119900101001")),  # row 8: same ID as row 2
    ]
    before = Resident.objects.count()
    report = people_import(
        kind="residents",
        rows=[
            dict(zip(["building", "unit", "room", "name", "phone", "id_number"], r, strict=True))
            for r in rows
        ],
        dry_run=False,
    )
    errors = {(e["row"], e["field"]): e["error"] for e in report.errors}
    assert "GB 11643 expects" in errors[(5, "id_number")]
    assert "not a mobile number" in errors[(6, "phone")]
    assert "no household at 不存在的楼" in errors[(7, "building")]
    assert "same ID number is on row 2" in errors[(8, "id_number")]
    assert report.written == 0 and Resident.objects.count() == before
    # an ID already in the database is a duplicate too
    report = people_import(
        kind="residents",
        rows=[
            {
                "building": a.building.address,
                "unit": str(a.unit.number),
                "room": a.room,
                "name": "x",
                "id_number": _plain_id(existing),
            }
        ],
    )
    assert report.errors[0]["error"] == "a resident with this ID number is already registered"


def _plain_id(resident):
    from apps.people.pii import decrypt

    return decrypt(resident.id_cipher)


def test_skip_bad_rows_writes_the_good_ones(demo, tmp_path):
    a = _households(1)[0]
    rows = good_rows() + [_row(a, "周四", "", bad_id("34011119900101004"))]
    before = Resident.objects.count()
    report = people_import_file(
        kind="residents",
        path=write_csv(tmp_path / "r.csv", rows),
        dry_run=False,
        skip_bad_rows=True,
    )
    assert report.written == 3 and len(report.errors) == 1
    assert Resident.objects.count() == before + 3


def test_xlsx_and_party_members(demo, tmp_path):
    people_import_file(
        kind="residents", path=write_csv(tmp_path / "r.csv", good_rows()), dry_run=False
    )
    org = PartyOrganization.objects.filter(kind="branch").first()
    wb = Workbook()
    ws = wb.active
    ws.append(["身份证号", "所属党组织", "党员类别", "入党时间"])
    ws.append([valid_id("34011119900101001"), org.name, "双报到", "2010-07-01"])
    ws.append([valid_id("34011119900101002"), org.name, "退休", "2001/07/01"])
    ws.append([valid_id("34011119900101003"), "没有这个组织", "退休", ""])
    ws.append([valid_id("34011119900101009"), org.name, "退休", ""])
    ws.append([valid_id("34011119900101002"), org.name, "火星", "2001-07-01"])
    path = tmp_path / "m.xlsx"
    wb.save(path)
    before = PartyMember.objects.count()
    report = people_import_file(kind="party_members", path=path, dry_run=False)
    assert [(e["row"], e["field"]) for e in report.errors] == [
        (4, "organization"),
        (5, "id_number"),
        (6, "id_number"),
    ]
    assert PartyMember.objects.count() == before
    report = people_import_file(kind="party_members", path=path, dry_run=False, skip_bad_rows=True)
    assert report.written == 2
    assert PartyMember.objects.get(resident__name="赵一").kind == "in_service"


def test_command_is_a_dry_run_by_default_and_fails_on_bad_rows(demo, tmp_path, capsys):
    path = write_csv(tmp_path / "r.csv", good_rows())
    call_command("import_people", "residents", str(path))
    assert "dry run" in capsys.readouterr().out
    a = _households(1)[0]
    bad = write_csv(tmp_path / "bad.csv", [_row(a, "周四", "", bad_id())])
    with pytest.raises(CommandError, match="nothing written"):
        call_command("import_people", "residents", str(bad), "--commit")
    assert "row 2: id_number" in capsys.readouterr().err
    with pytest.raises(CommandError, match="missing column"):
        call_command(
            "import_people",
            "residents",
            str(write_csv(tmp_path / "x.csv", [["a"]], header=["姓名"])),
        )
