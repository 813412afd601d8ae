"""Admin sessions kept in the database (admin_sessions): the cookie holds a random token, every
request looks up its row, and ending the row ends the session, wherever the cookie was copied.

A session ends at sign-out, when its admin's password changes, when the admin's account is
locked by failed sign-ins (admin/throttle.py), and LIFETIME after it began at the latest.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from suite_server.admin.throttle import KNOWN_FOR
from suite_server.models import AdminSession, AdminUser

LIFETIME = timedelta(hours=12)  # then sign in again, however active the session was


@dataclass(frozen=True)
class Started:
    token: str  # for the cookie; only its hash is stored
    pk: int


def start(session: Session, admin_pk: int, address: str, now: datetime) -> Started:
    """A new session row; the caller commits. Rows that ended or expired over KNOWN_FOR ago
    (kept until then: they say which addresses the admin signs in from) are dropped."""
    session.execute(
        delete(AdminSession).where(
            AdminSession.admin_pk == admin_pk, AdminSession.expires_at < now - KNOWN_FOR
        )
    )
    token = secrets.token_urlsafe(32)
    row = AdminSession(
        admin_pk=admin_pk,
        token_hash=AdminSession.hash(token),
        client_address=address[:64],
        created_at=now,
        expires_at=now + LIFETIME,
    )
    session.add(row)
    session.flush()
    return Started(token, row.id)


@dataclass(frozen=True)
class Current:
    pk: int
    admin_pk: int
    username: str
    shown_once: str | None
    locale: str | None
    timezone: str | None


def find(session: Session, token: str, now: datetime) -> Current | None:
    """The live session this token opens, or None (unknown, ended or expired)."""
    row = session.execute(
        select(
            AdminSession.id,
            AdminUser.id,
            AdminUser.username,
            AdminSession.shown_once,
            AdminUser.locale,
            AdminUser.timezone,
        )
        .join(AdminUser, AdminUser.id == AdminSession.admin_pk)
        .where(
            AdminSession.token_hash == AdminSession.hash(token),
            AdminSession.ended_at.is_(None),
            AdminSession.expires_at > now,
        )
    ).first()
    return Current(*row) if row else None


def end(session: Session, pk: int, reason: str, now: datetime) -> None:
    """End one session; the caller commits."""
    session.execute(
        update(AdminSession)
        .where(AdminSession.id == pk, AdminSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )


def end_all(session: Session, admin_pk: int, reason: str, now: datetime) -> int:
    """End every live session of an admin; returns how many. The caller commits."""
    return session.execute(
        update(AdminSession)
        .where(AdminSession.admin_pk == admin_pk, AdminSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    ).rowcount


def show_once(session: Session, pk: int, what: str) -> None:
    """Ask the next page of this session to show a secret once (see take_shown_once)."""
    session.execute(update(AdminSession).where(AdminSession.id == pk).values(shown_once=what))


def take_shown_once(session: Session, pk: int, what: str) -> bool:
    """True once after show_once(pk, what): the mark is cleared by the same statement that
    finds it, so a reload, a second tab or a copied cookie does not show the secret again."""
    taken = session.execute(
        update(AdminSession)
        .where(AdminSession.id == pk, AdminSession.shown_once == what)
        .values(shown_once=None)
    ).rowcount
    session.commit()
    return taken == 1
