"""Webhook deliveries: one row per tenant message and receiver, and one per attempt to POST it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from suite_server.crypto.secrets import EncryptedText
from suite_server.db import Base, UTCDateTime, utcnow

STATUSES = ("pending", "delivered", "failed")
BIG_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER only


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # One delivery per message and receiver, however often the dispatch job runs.
        UniqueConstraint("event_pk", "url"),
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        # What the admin pages and `webhooks list` filter on, and what the sweep looks for.
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_app_pk_id", "app_pk", "id"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    event_pk: Mapped[int] = mapped_column(
        BIG_ID, ForeignKey("inbound_events.id", ondelete="CASCADE")
    )
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(500))
    # The JSON body, fixed when the delivery is scheduled so every attempt and every redelivery
    # sends the same bytes. Encrypted: it carries the message's content, like the event payload.
    body: Mapped[str] = mapped_column(EncryptedText)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)  # every attempt ever, redeliveries included
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the current round of attempts began (creation, or the last redeliver): retries stop
    # WEBHOOK_RETRY_WINDOW after it.
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    delivery_pk: Mapped[int] = mapped_column(
        BIG_ID, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column()  # None: no HTTP answer at all
    latency_ms: Mapped[int] = mapped_column(default=0)
    response_excerpt: Mapped[str | None] = mapped_column(Text)  # the first 500 characters
    error: Mapped[str | None] = mapped_column(Text)
