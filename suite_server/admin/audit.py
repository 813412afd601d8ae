"""The audit log as the admin UI lists it; entries are written by suite_server/audit.py."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from suite_server.admin.pages import Page, cut
from suite_server.models import AuditEntry

PAGE_SIZE = 50


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
