"""Hardened XML for pushes: no DTD, no entities, no external references, flat <xml> only; and
CDATA sections for the XML we write."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError, indent, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from suite_server.errors import MalformedXml

_REFUSED = (ParseError, DefusedXmlException, ValueError)


def _tree(data: bytes | str) -> Element:
    """The document's root element; raises one of _REFUSED for anything we do not read."""
    return fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)


def parse(data: bytes | str) -> dict[str, str]:
    """The children of the <xml> root as {tag: text}; nested elements (ExtAttr, Item...) give
    their own text only, and the whole document is kept by the caller. MalformedXml for
    anything that is not such a document."""
    try:
        root = _tree(data)
    except _REFUSED as exc:
        raise MalformedXml(exc.__class__.__name__) from None
    if root.tag != "xml":
        raise MalformedXml("the root element must be <xml>")
    fields: dict[str, str] = {}
    for child in root:
        if isinstance(child.tag, str):  # skip comments and processing instructions
            fields.setdefault(child.tag, child.text or "")
    return fields


def items(data: bytes | str, tag: str) -> list[dict[str, str]]:
    """Each <tag> child of the root as {child tag: text}, in order: the repeated groups of a push
    (auto_activate's AccountList). MalformedXml as parse()."""
    try:
        root = _tree(data)
    except _REFUSED as exc:
        raise MalformedXml(exc.__class__.__name__) from None
    return [
        {child.tag: child.text or "" for child in item if isinstance(child.tag, str)}
        for item in root.findall(tag)
    ]


def pretty(payload: str) -> str:
    """The payload indented for reading; as given when it does not parse."""
    try:
        root = _tree(payload)
    except _REFUSED:
        return payload
    indent(root, space="  ")
    return tostring(root, encoding="unicode")


def cdata(text: object) -> str:
    """`str(text)` as a CDATA section. A "]]>" inside would end the section early (a nonce from the
    query string, a handler's reply): it is split across two sections."""
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def whole_number(value: str, max_digits: int = 20) -> int | None:
    """A field's (or query parameter's) value as a whole number, or None. ASCII digits only:
    str.isdigit() also accepts "²", which int() refuses, and other scripts' digits, which int()
    reads as numbers the platforms never send."""
    if not (0 < len(value) <= max_digits and value.isascii() and value.isdigit()):
        return None
    return int(value)
