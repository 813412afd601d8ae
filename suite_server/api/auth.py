"""Who may call the token API: bearer API keys, remembered per process for a few seconds.

A key's scope: the apps it may use (`app_ids`, checked on every request by routes.py), and the
platform API paths it may call through the gateway's proxy (`path_prefixes`, checked by
api/proxy.py: a key with prefixes may proxy only paths starting with one of them; a key without
may proxy any). Token endpoints are not limited by path prefixes. Both refusals are audited
(`record_refusal`).

A key is looked up by its SHA-256 (accounts.find_api_key) and then remembered by that hash for
CACHE_SECONDS, with its scope (the apps it may use), so a request with a known key costs no query
and the scope is checked on every request from what was remembered. The price: a revoked key
keeps working for up to CACHE_SECONDS (5 s) in a process that saw it just before; after that it
is refused everywhere. Unknown keys are never remembered, so a new key works at once.

`last_used_at` is written at most once every LAST_USED_EVERY seconds per key and process, by an
UPDATE that only changes a value older than that: a write per request would cost a large share of
the throughput, and the column only needs to say "still in use" (minute precision).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from suite_server import audit
from suite_server.accounts import find_api_key
from suite_server.cache import Cache
from suite_server.db import utcnow
from suite_server.models import ApiKey

log = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
LAST_USED_EVERY = 60.0
MAX_KEY_LENGTH = 200  # ours are 47 characters; anything much longer is not one of ours

_known = Cache("suite_server.api_keys")  # API key hash -> Caller, for CACHE_SECONDS


@dataclass(frozen=True)
class Caller:
    """An API key as a request sees it: who, and what it may reach."""

    key_id: int
    name: str
    app_ids: frozenset[str] | None  # None: every app
    path_prefixes: tuple[str, ...]  # proxy paths it may call ("/cgi-bin/message/"); () any

    def may_use(self, app_id: str) -> bool:
        return self.app_ids is None or app_id in self.app_ids

    def may_call(self, path: str) -> bool:
        """Whether the key may proxy the platform path `path` ("/cgi-bin/user/get")."""
        return not self.path_prefixes or path.startswith(self.path_prefixes)


def authenticate(session: Callable[[], Session], key: str) -> Caller | None:
    """The active API key `key` with its scope, or None. `session()` gives the session for a
    lookup or a write, and is not called when the key is remembered; it is committed when a use
    is recorded."""
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    digest = ApiKey.hash(key)
    now = time.monotonic()
    caller = _known.get(digest, now)
    if caller is None:
        row = find_api_key(session(), key)
        if row is None:
            _known.forget(digest)
            return None
        caller = Caller(
            row.id,
            row.name,
            frozenset(row.app_ids) if row.app_ids else None,
            tuple(row.path_prefixes or ()),
        )
        _known.put(digest, caller, now + CACHE_SECONDS)
    _record_use(session, caller.key_id, now)
    return caller


def _record_use(session: Callable[[], Session], key_id: int, now: float) -> None:
    # A plain dict shared by the process's threads: a race costs at most one extra write.
    written: dict[int, float] = current_app.extensions.setdefault("suite_server.api_key_use", {})
    last = written.get(key_id)
    if last is not None and now - last < LAST_USED_EVERY:
        return
    written[key_id] = now
    at = utcnow()
    table = ApiKey.__table__
    session = session()
    try:
        session.execute(
            update(table)
            .where(
                table.c.id == key_id,
                or_(
                    table.c.last_used_at.is_(None),
                    table.c.last_used_at < at - timedelta(seconds=LAST_USED_EVERY),
                ),
            )
            .values(last_used_at=at)
        )
        session.commit()
    except SQLAlchemyError as exc:
        # Bookkeeping only: a busy database must not cost the caller its token.
        session.rollback()
        log.warning("API key %s: last_used_at not recorded (%s)", key_id, type(exc).__name__)


def record_refusal(
    session: Session,
    caller: Caller,
    app_id: str,
    method: str,
    path: str,
    reason: str = "app outside the key's scope",
) -> None:
    """A key used outside its scope (an app, or a proxy path outside its prefixes): a warning
    in the log and an entry in the audit log (the admin's "Audit log" page, actor
    `apikey:<name>`), so a misused or leaked key shows. The refusal stands even when the entry
    cannot be written."""
    # A URL may carry anything, a NUL included, which PostgreSQL refuses in text.
    app_id, path = app_id[:64].replace("\x00", "\\0"), path[:200].replace("\x00", "\\0")
    log.warning("api key %s refused on app %s: %s", caller.name, app_id, reason)
    try:
        audit.record(
            session,
            f"apikey:{caller.name}"[:100],
            "api.refused",
            f"app:{app_id}",
            {"method": method, "path": path, "reason": reason},
        )
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        log.warning("api key %s: refusal not audited (%s)", caller.name, type(exc).__name__)
