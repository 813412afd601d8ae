"""The audit log: record an admin action in the caller's transaction, and list the log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from suite_server.admin.pages import Page, cut
from suite_server.models import AuditEntry

PAGE_SIZE = 50


def record(
    session: Session,
    actor: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an entry; the caller commits (with the change it describes, where there is one)."""
    session.add(AuditEntry(actor=actor, action=action, target=target[:200], detail=detail))


def last(session: Session, action: str, target: str) -> AuditEntry | None:
    """The newest entry of this action on this target."""
    return session.scalar(
        select(AuditEntry)
        .where(AuditEntry.target == target, AuditEntry.action == action)
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )


def page(
    session: Session,
    *,
    actor: str | None = None,
    target: str | None = None,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """Entries newest first, keyset-paginated on id."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if target:
        query = query.where(AuditEntry.target == target)
    if before:
        query = query.where(AuditEntry.id < before)
    return cut(session.scalars(query).all(), limit, lambda entry: entry.id)
