"""The token service: app tokens (suite_access_token, component_access_token) and tenant tokens
(WeCom corp access_token, Open authorizer_access_token), served while fresh and refreshed once.

- A token is served only while at least TOKEN_MIN_REMAINING seconds remain, capped at half its
  lifetime (`margin`). Background jobs refresh it earlier, at its `refresh_at`: a random point in
  the last quarter of its useful life (at most 30 minutes), so tokens obtained together spread out.
- Except on WeCom, which hands back the token it already issued until that one expires
  (wecom-suite.md §4 "Token semantics"): asking earlier costs a call and returns the same token.
  A WeCom token is served down to its last LAST_SECONDS, and refreshed once, just after it
  expires; callers in between wait for that refresh.
- One refresher per token (locks.py); everyone else re-reads the row until the new token is
  there. Upstream calls per refresh: one, plus one retry after a refused app token.
- Writes are compare-and-set on the row's version: an answer that lost the race never overwrites
  a newer token. The Open refresh token returned with a new access token is stored in the same
  transaction; the one used stays as `previous_credential` until the new one has been used once.
- A dead Open refresh token (61023) is recovered from the previous one, api_get_authorizer_info
  and api_get_authorizer_list (open-platform.md §4.6, §4.7) before the tenant is given up as
  `needs_reauth`; a dead WeCom permanent code (40084) or a revoked authorization is given up at
  once. Busy answers and timeouts leave the tenant alone: the job retries with backoff.

Every function here commits the session it is given (it polls other processes' commits), so call
it before, not in the middle of, a unit of work of your own.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from suite_server import db
from suite_server.apps import as_utc, tickets_overdue
from suite_server.db import insert_ignoring_conflict, utcnow
from suite_server.errors import UpstreamError
from suite_server.jobs import runner
from suite_server.jobs.tasks import task
from suite_server.models import App, AppToken, Tenant, TenantHistory, TenantToken, Ticket
from suite_server.ops import logs
from suite_server.ops.metrics import TOKEN_REFRESHES
from suite_server.tokens import locks
from suite_server.upstream import api_for

log = logging.getLogger(__name__)

LOCK_WAIT = 10.0  # seconds a caller waits for another process's refresh before giving up (503)
WAIT_STEP = 0.05
STALE_DEBOUNCE = timedelta(seconds=10)  # a token this fresh is not refreshed again on request
AHEAD_SHARE, AHEAD_CAP = 0.25, 1800.0  # background refresh window: share of lifetime, capped
TICKET_LIFETIME = {"wecom": timedelta(minutes=30), "open": timedelta(hours=12)}
TICKET_KEEP = timedelta(days=2)
TICKET_REQUEST_EVERY = timedelta(minutes=10)  # api_start_push_ticket at most this often
SWEEP_EVERY = 60  # seconds: the schedule's period for tokens.sweep
SWEEP_AHEAD = 3 * SWEEP_EVERY  # refreshes are scheduled this far ahead: a late sweep is harmless
SWEEP_BATCH = 20_000
JOB_RETRIES = 5
SAME_UNTIL_EXPIRY = frozenset({"wecom"})  # platforms whose token stays the same until it expires
LAST_SECONDS = 5  # such a token is served while this many seconds remain
AFTER_EXPIRY = 1.0  # and asked for again this long after our copy expires (which rounds down)


class TokenUnavailable(Exception):
    """No token can be served now. `code` is for API clients; `retryable` says whether trying
    again later may help (busy platform, no ticket yet) or a person must act."""

    def __init__(
        self,
        code: str,
        message: str,
        http_status: int = 503,
        *,
        retryable: bool = False,
        errcode: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.http_status = code, message, http_status
        self.retryable, self.errcode = retryable, errcode


@dataclass(frozen=True)
class Served:
    access_token: str = field(repr=False)
    expires_at: datetime
    version: int = 0
    # The last moment it may be served without a refresh (see _usable_until); None: not known.
    usable_until: datetime | None = None

    def expires_in(self, now: datetime | None = None) -> int:
        return max(0, int((self.expires_at - (now or utcnow())).total_seconds()))


# -- timing ------------------------------------------------------------------------------------


def margin(lifetime: float, min_remaining: float) -> float:
    """Seconds that must remain for a token to be served (contract.md TOKEN_MIN_REMAINING)."""
    return min(min_remaining, lifetime / 2)


def refresh_time(obtained_at: datetime, expires_at: datetime, min_remaining: int) -> datetime:
    """When the background refresh is due: before the serving margin, at a random point of the
    last AHEAD_SHARE of the token's useful life."""
    lifetime = (expires_at - obtained_at).total_seconds()
    useful = lifetime - margin(lifetime, min_remaining)
    ahead = min(useful * AHEAD_SHARE, AHEAD_CAP)
    return obtained_at + timedelta(seconds=useful - random.uniform(0, ahead))


# -- serving -----------------------------------------------------------------------------------


def app_token(session: Session, app: App, api=None) -> str:
    """The app's token for upstream calls, refreshed when needed (raises TokenUnavailable)."""
    return serve_app_token(session, app, api).access_token


def serve_app_token(session: Session, app: App, api=None, *, due: bool = False) -> Served:
    api = api or api_for(app.platform, current_app.config)
    return _obtain(
        session, AppToken, "app_pk", app.id, _refresh_due if due else _unusable,
        lambda row: _fetch_app(session, app, api), app.platform in SAME_UNTIL_EXPIRY,
    )  # fmt: skip


def serve_tenant_token(
    session: Session, tenant: Tenant, *, due: bool = False, known: TokenRow | None = None
) -> Served:
    """The tenant's token; `due` also refreshes one whose background refresh time has come.
    `known`: its token row, read by the caller in this request (saves the first query)."""
    return _tenant_token(session, tenant, _refresh_due if due else _unusable, known)


def refresh_tenant_token(session: Session, tenant: Tenant, stale_token: str | None) -> Served:
    """A caller saw 40001/42001 with `stale_token`: refresh only if it is still the current
    token, else hand back the current one. Many such callers cause one upstream refresh."""

    def need(row, now, same) -> bool:
        if _unusable(row, now, same) or not stale_token:
            return True
        # WeCom hands back the same token while it is valid, so "still the stale one" is also
        # true right after a refresh: one obtained in the last few seconds is the answer.
        return row.access_token == stale_token and row.obtained_at < now - STALE_DEBOUNCE

    return _tenant_token(session, tenant, need)


# -- the refresh -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    """What serving reads of a token row (app_tokens or tenant_tokens): token_columns()."""

    id: int
    access_token: str | None
    obtained_at: datetime | None
    expires_at: datetime | None
    refresh_at: datetime | None
    version: int


def _unusable(row: TokenRow, now: datetime, same: bool) -> bool:
    """No token to serve now."""
    if not row.access_token or row.obtained_at is None or row.expires_at is None:
        return True
    return now > _usable_until(row.obtained_at, row.expires_at, same)


def _usable_until(obtained_at: datetime, expires_at: datetime, same: bool) -> datetime:
    """The last moment a token may be served: while TOKEN_MIN_REMAINING remains (capped at half
    its lifetime), or, when `same` (its platform hands back the current token until it expires,
    SAME_UNTIL_EXPIRY), to its last LAST_SECONDS."""
    if same:
        return expires_at - timedelta(seconds=LAST_SECONDS)
    lifetime = (expires_at - obtained_at).total_seconds()
    keep = margin(lifetime, current_app.config["TOKEN_MIN_REMAINING"])
    return expires_at - timedelta(seconds=keep)


def _served(row: TokenRow, same: bool) -> Served:
    until = _usable_until(row.obtained_at, row.expires_at, same)
    return Served(row.access_token, row.expires_at, row.version, until)


def _refresh_due(row: TokenRow, now: datetime, same: bool) -> bool:
    return _unusable(row, now, same) or row.refresh_at is None or row.refresh_at <= now


def _refresh_at(same: bool, obtained_at: datetime, expires_at: datetime) -> datetime:
    """When the background refresh is due: refresh_time, or just after expiry on WeCom."""
    if same:
        return expires_at + timedelta(seconds=AFTER_EXPIRY)
    return refresh_time(obtained_at, expires_at, current_app.config["TOKEN_MIN_REMAINING"])


def _wait_out(session: Session, expires_at: datetime | None, same: bool) -> None:
    """On WeCom, a token in its last seconds is only renewed once it has expired: sleep until
    then (holding no connection) rather than spend a call on getting the same token back. A
    token refused earlier, with more time left, is asked about at once."""
    if not same or expires_at is None:
        return
    pause = (expires_at - utcnow()).total_seconds() + AFTER_EXPIRY
    if 0 < pause <= LAST_SECONDS + AFTER_EXPIRY:
        session.commit()
        time.sleep(pause)


def _still_the_old_one(row: TokenRow, access_token: str, expires_in: int, same: bool) -> bool:
    """WeCom answered with the token we had, in its last seconds: the platform's clock is a
    little behind ours (our copy's expiry rounds its answer down), so ask once more after it."""
    return same and access_token == row.access_token and expires_in < LAST_SECONDS


Fetch = Callable[[TokenRow], tuple[str, int, Callable[[Session], None] | None]]


def _obtain(
    session: Session,
    model,
    owner: str,
    owner_pk: int,
    need,
    fetch: Fetch,
    same: bool,
    known: TokenRow | None = None,
) -> Served:
    """Serve the row's token unless `need(row, now, same)`; then refresh it under the row's
    lock, or wait for whoever holds the lock. `fetch` calls upstream and returns (token,
    expires_in, extra writes for the same transaction)."""
    table = model.__table__
    # The common case in one query (or none, given the row): a fresh token, served as it is.
    row = known if known is not None else _read(session, table, table.c[owner] == owner_pk)
    if row is not None and not need(row, utcnow(), same):
        return _served(row, same)
    row_id = row.id if row is not None else _ensure_row(session, model, owner, owner_pk)
    lock = locks.lock_for(session, table, row_id)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        session.commit()  # end the read transaction: the next read sees other processes' commits
        row = _read(session, table, row_id)
        if not need(row, utcnow(), same):
            return _served(row, same)
        if lock.acquire():
            try:
                session.commit()
                row = _read(session, table, row_id)
                if not need(row, utcnow(), same):
                    return _served(row, same)
                _wait_out(session, row.expires_at, same)
                kind = "app" if model is AppToken else "tenant"
                try:
                    started = utcnow()
                    access_token, expires_in, extra = fetch(row)
                    if _still_the_old_one(row, access_token, expires_in, same):
                        _wait_out(session, started + timedelta(seconds=expires_in), same)
                        started = utcnow()
                        access_token, expires_in, extra = fetch(row)
                except TokenUnavailable as exc:
                    TOKEN_REFRESHES.labels(kind, exc.code, str(exc.errcode or "")).inc()
                    _note_failure(session, table, row_id, exc.message)
                    raise
                TOKEN_REFRESHES.labels(kind, "ok", "").inc()
                return _store(session, table, row, started, access_token, expires_in, extra, same)
            finally:
                lock.release()
        session.commit()  # hold no connection while waiting
        if time.monotonic() > deadline:
            raise TokenUnavailable(
                "refresh_in_progress", "another process is refreshing this token", retryable=True
            )
        time.sleep(WAIT_STEP * random.uniform(0.5, 1.5))


def _ensure_row(session: Session, model, owner: str, owner_pk: int) -> int:
    table = model.__table__
    row_id = session.scalar(select(table.c.id).where(table.c[owner] == owner_pk))
    if row_id is None:
        insert_ignoring_conflict(session, model, {owner: owner_pk, "version": 0}, [owner])
        session.commit()
        row_id = session.scalar(select(table.c.id).where(table.c[owner] == owner_pk))
    return row_id


def token_columns(table) -> tuple:
    """The columns of a TokenRow, in its order."""
    return (
        table.c.id, table.c.access_token, table.c.obtained_at, table.c.expires_at,
        table.c.refresh_at, table.c.version,
    )  # fmt: skip


def _read(session: Session, table, which) -> TokenRow | None:
    """The row with id `which`, or the one matching the condition `which`."""
    condition = table.c.id == which if isinstance(which, int) else which
    found = session.execute(select(*token_columns(table)).where(condition)).first()
    return TokenRow(*found) if found is not None else None


def _store(
    session, table, row: TokenRow, started, access_token, expires_in, extra, same: bool
) -> Served:
    """Compare-and-set the new token, with `extra` writes, in one transaction."""
    expires_at = started + timedelta(seconds=expires_in)
    refresh_at = _refresh_at(same, started, expires_at)
    written = session.execute(
        update(table)
        .where(table.c.id == row.id, table.c.version == row.version)
        .values(
            version=row.version + 1, access_token=access_token, obtained_at=started,
            expires_at=expires_at, refresh_at=refresh_at, last_error=None, last_error_at=None,
        )
    ).rowcount  # fmt: skip
    if extra is not None:
        extra(session)  # a returned refresh token is kept even if a newer access token won
    session.commit()
    if not written:
        log.info(
            "%s %s: a newer token was stored meanwhile; this answer is dropped", table.name, row.id
        )
        return _served(_read(session, table, row.id), same)
    until = _usable_until(started, expires_at, same)
    return Served(access_token, expires_at, row.version + 1, until)


def _note_failure(session: Session, table, row_id: int, message: str) -> None:
    session.rollback()
    session.execute(
        update(table)
        .where(table.c.id == row_id)
        .values(last_error=message[:500], last_error_at=utcnow())
    )
    session.commit()


def _unavailable(exc: UpstreamError) -> TokenUnavailable:
    message = (
        f"{exc.endpoint}: {exc.errcode if exc.errcode is not None else 'no answer'} {exc.errmsg}"
    )
    if exc.kind == "config":
        return TokenUnavailable("upstream_config", message, 502, errcode=exc.errcode)
    if exc.kind == "ticket":
        return TokenUnavailable("no_ticket", message, 503, retryable=True, errcode=exc.errcode)
    return TokenUnavailable(
        "upstream_busy" if exc.kind == "busy" else "upstream_error", message,
        503 if exc.kind == "busy" else 502, retryable=exc.kind in ("busy", "other", "token"),
        errcode=exc.errcode,
    )  # fmt: skip


# -- app tokens --------------------------------------------------------------------------------


def _fetch_app(session: Session, app: App, api):
    """suite_access_token from the newest ticket, else the previous unexpired one (a ticket the
    platform refuses: 40085 / 61005 / 61006); no ticket at all: ask the Open Platform to push."""
    tickets = session.scalars(
        select(Ticket.value)
        .where(Ticket.app_pk == app.id, Ticket.pushed_at > utcnow() - TICKET_LIFETIME[app.platform])
        .order_by(Ticket.pushed_at.desc())
        .limit(2)
    ).all()
    refused = None
    for ticket in tickets:
        try:
            if app.platform == "wecom":
                token = api.get_suite_token(app.app_id, app.secret, ticket)
            else:
                token = api.component_token(app.app_id, app.secret, ticket)
        except UpstreamError as exc:
            if exc.kind != "ticket":
                raise _unavailable(exc) from None
            refused = exc
            log.warning("app %s: ticket refused (%s), trying an older one", app.app_id, exc.errcode)
            continue
        return token.access_token, token.expires_in, None
    _ask_for_tickets(session, app, api)
    if refused is not None:
        raise _unavailable(refused)
    raise TokenUnavailable("no_ticket", "no unexpired ticket received yet", retryable=True)


def _ask_for_tickets(session: Session, app: App, api) -> None:
    """Open: api_start_push_ticket, at most every TICKET_REQUEST_EVERY across all processes."""
    if app.platform != "open":
        return
    now = utcnow()
    claimed = session.execute(
        update(App.__table__)
        .where(
            App.id == app.id,
            or_(
                App.ticket_push_requested_at.is_(None),
                App.ticket_push_requested_at < now - TICKET_REQUEST_EVERY,
            ),
        )
        .values(ticket_push_requested_at=now)
    ).rowcount
    session.commit()
    if not claimed:
        return
    try:
        api.start_push_ticket(app.app_id, app.secret)
        # What we did about it; the job that found no ticket logs the WARNING (one line).
        log.info("app %s: no usable ticket; asked the platform to resume pushing", app.app_id)
    except UpstreamError as exc:
        log.warning("app %s: api_start_push_ticket failed: %s", app.app_id, exc)


def _with_app_token(session: Session, app: App, api, call: Callable[[str], Any]) -> Any:
    """Run `call(app_token)`; on a refused app token (40001, 42009, ...) refresh it once (only
    if it is still the one that failed) and run it once more."""
    served = serve_app_token(session, app, api)
    try:
        return call(served.access_token)
    except UpstreamError as exc:
        if exc.kind != "token":
            raise
        log.info("app %s: app token refused (%s); refreshing it once", app.app_id, exc.errcode)
    session.execute(
        update(AppToken.__table__)
        .where(AppToken.app_pk == app.id, AppToken.version == served.version)
        .values(expires_at=utcnow(), refresh_at=utcnow())
    )
    session.commit()
    return call(serve_app_token(session, app, api).access_token)


# -- tenant tokens -----------------------------------------------------------------------------


def _tenant_token(session: Session, tenant: Tenant, need, known: TokenRow | None = None) -> Served:
    if tenant.status != "active":
        raise TokenUnavailable(
            f"tenant_{tenant.status}",
            f"tenant is {tenant.status}"
            + (f": {tenant.status_reason}" if tenant.status_reason else ""),
            409,
        )
    app = session.get(App, tenant.app_pk)
    api = api_for(app.platform, current_app.config)
    fetch = _fetch_corp_token if app.platform == "wecom" else _fetch_authorizer_token
    return _obtain(
        session, TenantToken, "tenant_pk", tenant.id, need,
        lambda row: fetch(session, app, tenant.id, api), app.platform in SAME_UNTIL_EXPIRY, known,
    )  # fmt: skip


def _credentials(session: Session, tenant_pk: int):
    """The tenant's credential columns as committed now (another process may have changed them)."""
    return session.execute(
        select(
            Tenant.tenant_id, Tenant.status, Tenant.credential, Tenant.previous_credential,
            Tenant.credential_version,
        ).where(Tenant.id == tenant_pk)
    ).one()  # fmt: skip


def _fetch_corp_token(session: Session, app: App, tenant_pk: int, api):
    current = _credentials(session, tenant_pk)
    if current.status != "active" or not current.credential:
        raise TokenUnavailable(f"tenant_{current.status}", "tenant is not active", 409)
    try:
        token = _with_app_token(
            session, app, api,
            lambda suite: api.get_corp_token(suite, current.tenant_id, current.credential),
        )  # fmt: skip
    except UpstreamError as exc:
        if exc.kind in ("credential", "revoked"):
            raise _give_up(session, tenant_pk, exc) from None
        raise _unavailable(exc) from None
    return token.access_token, token.expires_in, None


def _fetch_authorizer_token(session: Session, app: App, tenant_pk: int, api):
    current = _credentials(session, tenant_pk)
    if current.status != "active" or not current.credential:
        raise TokenUnavailable(f"tenant_{current.status}", "tenant is not active", 409)
    tried: list[str] = []
    dead: UpstreamError | None = None
    try:
        for candidate in _refresh_tokens(session, app, api, current):
            if not candidate or candidate in tried:
                continue
            tried.append(candidate)
            try:
                answer = _with_app_token(
                    session, app, api,
                    lambda component_token, rt=candidate: api.authorizer_token(
                        component_token, app.app_id, current.tenant_id, rt
                    ),
                )  # fmt: skip
            except UpstreamError as exc:
                if exc.kind != "credential":
                    raise
                dead = exc  # 61023: try the next candidate
                continue
            extra = _keep_refresh_token(
                tenant_pk, current, used=candidate, new=answer.refresh_token
            )
            return answer.access_token, answer.expires_in, extra
    except UpstreamError as exc:
        if exc.kind == "revoked":
            raise _give_up(session, tenant_pk, exc) from None
        raise _unavailable(exc) from None
    raise _give_up(session, tenant_pk, dead)


def _refresh_tokens(session: Session, app: App, api, current):
    """Refresh tokens to try, best first: ours, the previous one, then what the platform holds
    (only asked for when the ones before have failed)."""
    yield current.credential
    yield current.previous_credential
    log.warning(
        "tenant %s: refresh token refused; recovering it from the platform", current.tenant_id
    )
    info = _with_app_token(
        session, app, api,
        lambda token: api.get_authorizer_info(token, app.app_id, current.tenant_id),
    )  # fmt: skip
    yield (info.get("authorization_info") or {}).get("authorizer_refresh_token")
    offset = 0
    while True:
        page = _with_app_token(
            session, app, api,
            lambda token, at=offset: api.get_authorizer_list(token, app.app_id, at, 500),
        )  # fmt: skip
        for item in page.get("list") or []:
            if item.get("authorizer_appid") == current.tenant_id:
                yield item.get("refresh_token")
                return
        offset += 500
        if offset >= int(page.get("total_count") or 0):
            return


def _keep_refresh_token(tenant_pk: int, current, *, used: str, new: str):
    """The extra writes of an Open refresh: `new` becomes the credential and `used` stays as the
    previous one until the new one has been used once. Compare-and-set on credential_version,
    so a re-authorization that happened meanwhile is never overwritten."""
    previous = used if new != used else None
    if (new, previous) == (current.credential, current.previous_credential):
        return None

    def write(session: Session) -> None:
        changed = session.execute(
            update(Tenant.__table__)
            .where(Tenant.id == tenant_pk, Tenant.credential_version == current.credential_version)
            .values(
                credential=new, previous_credential=previous,
                credential_version=current.credential_version + 1,
            )
        ).rowcount  # fmt: skip
        if changed and used != current.credential:
            session.add(
                TenantHistory(
                    tenant_pk=tenant_pk, action="credential_recovered", source="token",
                    detail={"reason": "the stored refresh token was refused (61023)"},
                )
            )  # fmt: skip

    return write


def _give_up(session: Session, tenant_pk: int, exc: UpstreamError) -> TokenUnavailable:
    """The credential is dead: the tenant needs a new authorization. Its token is dropped and
    its refreshes stop; the reason shows in the tenant's status and history."""
    reason = f"{exc.endpoint}: {exc.errcode} {exc.errmsg}"[:500]
    session.rollback()
    changed = session.execute(
        update(Tenant.__table__)
        .where(Tenant.id == tenant_pk, Tenant.status == "active")
        .values(status="needs_reauth", status_reason=reason)
    ).rowcount
    if changed:
        session.execute(delete(TenantToken.__table__).where(TenantToken.tenant_pk == tenant_pk))
        session.add(
            TenantHistory(
                tenant_pk=tenant_pk,
                action="needs_reauth",
                source="token",
                detail={"reason": reason},
            )
        )
    session.commit()
    log.warning("tenant %s needs a new authorization: %s", tenant_pk, reason)
    return TokenUnavailable("tenant_needs_reauth", reason, 409, errcode=exc.errcode)


def store_first_token(session: Session, tenant: Tenant, token: tuple[str, int] | None) -> None:
    """The token an authorization came with (or an empty row the sweep fills); the caller
    commits, with the tenant."""
    row = session.scalar(select(TenantToken).where(TenantToken.tenant_pk == tenant.id))
    if row is None:
        row = TenantToken(tenant_pk=tenant.id, version=0)
        session.add(row)
    if token is None:
        return
    now = utcnow()
    row.access_token = token[0]
    row.obtained_at, row.expires_at = now, now + timedelta(seconds=token[1])
    platform = session.get(App, tenant.app_pk).platform
    row.refresh_at = _refresh_at(platform in SAME_UNTIL_EXPIRY, now, row.expires_at)
    row.last_error = row.last_error_at = None
    row.version += 1


# -- background refresh ------------------------------------------------------------------------


@task("tokens.refresh_app")
def refresh_app(app_pk: int) -> None:
    session = db.session()
    app = session.get(App, app_pk)
    if app is None:
        return
    logs.bind(app_id=app.app_id)
    try:
        serve_app_token(session, app, due=True)
    except TokenUnavailable as exc:
        if exc.retryable:
            raise  # no ticket yet, a busy platform: the runner says so in one line, and retries
        log.warning("app %s: app token not refreshed: %s", app.app_id, exc.message)


@task("tokens.refresh_tenant")
def refresh_tenant(tenant_pk: int) -> None:
    session = db.session()
    tenant = session.get(Tenant, tenant_pk)
    if tenant is None or tenant.status != "active":
        return  # cancelled or given up meanwhile: no more refreshes
    logs.bind(tenant_id=tenant.tenant_id)
    try:
        serve_tenant_token(session, tenant, due=True)
    except TokenUnavailable as exc:
        if exc.retryable:
            raise  # the runner says so in one line, and retries
        log.warning("tenant %s: token not refreshed: %s", tenant.tenant_id, exc.message)


@task("tokens.sweep")
def sweep() -> dict[str, int]:
    """Enqueue a refresh for every token whose refresh time falls in the next SWEEP_AHEAD
    seconds, delayed to that time (a job already waiting is not enqueued twice); watch tickets.
    Returns counts. On the default queue, so a backlog of low jobs never holds it up."""
    session = db.session()
    now = utcnow()
    horizon = now + timedelta(seconds=SWEEP_AHEAD)
    counts = {"apps": 0, "tenants": 0, "stale_tickets": 0}
    newest = {
        app_pk: as_utc(received_at)
        for app_pk, received_at in session.execute(
            select(Ticket.app_pk, func.max(Ticket.received_at)).group_by(Ticket.app_pk)
        )
    }
    # Tickets live 30 minutes (WeCom) or 12 hours (Open); two days of them is plenty.
    session.execute(delete(Ticket.__table__).where(Ticket.pushed_at < now - TICKET_KEEP))
    session.commit()
    for app_pk, app_id, platform, registered_at, refresh_at in session.execute(
        select(App.id, App.app_id, App.platform, App.created_at, AppToken.refresh_at).outerjoin(
            AppToken, AppToken.app_pk == App.id
        )
    ).all():
        if tickets_overdue(newest.get(app_pk), registered_at, now):
            counts["stale_tickets"] += 1
            log.warning("app %s: no ticket received for 20 minutes or more", app_id)
        if newest.get(app_pk) is None and platform == "wecom":
            continue  # nothing to refresh with until WeCom pushes a ticket (Open: we ask it)
        if refresh_at is None or refresh_at <= horizon:
            _enqueue("tokens.refresh_app", app_pk, f"app-token:{app_pk}", refresh_at, now)
            counts["apps"] += 1
    due = session.execute(
        select(TenantToken.tenant_pk, TenantToken.refresh_at)
        .join(Tenant, Tenant.id == TenantToken.tenant_pk)
        .where(
            Tenant.status == "active",
            or_(TenantToken.refresh_at.is_(None), TenantToken.refresh_at <= horizon),
        )
        .order_by(TenantToken.refresh_at)
        .limit(SWEEP_BATCH)
    ).all()
    session.rollback()
    for tenant_pk, refresh_at in due:
        _enqueue("tokens.refresh_tenant", tenant_pk, f"tenant-token:{tenant_pk}", refresh_at, now)
    counts["tenants"] = len(due)
    return counts


def _enqueue(name: str, pk: int, job_id: str, refresh_at: datetime | None, now: datetime) -> None:
    # Due now or later within this sweep's period: the job waits until its own refresh time, so
    # the refreshes of a minute spread over that minute. The app token is refreshed by the first
    # tenant job that needs it, under its lock, if its own job has not run yet.
    delay = max(0.0, (refresh_at - now).total_seconds()) if refresh_at else 0.0
    runner.enqueue(name, pk, delay=delay, job_id=job_id, retries=JOB_RETRIES)
