"""Guards for every request, whatever blueprint serves it: input no URL or form of ours can
take (NUL characters) is refused before any view runs, and a database that is away is answered with
a plain 503 the caller may retry, never a 500 and a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)

RETRY_AFTER = "5"  # seconds; the platforms retry a push on their own schedule anyway
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul)
    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(PoolTimeout, database_unavailable)


def refuse_nul() -> Response | None:
    """400 for a NUL character in the path, the query or a form field. None of our ids, codes or
    names can hold one, and PostgreSQL refuses it in any text value: without this guard
    `/callback/ww%00/command`, `done?state=%00` or a form field with %00 reached a query and
    failed with a 500. Run before any view, so every URL is covered, present and future. The
    callback URLs read their body as raw XML whatever its Content-Type says, and check it
    themselves (callbacks/receive.py): parsing it as a form here would consume it. So does the
    gateway's proxy (api/proxy.py), which passes a body on to the platform untouched and stores
    none of it.

    Read from the WSGI environ, where the path is decoded already and a query's NUL can only be
    `%00` (or a raw NUL): a few string searches on every push."""
    environ = request.environ
    path, query = environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")
    if "\x00" in path or "%00" in query or "\x00" in query:
        return _refused()
    if (
        environ.get("CONTENT_TYPE")
        and not path.startswith("/callback/")
        and not _proxied(path)
        and request.mimetype in FORM_TYPES
        and _has_nul(request.form)
    ):
        return _refused()
    return None


def _proxied(path: str) -> bool:
    """/api/v1/.../proxy/<platform path>: a body for the platform, sent on as it came."""
    return path.startswith("/api/") and "/proxy/" in path


def _has_nul(values) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in values.items(multi=True))


def _refused() -> Response:
    if _under_api():
        return _json_error(400, "bad_request", "NUL characters are not accepted")
    return Response(
        "NUL characters are not accepted", 400, content_type="text/plain; charset=utf-8"
    )


def database_unavailable(exc: Exception) -> Response:
    """503 in plain text (JSON under /api/), with Retry-After: the database refused or dropped
    the connection, or the pool had none to give. One log line, no traceback: the cause is the
    database's, and the pool replaces the dead connections (db.py) once it is back."""
    cause = getattr(exc, "orig", None) or exc
    first_line = (str(cause).strip().splitlines() or [""])[0][:300]
    log.error(
        "database unavailable: %s %s answered 503 (%s: %s)",
        request.method,
        request.path,
        type(cause).__name__,
        first_line,
    )
    message = "database unavailable, try again later"
    if _under_api():
        response = _json_error(503, "database_unavailable", message)
    else:
        response = Response(message, 503, content_type="text/plain; charset=utf-8")
    response.headers["Retry-After"] = RETRY_AFTER
    return response


def _under_api() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def _json_error(status: int, code: str, message: str) -> Response:
    # The token API's error shape (contract.md "Token API").
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    return response
