"""The Chinese catalogues are complete: every message marked for translation in an app has a
Simplified Chinese translation that is not fuzzy, and the placeholders of each match."""

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

CATALOGUES = sorted(ROOT.glob("apps/*/locale/zh_Hans/LC_MESSAGES/django.po"))


def test_every_app_with_messages_has_a_catalogue():
    assert len(CATALOGUES) >= 9


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.parts[-5])
def test_catalogue_is_complete(po: Path):
    # --check-format: a translation must use the same %(name)s / {name} placeholders as its msgid
    out = subprocess.run(
        ["msgfmt", "--check-format", "--statistics", "-o", "/dev/null", str(po)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    stats = out.stderr.strip()
    assert "untranslated" not in stats and "fuzzy" not in stats, f"{po}: {stats}"


def test_commands_speak_english_while_the_product_default_is_chinese(tmp_path):
    """A command runs untranslated (no_translations): its CommandError is in English, as the rest of
    its output is, though the same error from the API is in Chinese."""
    from django.core.management import CommandError, call_command
    from django.utils import translation

    missing = tmp_path / "missing.geojson"
    with translation.override("zh-hans"):
        with pytest.raises(CommandError, match="^file not found: "):
            call_command("import_buildings", str(missing))
        assert translation.get_language() == "zh-hans"  # (restored after the command)


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.parts[-5])
def test_catalogue_holds_every_message_of_the_code(po: Path, tmp_path):
    """makemessages, run on a copy of the app, finds no message the catalogue does not translate (a
    new `_()` without its Chinese would show English on a Chinese page)."""
    import shutil
    import sys

    app = po.parents[3]
    copy = tmp_path / app.name
    shutil.copytree(app, copy, ignore=shutil.ignore_patterns("*.mo", "__pycache__", "static"))
    out = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "makemessages", "-l", "zh_Hans", "--no-obsolete"],
        cwd=copy,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    merged = copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
    stats = subprocess.run(
        ["msgfmt", "--statistics", "-o", "/dev/null", str(merged)], capture_output=True, text=True
    ).stderr.strip()
    assert "untranslated" not in stats and "fuzzy" not in stats, f"{app.name}: {stats}"


def _entries(po: Path):
    """(context, msgid) -> msgstr of a catalogue, from msgcat's normalised output (one entry per
    block, each string on one line)."""
    text = subprocess.run(
        ["msgcat", "--no-wrap", "--no-location", str(po)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    out = {}
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            for key in ("msgctxt", "msgid", "msgstr"):
                if line.startswith(key + " "):
                    fields[key] = line[len(key) + 1 :]
        if fields.get("msgid", '""') != '""':
            out[(fields.get("msgctxt"), fields["msgid"])] = fields.get("msgstr")
    return out


def test_no_message_is_translated_two_ways():
    """Django merges the apps' catalogues into one, so a msgid two apps translate differently shows
    one app's words in the other (the patrol phone once read "起始日期" for "since", from people).
    Where the meanings differ, the msgid needs a context (pgettext)."""
    seen: dict = {}
    clashes = []
    for po in CATALOGUES:
        app = po.parts[-5]
        for key, msgstr in _entries(po).items():
            if key in seen and seen[key][1] != msgstr:
                clashes.append(f"{key}: {seen[key][0]} {seen[key][1]} / {app} {msgstr}")
            seen.setdefault(key, (app, msgstr))
    assert clashes == []


def test_counts_in_page_scripts_have_their_plural_forms():
    """The planner read "1 errors, 0 warnings" and the phone "1 issues reported": pages get both
    forms and pick by count (apps.common.labels.plural_forms)."""
    from django.utils import translation
    from django.utils.translation import ngettext

    from apps.common.labels import plural_forms

    def message(n):
        return ngettext("%(n)s issue reported", "%(n)s issues reported", n)

    with translation.override("en"):
        assert plural_forms(message) == {
            "one": "%(n)s issue reported",
            "other": "%(n)s issues reported",
        }
    with translation.override("zh-hans"):
        assert plural_forms(message) == {
            "one": "已上报 %(n)s 个问题",
            "other": "已上报 %(n)s 个问题",
        }
