"""Spreadsheet exports safe from formula injection (CSV/XLSX opened in Excel or WPS).

A cell whose text starts with = + - @ or a tab/carriage return is run as a formula by spreadsheet programs
(OWASP "CSV injection"). Such text is prefixed with an apostrophe, which spreadsheets show as text and
hide; numbers stay numbers."""

import csv
import io
from collections.abc import Iterable, Sequence

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    if isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """UTF-8 CSV with a BOM (so Excel opens Chinese text correctly), every cell made safe."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def xlsx_bytes(sheets: dict[str, tuple[Sequence[str], Iterable[Sequence]]]) -> bytes:
    """An .xlsx workbook {sheet title: (header, rows)}; text cells are stored as text, never formulas."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    for title, (header, rows) in sheets.items():
        ws = wb.create_sheet(title=title[:31])
        ws.append([safe_cell(h) for h in header])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append([safe_cell(v) for v in row])
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # never interpreted as a formula
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
