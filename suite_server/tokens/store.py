"""The refresh engine: serve a token row's token while it is fresh, else refresh it once.

- One refresher per token (locks.py); everyone else re-reads the row until the new token is
  there. Upstream calls per refresh: one, plus one retry after a refused app token.
- Writes are compare-and-set on the row's version: an answer that lost the race never overwrites
  a newer token, and an expiry never wipes a token stored after the one that was refused.
- A new token or an expiry is announced to every process's token cache once it is committed
  (invalidations.py), by the name of the row's owner: one PUBLISH, with Redis configured.

Every function here commits the session it is given (it polls other processes' commits), so call
it before, not in the middle of, a unit of work of your own.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from suite_server import invalidations
from suite_server.db import insert_ignoring_conflict, utcnow
from suite_server.errors import TokenUnavailable, UpstreamError
from suite_server.ops.metrics import TOKEN_REFRESH_SECONDS, TOKEN_REFRESHES
from suite_server.tokens import history, locks, policy
from suite_server.tokens.rows import Served, TokenRow, token_columns

log = logging.getLogger(__name__)

LOCK_WAIT = 10.0  # seconds a caller waits for another process's refresh before giving up (503)
WAIT_STEP = 0.05
# The `token` label of TOKEN_REFRESHES and TOKEN_REFRESH_SECONDS, by table.
_KINDS = {"app_tokens": "app", "tenant_tokens": "tenant", "jsapi_tickets": "ticket"}


def unavailable(exc: UpstreamError) -> TokenUnavailable:
    """The platform's refusal, as the TokenUnavailable a caller of the service sees."""
    message = (
        f"{exc.endpoint}: {exc.errcode if exc.errcode is not None else 'no answer'} {exc.errmsg}"
    )
    if exc.kind == "config":
        return TokenUnavailable("upstream_config", message, 502, errcode=exc.errcode)
    if exc.kind == "ticket":
        return TokenUnavailable("no_ticket", message, 503, retryable=True, errcode=exc.errcode)
    return TokenUnavailable(
        "upstream_busy" if exc.kind == "busy" else "upstream_error",
        message,
        503 if exc.kind == "busy" else 502,
        retryable=exc.kind in ("busy", "other", "token"),
        errcode=exc.errcode,
    )


Need = Callable[[TokenRow, datetime, bool], bool]  # policy.unusable, policy.refresh_due, ...
Fetch = Callable[[TokenRow], tuple[str, int, Callable[[Session], None] | None]]


def obtain(
    session: Session,
    model,
    owner: str,
    owner_pk: int,
    need: Need,
    fetch: Fetch,
    same: bool,
    known: TokenRow | None = None,
    key: dict[str, str] | None = None,
    *,
    app_id: str,
) -> Served:
    """Serve the row's token unless `need(row, now, same)`; then refresh it under the row's
    lock, or wait for whoever holds the lock. `fetch` calls upstream and returns (token,
    expires_in, extra writes for the same transaction). The row is the one whose `owner` column
    is `owner_pk` and, for tables keyed by more than their owner (a tenant's JS-SDK ticket of
    one kind), whose columns in `key` have those values. `app_id`: the registered app whose token
    this is or whose tenant's, the label of the refresh metrics."""
    table = model.__table__
    name = invalidations.name(owner, owner_pk)
    # The common case in one query (or none, given the row): a fresh token, served as it is.
    if known is None:
        known = read(session, table, _row_of(table, {owner: owner_pk, **(key or {})}))
    row = known
    if row is not None and not need(row, utcnow(), same):
        return _served(row, same, name)
    row_id = row.id if row is not None else _ensure_row(session, model, owner, owner_pk, key)
    lock = locks.lock_for(session, table, row_id)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        session.commit()  # end the read transaction: the next read sees other processes' commits
        row = read(session, table, row_id)
        if not need(row, utcnow(), same):
            return _served(row, same, name)
        if lock.acquire():
            try:
                return _refresh(session, model, row_id, need, fetch, same, app_id, name)
            finally:
                lock.release()
        session.commit()  # hold no connection while waiting
        if time.monotonic() > deadline:
            raise TokenUnavailable(
                "refresh_in_progress", "another process is refreshing this token", retryable=True
            )
        time.sleep(WAIT_STEP * random.uniform(0.5, 1.5))


def _refresh(
    session: Session,
    model,
    row_id: int,
    need: Need,
    fetch: Fetch,
    same: bool,
    app_id: str,
    name: str,
) -> Served:
    """Holding the row's lock: read it once more, and refresh it if it is still needed."""
    table = model.__table__
    session.commit()
    row = read(session, table, row_id)
    if not need(row, utcnow(), same):
        return _served(row, same, name)
    policy.wait_out(session, row.expires_at, same)
    kind = _KINDS.get(model.__tablename__, "tenant")
    try:
        started, asked = utcnow(), time.monotonic()
        access_token, expires_in, extra = fetch(row)
        if policy.still_the_old_one(row, access_token, expires_in, same):
            policy.wait_out(session, started + timedelta(seconds=expires_in), same)
            started, asked = utcnow(), time.monotonic()
            access_token, expires_in, extra = fetch(row)
    except TokenUnavailable as exc:
        TOKEN_REFRESHES.labels(kind, app_id, exc.code, str(exc.errcode or "")).inc()
        _note_failure(session, table, row_id, exc.message, exc.errcode)
        raise
    TOKEN_REFRESH_SECONDS.labels(kind, app_id).observe(time.monotonic() - asked)
    TOKEN_REFRESHES.labels(kind, app_id, "ok", "").inc()
    return _store(session, table, row, started, access_token, expires_in, extra, same, name)


def _ensure_row(session: Session, model, owner: str, owner_pk: int, key: dict | None) -> int:
    table = model.__table__
    values = {owner: owner_pk, **(key or {})}
    row_id = session.scalar(select(table.c.id).where(_row_of(table, values)))
    if row_id is None:
        insert_ignoring_conflict(session, model, {**values, "version": 0}, list(values))
        session.commit()
        row_id = session.scalar(select(table.c.id).where(_row_of(table, values)))
    return row_id


def _row_of(table, values: dict):
    """The condition naming the row whose columns have `values`."""
    return and_(*(table.c[name] == value for name, value in values.items()))


def read(session: Session, table, which) -> TokenRow | None:
    """The row with id `which`, or the one matching the condition `which`."""
    condition = table.c.id == which if isinstance(which, int) else which
    found = session.execute(select(*token_columns(table)).where(condition)).first()
    return TokenRow(*found) if found is not None else None


def _served(row: TokenRow, same: bool, name: str) -> Served:
    until = policy.usable_until(row.obtained_at, row.expires_at, same)
    return Served(row.access_token, row.expires_at, row.version, until, name)


def _store(
    session, table, row: TokenRow, started, access_token, expires_in, extra, same: bool, name: str
) -> Served:
    """Compare-and-set the new token, with `extra` writes, in one transaction."""
    expires_at = started + timedelta(seconds=expires_in)
    refresh_at = policy.next_refresh(same, started, expires_at)
    written = session.execute(
        update(table)
        .where(table.c.id == row.id, table.c.version == row.version)
        .values(
            version=row.version + 1,
            access_token=access_token,
            obtained_at=started,
            expires_at=expires_at,
            refresh_at=refresh_at,
            last_error=None,
            last_error_at=None,
        )
    ).rowcount
    if extra is not None:
        extra(session)  # a returned refresh token is kept even if a newer access token won
    history.record(session, table, row.id)  # a refresh that worked, even if its answer lost
    if written:
        invalidations.after_commit(session, name)
    session.commit()
    if not written:
        log.info(
            "%s %s: a newer token was stored meanwhile; this answer is dropped", table.name, row.id
        )
        return _served(read(session, table, row.id), same, name)
    until = policy.usable_until(started, expires_at, same)
    return Served(access_token, expires_at, row.version + 1, until, name)


def expire(
    session: Session, table, condition, version: int, name: str, error: str | None = None
) -> bool:
    """The platform refused the token of version `version` of the row matching `condition`
    (whose owner's change is announced as `name`): mark it expired so the next caller refreshes
    it. Compare-and-set on the version, so a token another process stored meanwhile is kept.
    Commits; returns whether the row was expired."""
    now = utcnow()
    values = {"expires_at": now, "refresh_at": now}
    if error is not None:
        values["last_error"] = error[:500]
    written = session.execute(
        update(table).where(condition, table.c.version == version).values(**values)
    ).rowcount
    if written:
        invalidations.after_commit(session, name)
    session.commit()
    return bool(written)


def _note_failure(session: Session, table, row_id: int, message: str, errcode: int | None) -> None:
    session.rollback()
    session.execute(
        update(table)
        .where(table.c.id == row_id)
        .values(last_error=message[:500], last_error_at=utcnow())
    )
    history.record(session, table, row_id, message, errcode)
    session.commit()
