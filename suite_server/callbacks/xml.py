"""Hardened XML for callbacks: no DTD, no entities, no external references, flat <xml> only."""

from __future__ import annotations

from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from suite_server.errors import BadCallback


def parse(data: bytes | str) -> dict[str, str]:
    """The children of the <xml> root as {tag: text}; nested elements (ExtAttr, Item...) give
    their own text only, and the whole document is kept by the caller. BadCallback(400) for
    anything that is not such a document."""
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise BadCallback(400, f"malformed XML: {exc.__class__.__name__}") from None
    if root.tag != "xml":
        raise BadCallback(400, "malformed XML: the root element must be <xml>")
    fields: dict[str, str] = {}
    for child in root:
        if isinstance(child.tag, str):  # skip comments and processing instructions
            fields.setdefault(child.tag, child.text or "")
    return fields


def whole_number(value: str, max_digits: int = 20) -> int | None:
    """A field's (or query parameter's) value as a whole number, or None. ASCII digits only:
    str.isdigit() also accepts "²", which int() refuses, and other scripts' digits, which int()
    reads as numbers the platforms never send."""
    if not (0 < len(value) <= max_digits and value.isascii() and value.isdigit()):
        return None
    return int(value)
