"""Getting a usable app token: the cached one while enough of it remains, else a fresh one from
the newest ticket. Writes are compare-and-set on the row's version, so a slow older answer never
overwrites a newer token."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from suite_server.db import insert_ignoring_conflict, utcnow
from suite_server.errors import UpstreamError
from suite_server.models import App, AppToken, Ticket


def usable(expires_at: datetime | None, lifetime: float, min_remaining: int, now: datetime) -> bool:
    """A token is served only while at least `min_remaining` seconds remain, capped at half its
    lifetime so short-lived tokens are still served (contract.md TOKEN_MIN_REMAINING)."""
    if expires_at is None:
        return False
    margin = min(min_remaining, lifetime / 2)
    return (expires_at - now).total_seconds() >= margin


def app_token(session: Session, app: App, api, min_remaining: int) -> str:
    """The app's suite_access_token / component_access_token, refreshed when needed."""
    now = utcnow()
    row = session.scalar(select(AppToken).where(AppToken.app_pk == app.id))
    if row and row.access_token and row.obtained_at:
        lifetime = (row.expires_at - row.obtained_at).total_seconds()
        if usable(row.expires_at, lifetime, min_remaining, now):
            return row.access_token
    ticket = newest_ticket(session, app)
    if ticket is None:
        # wecom-suite.md §6.2 / open-platform.md §7.1: no ticket yet, the platform has not pushed.
        raise UpstreamError("app_token", None, "no ticket received yet", "ticket")
    if app.platform == "wecom":
        token = api.get_suite_token(app.app_id, app.secret, ticket)
    else:
        token = api.component_token(app.app_id, app.secret, ticket)
    store_app_token(
        session, app, token.access_token, token.expires_in, row.version if row else None
    )
    return token.access_token


def store_app_token(
    session: Session, app: App, access_token: str, expires_in: int, seen_version: int | None
) -> None:
    """Write the token if the row is still at `seen_version` (None: no row yet); commits."""
    now = utcnow()
    values = {
        "access_token": access_token,
        "obtained_at": now,
        "expires_at": now + timedelta(seconds=expires_in),
        "last_error": None,
    }
    if seen_version is None:
        if insert_ignoring_conflict(
            session, AppToken, {"app_pk": app.id, "version": 1, **values}, ["app_pk"]
        ):
            session.commit()
            return
        seen_version = 0  # another process inserted first: fall through to compare-and-set
    session.execute(
        update(AppToken.__table__)
        .where(AppToken.app_pk == app.id, AppToken.version == seen_version)
        .values(version=AppToken.version + 1, **values)
    )
    session.commit()


def newest_ticket(session: Session, app: App) -> str | None:
    return session.scalar(
        select(Ticket.value)
        .where(Ticket.app_pk == app.id)
        .order_by(Ticket.pushed_at.desc())
        .limit(1)
    )
