"""The indicators dashboard as a PDF: the printable page's content (apps/analytics/templates/analytics/
print.html) drawn with reportlab, from the same data as the .xlsx export (`indicators.dashboard`, via
`api._indicators`, so the scope rules are the same).

Chinese text uses reportlab's built-in CID font STSong-Light (Adobe-GB1): no font file is shipped or
downloaded, and PDF readers supply the glyphs. Values are formatted as on the printable page
(`analytics_tags.indicator_value`: ratios as % with numerator/denominator)."""

import io
from xml.sax.saxutils import escape

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.analytics.templatetags.analytics_tags import indicator_value

FONT = "STSong-Light"
# Series colours of the rate chart (ratios), in indicator order; enough for every ratio indicator.
PALETTE = [
    "#b91c1c",
    "#1d4ed8",
    "#15803d",
    "#a16207",
    "#7e22ce",
    "#0e7490",
    "#be185d",
    "#4d7c0f",
    "#475569",
]
SEP = " | "
AREAS_PER_TABLE = 6  # area columns per "latest month" table before it continues below


def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def printable(data: dict) -> dict:
    """The printable page's tables from `indicators.dashboard` data: indicator labels and units, trend
    rows [month, cell...] and community rows [name, households, cell...] (cells are {value, num, den})."""
    keys = [i["key"] for i in data["indicators"]]
    return {
        "labels": [i["label"] for i in data["indicators"]],
        "units": [i["unit"] for i in data["indicators"]],
        "rows": [[r["month"]] + [r[k] for k in keys] for r in data["trend"]],
        "children": [[c["name"], c["households"]] + [c[k] for k in keys] for c in data["children"]],
    }


def _fit(texts, width: float, *, size: float, smallest: float = 5.0) -> float:
    """The largest font size ≤ `size` at which every text fits `width` points (at least `smallest`)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    widest = max((stringWidth(t, FONT, 1) for t in texts), default=0)
    if widest == 0:
        return size
    return max(smallest, min(size, width / widest))


def _table(cells, widths, *, size: float, header_rows: int = 1, first_col_header: bool = True):
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    table = Table(cells, colWidths=widths, repeatRows=header_rows, hAlign="LEFT")
    style = [
        ("FONTNAME", (0, 0), (-1, -1), FONT),
        ("FONTSIZE", (0, 0), (-1, -1), size),
        ("LEADING", (0, 0), (-1, -1), size * 1.25),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#cbd2d9")),
        ("BACKGROUND", (0, 0), (-1, header_rows - 1), colors.HexColor("#f1f5f9")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (1, header_rows), (-1, -1), "RIGHT"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if first_col_header:
        style.append(("BACKGROUND", (0, header_rows), (0, -1), colors.HexColor("#f8fafc")))
    table.setStyle(TableStyle(style))
    return table


def _rate_chart(data: dict, width: float):
    """Ratio indicators in % by month (lines), or None when none has a value."""
    from reportlab.graphics.charts.legends import Legend
    from reportlab.graphics.charts.linecharts import HorizontalLineChart
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors

    ratios = [i for i in data["indicators"] if i["unit"] == "ratio" and i["available"]]
    series, names = [], []
    for ind in ratios:
        values = [
            None if r[ind["key"]]["value"] is None else r[ind["key"]]["value"] * 100
            for r in data["trend"]
        ]
        if any(v is not None for v in values):
            series.append(values)
            names.append(ind["label"])
    if not series:
        return None
    height, legend_w = 190, 210
    d = Drawing(width, height)
    d.add(String(0, height - 12, _("Rates") + " (%)", fontName=FONT, fontSize=10))
    chart = HorizontalLineChart()
    chart.x, chart.y = 30, 30
    chart.width, chart.height = width - legend_w - 50, height - 60
    chart.data = series
    chart.categoryAxis.categoryNames = [r["month"] for r in data["trend"]]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 6.5
    chart.categoryAxis.labels.angle = 30 if len(data["trend"]) > 8 else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if len(data["trend"]) > 8 else "n"
    chart.valueAxis.valueMin, chart.valueAxis.valueMax, chart.valueAxis.valueStep = 0, 100, 20
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.joinedLines = 1
    for n in range(len(series)):
        color = colors.HexColor(PALETTE[n % len(PALETTE)])
        chart.lines[n].strokeColor = color
        chart.lines[n].strokeWidth = 1.2
    d.add(chart)
    legend = Legend()
    legend.x, legend.y = width - legend_w + 10, height - 30
    legend.fontName, legend.fontSize = FONT, 7
    legend.alignment = "right"
    legend.columnMaximum = 10
    legend.dx, legend.dy, legend.deltay = 8, 8, 11
    legend.colorNamePairs = [
        (colors.HexColor(PALETTE[n % len(PALETTE)]), name) for n, name in enumerate(names)
    ]
    d.add(legend)
    return d


def _complaints_chart(data: dict, width: float):
    """Complaints per 1,000 households by month (bars), or None when there is no value."""
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors

    values = [r["complaints_per_1000"]["value"] for r in data["trend"]]
    if all(v is None for v in values):
        return None
    height = 150
    d = Drawing(width, height)
    d.add(String(0, height - 12, _("Complaints per 1,000 households"), fontName=FONT, fontSize=10))
    chart = VerticalBarChart()
    chart.x, chart.y = 30, 30
    chart.width, chart.height = width - 260, height - 60
    chart.data = [[v or 0 for v in values]]
    chart.bars[0].fillColor = colors.HexColor("#b91c1c")
    chart.categoryAxis.categoryNames = [r["month"] for r in data["trend"]]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 6.5
    chart.categoryAxis.labels.angle = 30 if len(values) > 8 else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if len(values) > 8 else "n"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    d.add(chart)
    return d


def dashboard_pdf(data: dict, *, street: dict | None = None, generated=None) -> bytes:
    """The PDF of `indicators.dashboard` data (A4 landscape): title, street/community, period, each
    indicator's value per area for the last month, the monthly values, charts, notes. `street` is
    {"code", "name"} of a community's street (shown in the header)."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    font = _font()
    generated = timezone.localtime(generated or timezone.now())
    area = data["area"]
    tables = printable(data)
    labels, units = tables["labels"], tables["units"]
    page_w, page_h = landscape(A4)
    margin = 12 * mm
    width = page_w - 2 * margin

    title_style = ParagraphStyle("title", fontName=font, fontSize=16, leading=20, spaceAfter=4)
    h2 = ParagraphStyle(
        "h2", fontName=font, fontSize=11.5, leading=15, spaceBefore=8, spaceAfter=4, keepWithNext=1
    )
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=12)
    hint = ParagraphStyle("hint", parent=body, fontSize=8, textColor="#52606d")
    head = ParagraphStyle("head", fontName=font, fontSize=7, leading=8.5, wordWrap="CJK")

    def p(text, style=body):
        return Paragraph(escape(str(text)), style)

    title = f"{area['name']} {_('indicators')}"
    trend = data["trend"]
    n_months = len(trend)
    # ASCII separators: the CID font's Latin-1 punctuation (·, –) is not drawn by every reader
    period = f"{trend[0]['month']} ~ {trend[-1]['month']}" if n_months > 1 else trend[0]["month"]
    level = _("Street") if area["level"] == "street" else _("Community")
    where = [f"{level}: {area['name']} ({area['code']})"]
    if street:
        where.insert(0, f"{_('Street')}: {street['name']} ({street['code']})")
    story = [
        p(title, title_style),
        p(SEP.join(where)),
        p(
            f"{_('Period')}: {period} ("
            + ngettext("%(n)s month", "%(n)s months", n_months) % {"n": n_months}
            + f"){SEP}{_('Households')} {area['households']}{SEP}"
            f"{_('Generated')} {generated:%Y-%m-%d %H:%M}"
        ),
    ]

    # Each indicator's value per area in the last month: the area itself, then its communities.
    latest = data["latest"]
    areas = [(area["name"], area["households"], [latest[i["key"]] for i in data["indicators"]])]
    areas += [(c[0], c[1], c[2:]) for c in tables["children"]]
    story.append(p(f"{_('Indicators')} ({data['month']})", h2))
    label_w = 190
    for start in range(0, len(areas), AREAS_PER_TABLE):
        chunk = areas[start : start + AREAS_PER_TABLE]
        col_w = (width - label_w) / max(len(chunk), 2)
        cells = [[p(_("Indicator"), head)] + [p(name, head) for name, _hh, _v in chunk]]
        cells.append([p(_("Households"), head)] + [str(hh) for _name, hh, _v in chunk])
        for n, label in enumerate(labels):
            cells.append(
                [p(label, head)]
                + [indicator_value(values[n], units, n) for _name, _hh, values in chunk]
            )
        size = _fit([str(c) for row in cells[1:] for c in row[1:]], col_w - 7, size=9)
        story.append(_table(cells, [label_w] + [col_w] * len(chunk), size=size))
        story.append(Spacer(1, 4))

    # The monthly values, as on the printable page: a row per month, a column per indicator.
    story.append(p(_("Monthly values"), h2))
    month_w = 44
    col_w = (width - month_w) / len(labels)
    cells = [[p(_("Month"), head)] + [p(label, head) for label in labels]]
    for row in tables["rows"]:
        cells.append([row[0]] + [indicator_value(c, units, n) for n, c in enumerate(row[1:])])
    size = _fit([c for row in cells[1:] for c in row[1:]], col_w - 7, size=7.5)
    story.append(_table(cells, [month_w] + [col_w] * len(labels), size=size))

    charts = [c for c in (_rate_chart(data, width), _complaints_chart(data, width)) if c]
    if charts:
        story.append(p(_("Monthly trend"), h2))
        for chart in charts:
            story += [chart, Spacer(1, 6)]

    for note in data["notes"]:
        story.append(p(note, hint))
    story.append(p(_("Formulas: docs/ANALYTICS.md."), hint))

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(font, 7.5)
        canvas.setFillColorRGB(0.32, 0.38, 0.43)
        canvas.drawString(margin, margin / 2, f"{title}{SEP}{period}")
        canvas.drawRightString(
            page_w - margin, margin / 2, _("Page %(n)s") % {"n": canvas.getPageNumber()}
        )
        canvas.restoreState()

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=(page_w, page_h),
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
        title=f"{title} {period}",
        author="Linli",
        subject=_("Indicators"),
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()
