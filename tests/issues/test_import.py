"""The hotline importer on small files: mapping, row-level errors, all-or-nothing, dry run, XLSX, CLI."""

import csv
import json

import pytest
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from apps.issues.importer import ImportFailed, hotline_import
from apps.issues.models import Issue, IssueEvent
from apps.issues.reasons import reason_text
from tests.issues.conftest import point_in

MAPPING = {
    "columns": {
        "ext_ref": "工单号",
        "created_at": "受理时间",
        "closed_at": "办结时间",
        "status": "状态",
        "category": "类别",
        "description": "内容",
        "address": "地址",
        "lat": "纬度",
        "lon": "经度",
        "reporter_phone": "来电号码",
    },
    "values": {
        "status": {"已办结": "closed", "处理中": "collected"},
        "category": {"物业": "property-repair", "噪音": "enforcement-noise", "纠纷": "dispute"},
    },
    "defaults": {"source": "hotline"},
}
HEADER = [
    "工单号",
    "受理时间",
    "办结时间",
    "状态",
    "类别",
    "内容",
    "地址",
    "纬度",
    "经度",
    "来电号码",
]


@pytest.fixture
def rows(a_grid):
    p = point_in(a_grid)
    return [
        [
            "H1",
            "2026-10-01 09:00:00",
            "2026-10-02 10:00:00",
            "已办结",
            "物业",
            "电梯故障",
            "1栋",
            p.y,
            p.x,
            "13900001111",
        ],
        ["H2", "2026-10-03 09:00", "", "处理中", "噪音", "夜间施工", "", p.y, p.x, ""],
        ["H3", "2026/10/04 09:00", "", "处理中", "纠纷", "邻里漏水", "", p.y, p.x, ""],
    ]


def write_csv(path, rows):
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def test_good_csv_imports_with_history(tmp_path, rows):
    result = hotline_import(path=write_csv(tmp_path / "h.csv", rows), mapping=MAPPING)
    assert (result.imported, result.skipped, result.by_status) == (
        3,
        0,
        {"closed": 1, "collected": 2},
    )
    h1 = Issue.objects.get(ext_ref="H1")
    assert h1.status == "closed" and h1.resolved_at == h1.closed_at
    assert (h1.resolved_at - h1.created_at).total_seconds() == 25 * 3600
    assert h1.source == "hotline" and h1.reporter_phone == "13900001111" and h1.grid is not None
    assert list(h1.events.values_list("action", flat=True)) == ["create", "route", "import"]
    h2 = Issue.objects.get(ext_ref="H2")
    # the demo has no environment department: the community takes it, and history says why
    assert h2.subcategory.code == "enforcement-noise" and h2.responsible_kind == "community"
    route = h2.events.get(action="route")
    assert reason_text(route.reason).startswith(
        "no ecology and environment department serves street"
    )


def test_bad_rows_are_named_and_nothing_is_written(tmp_path, rows):
    rows[0][1] = "yesterday"
    rows[1][4] = "外星人"
    rows[2][7] = 117.28  # lat gets the longitude
    rows.append(
        ["H4", "2026-10-05 09:00", "2026-10-01 09:00", "已办结", "物业", "x", "", 31.8, 117.2, ""]
    )
    rows.append(["H5", "2026-10-05 09:00", "", "处理中", "物业", "", "", 31.8, 117.2, ""])
    rows.append(["H6", "2026-10-05 09:00", "", "处理中", "物业", "y" * 4001, "", 31.8, 117.2, ""])
    rows.append(["H7", "2026-10-05 09:00", "", "处理中", "物业", "z", "", "", "", ""])
    before = Issue.objects.count()
    with pytest.raises(ImportFailed) as info:
        hotline_import(path=write_csv(tmp_path / "h.csv", rows), mapping=MAPPING)
    text = str(info.value)
    assert "nothing was imported" in text
    assert "row 2, created_at: 'yesterday' is not a date-time" in text
    assert "row 3, category: unknown category '外星人'" in text
    assert "row 4, lat: lat=117.28 is out of range [-90, 90]" in text
    assert "row 5, closed_at: closed 2026-10-01 09:00 before received 2026-10-05 09:00" in text
    assert "row 6, description: description is required" in text
    assert "row 7, description: description is 4001 characters" in text
    assert "row 8, lon: location is required" in text
    assert Issue.objects.count() == before

    result = hotline_import(path=tmp_path / "h.csv", mapping=MAPPING, skip_bad_rows=True)
    assert (result.imported, result.skipped, len(result.errors)) == (0, 7, 7)


def test_dry_run_writes_nothing(tmp_path, rows):
    result = hotline_import(path=write_csv(tmp_path / "h.csv", rows), mapping=MAPPING, dry_run=True)
    assert result.imported == 3 and result.dry_run
    assert not Issue.objects.filter(ext_ref__in=["H1", "H2", "H3"]).exists()
    assert not IssueEvent.objects.filter(note__contains="record H1").exists()


def test_xlsx(tmp_path, rows):
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    wb.save(tmp_path / "h.xlsx")
    result = hotline_import(path=tmp_path / "h.xlsx", mapping=MAPPING)
    assert result.imported == 3


def test_mapping_errors(tmp_path, rows):
    path = write_csv(tmp_path / "h.csv", rows)
    with pytest.raises(Exception, match="no column 'Nope'"):
        hotline_import(
            path=path, mapping={**MAPPING, "columns": {**MAPPING["columns"], "address": "Nope"}}
        )
    with pytest.raises(Exception, match="unknown fields"):
        hotline_import(path=path, mapping={"columns": {"colour": "x"}})
    cols = dict(MAPPING["columns"])
    del cols["lat"]
    with pytest.raises(Exception, match="no column for lat"):
        hotline_import(path=path, mapping={**MAPPING, "columns": cols})
    (tmp_path / "h.json").write_text("{}")
    with pytest.raises(Exception, match="use a .csv or .xlsx"):
        hotline_import(path=tmp_path / "h.json", mapping=MAPPING)
    with pytest.raises(Exception, match="no file"):
        hotline_import(path=tmp_path / "missing.csv", mapping=MAPPING)


def test_command(tmp_path, rows, capsys):
    path = write_csv(tmp_path / "h.csv", rows)
    (tmp_path / "m.json").write_text(json.dumps(MAPPING, ensure_ascii=False))
    call_command(
        "import_issues", str(path), mapping=str(tmp_path / "m.json"), dry_run=True, verbosity=0
    )
    assert "would import 3" in capsys.readouterr().out
    rows[0][4] = "外星人"
    write_csv(path, rows)
    with pytest.raises(CommandError, match="row 2, category"):
        call_command("import_issues", str(path), mapping=str(tmp_path / "m.json"), verbosity=0)
    call_command(
        "import_issues",
        str(path),
        mapping=str(tmp_path / "m.json"),
        skip_bad_rows=True,
        verbosity=0,
    )
    captured = capsys.readouterr()
    assert "imported 2, skipped 1" in captured.out and "skipped row 2, category" in captured.err
