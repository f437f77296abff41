"""Human labels of choice codes for use inside translated sentences."""


def choice_label(choices, value) -> str:
    """The label of `value` among `choices` (a TextChoices class) in the active language, for use
    inside a sentence: 'Neighbourhood grid' -> 'neighbourhood grid' (a Chinese label is unchanged).
    A value that is not one of the choices is shown as it is."""
    try:
        label = str(choices(value).label)
    except ValueError:
        return str(value)
    return label[:1].lower() + label[1:]


def english() -> bool:
    """Whether the active language is English (data with an English name shows it then)."""
    from django.utils.translation import get_language

    return (get_language() or "").startswith("en")


def plural_forms(message) -> dict:
    """A message's forms for a page's script to pick by count, {"one": ..., "other": ...}, in the
    active language (Chinese has one form; English's are for 1 and for any other count). `message`
    is `lambda n: ngettext(singular, plural, n)`, written out so makemessages finds the strings."""
    return {"one": message(1), "other": message(2)}
