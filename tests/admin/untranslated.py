"""Finds the English left on a page rendered in Chinese: every visible text and every label a
person reads (title, placeholder, aria-label, alt, a button's value), outside what the page marks
as data (`translate="no"`, the HTML standard's way of saying "not to be translated") and outside
<code>, <pre>, <script>, <style> and <textarea>.

A word of Latin letters is English unless it is an identifier (has a digit, `_`, `.`, `/`, `:`,
`@` or `-` in it) or one of the names the consoles themselves leave in English (ALLOWED)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

ALLOWED = {
    # Formats, protocols and products named as they are in Chinese too.
    "API", "URL", "JSON", "XML", "ID", "UTC", "HTTP", "HTTPS", "IP", "SDK", "JS", "OAuth",
    "AES", "SHA", "RQ", "Redis", "PostgreSQL", "SQLite", "Prometheus", "CSV", "SVG", "CSRF",
    "GET", "POST", "Webhook", "Webhooks", "HMAC", "KB", "MB", "GB",
    # The consoles' own field names (WeCom's 服务商后台, the Open Platform's 管理中心).
    "Token", "EncodingAESKey", "Secret", "CorpID", "AppID", "AppSecret", "SuiteID", "AgentId",
}  # fmt: skip
SKIPPED_TAGS = {"code", "pre", "script", "style", "textarea"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
             "source", "track", "wbr"}  # fmt: skip
READ_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_./:@\-]*")


def english_words(text: str) -> list[str]:
    return [
        word
        for word in _WORD.findall(text)
        if word.isalpha() and len(word) > 1 and word not in ALLOWED
    ]


class _Finder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, bool]] = []  # (tag, inside something skipped)
        self.found: list[str] = []

    @property
    def skipping(self) -> bool:
        return bool(self.open) and self.open[-1][1]

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        skipped = self.skipping or tag in SKIPPED_TAGS or values.get("translate") == "no"
        if not skipped:
            read = [values.get(name) for name in READ_ATTRIBUTES]
            if tag == "input" and values.get("type") in ("submit", "button"):
                read.append(values.get("value"))
            for text in filter(None, read):
                if english_words(text):
                    self.found.append(f"<{tag}> attribute: {text.strip()!r}")
        if tag not in VOID_TAGS:
            self.open.append((tag, skipped))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.open.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i][0] == tag:
                del self.open[i:]
                return

    def handle_data(self, data):
        if not self.skipping and english_words(data):
            self.found.append(" ".join(data.split()))


def untranslated(html: str) -> list[str]:
    """The English a reader of this page in Chinese would meet."""
    finder = _Finder()
    finder.feed(html)
    finder.close()
    return finder.found
