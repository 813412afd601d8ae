"""Mini programs registered for merchants through the component (代注册, isv-capabilities §10):
one row per fast-registration request, as the ISV started it or a push first told of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from suite_server.db import Base, UTCDateTime, utcnow

KINDS = ("enterprise", "personal", "beta")
STATUSES = ("pending", "succeeded", "failed")


class Registration(Base):
    __tablename__ = "registrations"
    __table_args__ = (
        Index("ix_registrations_app_pk_match_key", "app_pk", "match_key"),
        Index("ix_registrations_app_pk_created_at", "app_pk", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # KINDS
    status: Mapped[str] = mapped_column(String(16), default="pending")  # STATUSES
    # What ties a push to its request: enterprise name|code|legal persona's WeChat, personal
    # wxuser|idname (or the taskid), beta unique_id.
    match_key: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200), default="")  # the merchant or mini program
    ref: Mapped[str | None] = mapped_column(String(200))  # the ISV's own reference
    request: Mapped[dict[str, Any]] = mapped_column(JSON)  # what was sent (or pushed) about it
    taskid: Mapped[str | None] = mapped_column(String(100))  # personal
    unique_id: Mapped[str | None] = mapped_column(String(100))  # beta
    authorize_url: Mapped[str | None] = mapped_column(Text)  # personal and beta: for the merchant
    appid: Mapped[str | None] = mapped_column(String(64))  # the new mini program, once made
    message: Mapped[str | None] = mapped_column(Text)  # the platform's msg (why it failed)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
