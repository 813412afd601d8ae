"""Keeps the admin's Chinese catalog in step with the code: `python -m suite_server.admin.catalog`
extracts every marked string (`_()`, `gettext`, `ngettext`, `lazy_gettext` in Python; `_()` and
`{% trans %}` in templates) from the product's code, adds the new ones to messages.po, drops the
ones no longer used, and compiles messages.mo. `--check` changes nothing and fails when a string
has no translation or the .mo is older than the .po (tests/admin/test_catalog.py runs it).

Fill the new `msgstr ""` entries of messages.po with their Chinese and run it again."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

PACKAGE = Path(__file__).resolve().parents[1]  # suite_server/
PO = Path(__file__).parent / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
# The simulator is the platforms' side, in their words; the demo prints to a terminal.
SKIPPED = ("sandbox", "demo")
METHODS = [
    ("sandbox/**", "ignore"),
    ("demo/**", "ignore"),
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2.ext:babel_extract"),
]
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
# Fixed, so that compiling the same .po always gives the same .mo (--check compares them).
DATED = datetime(2026, 1, 1, tzinfo=UTC)
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}


def extract() -> Catalog:
    template = Catalog(project="suite-server", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        PACKAGE, METHODS, OPTIONS, KEYWORDS, comment_tags=("Translators:",)
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def read() -> Catalog:
    if PO.exists():
        with PO.open("rb") as f:
            catalog = read_po(f, locale="zh")
    else:
        catalog = Catalog(locale="zh", project="suite-server", fuzzy=False)
    catalog.creation_date = catalog.revision_date = DATED
    return catalog


def untranslated(catalog: Catalog) -> list[str]:
    return [
        str(m.id)
        for m in catalog
        if m.id and (m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string))
    ]


def compiled(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def update() -> Catalog:
    catalog = read()
    catalog.update(extract(), no_fuzzy_matching=True)
    catalog.obsolete.clear()
    PO.parent.mkdir(parents=True, exist_ok=True)
    with PO.open("wb") as f:
        write_po(f, catalog, width=100, omit_header=True, sort_output=True, include_lineno=False)
    MO.write_bytes(compiled(read()))
    return catalog


def problems() -> list[str]:
    """What --check reports: strings in the code missing from the catalog or untranslated, and a
    stale .mo."""
    catalog, found = read(), []
    missing = [
        str(m.id) for m in extract() if m.id and catalog.get(m.id, context=m.context) is None
    ]
    found += [f"not in messages.po: {text!r}" for text in missing]
    found += [f"no translation: {text!r}" for text in untranslated(catalog)]
    if not MO.exists() or MO.read_bytes() != compiled(catalog):
        found.append("messages.mo is not compiled from messages.po")
    return found


def main(argv: list[str]) -> int:
    if "--check" in argv:
        found = problems()
        for line in found:
            print(line)
        return 1 if found else 0
    catalog = update()
    missing = untranslated(catalog)
    print(f"{PO}: {len(catalog)} strings, {len(missing)} without a translation")
    for text in missing:
        print(f"  {text!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
