"""The audit log: every action an admin took in the web UI, who took it and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from suite_server.db import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    # The admin pages list entries newest first and filter on who or on what was acted on.
    __table_args__ = (
        Index("ix_audit_entries_actor_id", "actor", "id"),
        Index("ix_audit_entries_target_id", "target", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The admin's username, kept as text so the entry outlives the account.
    actor: Mapped[str] = mapped_column(String(100))
    # login, logout, tenant.refresh_token, app.rotate_aes_key, event.reprocess, ...
    action: Mapped[str] = mapped_column(String(64))
    # What was acted on, as "<kind>:<id>": "tenant:wwsuite/wwcorp", "app:wwsuite", "event:42".
    target: Mapped[str] = mapped_column(String(200), default="")
    # The outcome and the inputs that matter; never a secret.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
