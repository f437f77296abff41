import csv
import io

import pytest
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from openpyxl import load_workbook

from apps.common.errors import DomainError
from apps.common.exports import csv_bytes, safe_cell, xlsx_bytes
from apps.common.geometry import check_geometry, parse_geometry


@pytest.mark.parametrize(
    "text", ["=1+1", "+86 138", "-2", "@SUM(A1)", "\tcmd", '=HYPERLINK("http://x")']
)
def test_formula_like_text_is_neutralised(text):
    assert safe_cell(text) == "'" + text


def test_plain_values_are_untouched():
    assert safe_cell("锦绣苑3栋") == "锦绣苑3栋" and safe_cell(-2) == -2 and safe_cell(None) is None


def test_csv_and_xlsx_never_carry_a_formula():
    rows = [["=cmd|' /C calc'!A0", 3], ["普通文本", -1]]
    text = csv_bytes(["描述", "n"], rows).decode("utf-8-sig")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[1][0] == "'=cmd|' /C calc'!A0" and parsed[2] == ["普通文本", "-1"]
    wb = load_workbook(io.BytesIO(xlsx_bytes({"问题": (["描述", "n"], rows)})))
    ws = wb["问题"]
    assert ws["A2"].value == "'=cmd|' /C calc'!A0" and ws["A2"].data_type == "s"
    assert ws["B3"].value == -1


def test_geometry_limits_name_the_problem():
    square = Polygon.from_bbox((117.0, 31.0, 117.01, 31.01))
    square.srid = 4326
    assert check_geometry(square).equals(square)
    with pytest.raises(DomainError, match="vertices; the limit is 10"):
        check_geometry(square.buffer(0.001, quadsegs=16), max_vertices=10)
    huge = Polygon.from_bbox((100.0, 20.0, 120.0, 40.0))
    huge.srid = 4326
    with pytest.raises(DomainError, match="km²; the limit is"):
        check_geometry(huge)
    with pytest.raises(DomainError, match="expected Polygon or MultiPolygon, got Point"):
        check_geometry(GEOSGeometry("SRID=4326;POINT(117 31)"))
    with pytest.raises(DomainError, match="outside longitude/latitude"):
        check_geometry(MultiPolygon(Polygon.from_bbox((170.0, 80.0, 190.0, 95.0)), srid=4326))
    with pytest.raises(DomainError, match="invalid"):
        check_geometry(GEOSGeometry("SRID=4326;POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))"))


def test_parse_geometry_reports_unreadable_input():
    with pytest.raises(DomainError, match="cannot be read"):
        parse_geometry('{"type": "Polygon", "coordinates": "nope"}')
    with pytest.raises(DomainError, match="required"):
        parse_geometry("")
    assert parse_geometry({"type": "Point", "coordinates": [117, 31]}).srid == 4326
