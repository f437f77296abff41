from django import template

register = template.Library()


@register.simple_tag
def indicator_value(cell, units, index):
    """An indicator cell {value, num, den} as text: percentages for ratios, '—' when unavailable."""
    value = cell.get("value") if isinstance(cell, dict) else None
    if value is None:
        return "—"
    unit = units[index]
    text = (
        f"{value * 100:.1f}%"
        if unit == "ratio"
        else f"{value:.2f}"
        if unit == "per1000"
        else f"{value:g}"
        if float(value).is_integer()
        else f"{value:.1f}"  # a count per something (patrols per grid), as the dashboard shows it
    )
    if cell.get("den") is not None and unit == "ratio":
        text += f" ({cell['num']}/{cell['den']})"
    return text
