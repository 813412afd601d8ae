"""What a process says when it cannot go on because of something the operator can fix: one line,
never a traceback. `suite-server` prints it as `Error: <reason>` and exits 1; `wsgi.py` prints it
before refusing to serve. Anything else is a bug and keeps its traceback."""

from __future__ import annotations

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from suite_server.errors import SettingsError, UndecryptableSecret


def one_line(exc: BaseException) -> str | None:
    """The reason to show for `exc`, or None when it is not an operator's error."""
    if isinstance(exc, SettingsError | UndecryptableSecret):
        return _first_line(exc)
    if isinstance(exc, SQLAlchemyError):
        # The driver's own message says what is wrong (refused, no such database, bad password);
        # SQLAlchemy's wrapper adds the statement and a link over several lines.
        return "database: " + _first_line(getattr(exc, "orig", None) or exc)
    if isinstance(exc, RedisError):
        return "redis: " + _first_line(exc)
    return None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
