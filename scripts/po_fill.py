"""Fill empty msgstr entries of a .po file from a JSON dictionary {msgid: msgstr}.

    python scripts/po_fill.py apps/issues/locale/zh_Hans/LC_MESSAGES/django.po translations.json

Entries already translated are kept; msgids missing from the dictionary are listed so none is forgotten."""

import json
import re
import sys


def unquote(lines):
    return "".join(json.loads(line[line.index('"') :]) for line in lines)


def main(po_path, dict_path):
    table = json.load(open(dict_path, encoding="utf-8"))
    text = open(po_path, encoding="utf-8").read()
    blocks = text.split("\n\n")
    missing = []
    for i, block in enumerate(blocks):
        lines = block.split("\n")
        try:
            a = next(j for j, line in enumerate(lines) if line.startswith("msgid "))
            b = next(j for j, line in enumerate(lines) if line.startswith("msgstr "))
        except StopIteration:
            continue
        end = b + 1
        while end < len(lines) and lines[end].startswith('"'):
            end += 1
        msgid = unquote(lines[a:b])
        msgstr = unquote(lines[b:end])
        if not msgid or msgstr:
            continue
        if msgid in table:
            lines[b:end] = ["msgstr " + json.dumps(table[msgid], ensure_ascii=False)]
            lines = [line for line in lines if line != "#, fuzzy"]
            blocks[i] = "\n".join(lines)
        else:
            missing.append(msgid)
    out = "\n\n".join(blocks)
    out = re.sub(r'"Language: \\n"', '"Language: zh_Hans\\\\n"', out)
    open(po_path, "w", encoding="utf-8").write(out)
    for m in missing:
        print("untranslated:", m)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
