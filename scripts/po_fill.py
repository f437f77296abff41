"""Fill untranslated entries of a .po file from a JSON dictionary {msgid: msgstr}.

    python scripts/po_fill.py apps/issues/locale/zh_Hans/LC_MESSAGES/django.po translations.json

Entries already translated are kept; msgids missing from the dictionary are listed (exit 1) so none is
forgotten."""

import json
import sys

import polib


def main(po_path, dict_path):
    table = json.load(open(dict_path, encoding="utf-8"))
    po = polib.pofile(po_path)
    po.metadata["Language"] = "zh_Hans"
    po.metadata["Content-Type"] = "text/plain; charset=UTF-8"
    if "fuzzy" in po.metadata_is_fuzzy:
        po.metadata_is_fuzzy = []
    missing = []
    for entry in po:
        if entry.obsolete or (entry.msgstr and "fuzzy" not in entry.flags):
            continue
        if entry.msgid in table:
            entry.msgstr = table[entry.msgid]
            if "fuzzy" in entry.flags:
                entry.flags.remove("fuzzy")
        else:
            missing.append(entry.msgid)
    po.save(po_path)
    for m in missing:
        print("untranslated:", m)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
