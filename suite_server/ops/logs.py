"""Logging: readable text by default, one JSON object per line with LOG_FORMAT=json; each line
carries the request id (from X-Request-Id or made up, echoed in the answer) and, where known, the
app, the tenant and the job.

What the code logs never holds a secret, a token or a ciphertext: upstream/http.py masks query
strings and tokens, and the callback path logs ids and kinds only (tests/ops/test_logs.py checks a
whole integration run for every secret it created).

What is logged often comes from outside (a URL path, a tenant's name, a platform's errmsg), so
the text format escapes control characters: a `%0a` in a path cannot forge a line, an escape
code cannot reach the operator's terminal. Each record is one line starting with its time; a
traceback's lines follow it indented. `printable` does the same for what the CLI prints.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import traceback
from datetime import UTC, datetime

from flask import Flask, Response, g, request

from suite_server.ops import access_log

CONTEXT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "log_context", default=None
)
FIELDS = ("request_id", "app_id", "tenant_id", "job")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s %(message)s"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MARK = "_suite_server_handler"


def _record_factory(factory):
    """Every log record gets the current request's / job's ids as attributes, whichever
    handler (ours, pytest's, a library's) formats it."""

    def make(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        context = CONTEXT.get() or {}
        for name in FIELDS:
            setattr(record, name, context.get(name))
        record.context = "".join(f" {k}={context[k]}" for k in FIELDS if context.get(k))
        return record

    make.suite_server = True
    return make


def _install_record_factory() -> None:
    current = logging.getLogRecordFactory()
    if not getattr(current, "suite_server", False):
        logging.setLogRecordFactory(_record_factory(current))


# C0 and C1 controls (newline, carriage return, ESC, CSI, ...), DEL, the Unicode line and paragraph
# separators and the bidirectional overrides (which reorder what a terminal shows).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def printable(text: object) -> str:
    """`text` on one line with no control character: each one written as its escape (\\n,
    \\x1b, \\u202e)."""
    return _UNPRINTABLE.sub(_escape, str(text))


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT with what it interpolates escaped, so a record is one line; a traceback
    follows on indented lines, its own control characters (but its newlines) escaped too."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        # Not logging.Formatter.format: it reuses record.exc_text, which whichever handler
        # formatted the record first (pytest's, a library's) may have left unescaped.
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        text = printable(self.formatMessage(record))
        if record.exc_info:
            text += "\n" + _indented("".join(traceback.format_exception(*record.exc_info)))
        elif record.exc_text:
            text += "\n" + _indented(record.exc_text)
        if record.stack_info:
            text += "\n" + _indented(record.stack_info)
        return text


def _indented(text: str) -> str:
    return "\n".join("    " + printable(line) for line in text.rstrip("\n").split("\n"))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: getattr(record, k, None) for k in FIELDS if getattr(record, k, None)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(app: Flask) -> None:
    """Install our handler on the root logger (once per process; a later call updates it)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, _MARK, False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        setattr(handler, _MARK, True)
        root.addHandler(handler)
    if app.config["LOG_FORMAT"] == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root.setLevel(app.config["LOG_LEVEL"])


def bind(**fields: object) -> None:
    """Add `app_id` / `tenant_id` to the context of the current request or job, for every line it
    logs from now on. The request or job puts its own context back when it ends."""
    context = dict(CONTEXT.get() or {})
    context.update({k: str(v)[:64] for k, v in fields.items() if k in FIELDS and v})
    CONTEXT.set(context)


def init_app(app: Flask) -> None:
    """Request ids and the app / tenant of each request, for every log line it causes."""
    _install_record_factory()
    access_log.install()  # no install auth_code in the servers' access log lines

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
        args = request.view_args or {}
        context = {
            "request_id": g.request_id,
            "app_id": args.get("app_id") or args.get("suite_id") or args.get("appid"),
            "tenant_id": args.get("tenant_id") or args.get("authorizer_appid"),
        }
        g.log_token = CONTEXT.set({k: str(v)[:64] for k, v in context.items() if v})

    @app.after_request
    def _finish(response: Response) -> Response:
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        return response

    @app.teardown_request
    def _reset(_exc: BaseException | None) -> None:
        token = g.pop("log_token", None)
        if token is not None:
            CONTEXT.reset(token)
