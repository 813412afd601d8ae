"""App tokens (WeCom suite_access_token, Open component_access_token): obtained with the newest
ticket the platform pushed, an older one when it refuses that, and on the Open Platform asking
it to push again when there is none (api_start_push_ticket). The WeCom provider account's
provider_access_token is kept the same way, in its app row, and needs no ticket."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from suite_server import invalidations
from suite_server.db import utcnow
from suite_server.errors import TokenUnavailable, UpstreamError
from suite_server.models import App, AppToken, Ticket
from suite_server.tokens import policy, store
from suite_server.tokens.rows import Served
from suite_server.tokens.store import unavailable
from suite_server.upstream import api_for

log = logging.getLogger(__name__)

TICKET_LIFETIME = {"wecom": timedelta(minutes=30), "open": timedelta(hours=12)}
TICKET_REQUEST_EVERY = timedelta(minutes=10)  # api_start_push_ticket at most this often


def app_token(session: Session, app: App, api=None) -> str:
    """The app's token for upstream calls, refreshed when needed (raises TokenUnavailable)."""
    return serve_app_token(session, app, api).access_token


def serve_app_token(session: Session, app: App, api=None, *, due: bool = False) -> Served:
    """The app's token; `due` also refreshes one whose background refresh time has come."""
    return _app_token(session, app, api, policy.refresh_due if due else policy.unusable)


def refresh_app_token(session: Session, app: App, stale_token: str | None) -> Served:
    """A caller saw its app (or provider) token refused with `stale_token`: refresh only if it is
    still the current token, else hand back the current one. Many such callers, one refresh."""
    return _app_token(session, app, None, policy.stale(stale_token))


def _app_token(session: Session, app: App, api, need) -> Served:
    api = api or api_for(app.platform, current_app.config)
    return store.obtain(
        session,
        AppToken,
        "app_pk",
        app.id,
        need,
        lambda row: _fetch_app(session, app, api),
        app.platform in policy.SAME_UNTIL_EXPIRY,
        app_id=app.app_id,
    )


def expire_app_token(session: Session, app: App, refused: str, error: str | None = None) -> bool:
    """The platform refused the app token `refused`: expire it so the next caller gets a new
    one, but only while it is still the stored token (a newer one another process stored
    meanwhile is kept). Commits; returns whether it was expired."""
    table = AppToken.__table__
    row = store.read(session, table, table.c.app_pk == app.id)
    if row is None or row.access_token != refused:
        session.commit()
        return False
    name = invalidations.name("app", app.id)
    return store.expire(session, table, table.c.id == row.id, row.version, name, error)


def with_app_token(session: Session, app: App, api, call: Callable[[str], Any]) -> Any:
    """Run `call(app_token)`; on a refused app token (40001, 42009, ...) refresh it once (only
    if it is still the one that failed) and run it once more."""
    served = serve_app_token(session, app, api)
    session.commit()  # hold no connection while the platform answers
    try:
        return call(served.access_token)
    except UpstreamError as exc:
        if exc.kind != "token":
            raise
        log.info("app %s: app token refused (%s); refreshing it once", app.app_id, exc.errcode)
    table = AppToken.__table__
    store.expire(
        session, table, table.c.app_pk == app.id, served.version, invalidations.name("app", app.id)
    )
    return call(serve_app_token(session, app, api).access_token)


def _fetch_app(session: Session, app: App, api):
    """suite_access_token from the newest ticket, else the previous unexpired one (a ticket the
    platform refuses: 40085 / 61005 / 61006); no ticket at all: ask the Open Platform to push.
    A provider token needs only the provider's secret."""
    if app.is_provider:
        try:
            token = api.get_provider_token(app.app_id, app.secret)
        except UpstreamError as exc:
            raise unavailable(exc) from None
        return token.access_token, token.expires_in, None
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
                raise unavailable(exc) from None
            refused = exc
            log.warning("app %s: ticket refused (%s), trying an older one", app.app_id, exc.errcode)
            continue
        return token.access_token, token.expires_in, None
    _ask_for_tickets(session, app, api)
    if refused is not None:
        raise unavailable(refused)
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
