"""The audit log: record an action (the admin UI's, the token API's refusals) in the caller's
transaction, and read the latest of one. The admin UI lists it (admin/audit.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from suite_server.models import AuditEntry


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
