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


class WebhookReceiver(Base):
    """One of an app's receivers besides its webhook URL: its own URL and secret, and the kinds
    it gets (patterns such as `text`, `event:subscribe`, `tenant.*`). A `sync` receiver is asked
    inside the platform's request and may answer with a passive reply."""

    __tablename__ = "webhook_receivers"
    __table_args__ = (UniqueConstraint("app_pk", "name"), UniqueConstraint("app_pk", "url"))

    id: Mapped[int] = mapped_column(primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(EncryptedText)
    matches: Mapped[str] = mapped_column(String(500))  # patterns, separated by spaces
    sync: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


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
    # The receiver whose URL and secret it goes to; None: the app's or the tenant's webhook URL,
    # signed with the app's secret. Removing a receiver removes its deliveries.
    receiver_pk: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_receivers.id", ondelete="CASCADE"), index=True
    )
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
    # Indexed: the charts' fold counts the attempts of the last hours (ops/activity.py).
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    status_code: Mapped[int | None] = mapped_column()  # None: no HTTP answer at all
    latency_ms: Mapped[int] = mapped_column(default=0)
    response_excerpt: Mapped[str | None] = mapped_column(Text)  # the first 500 characters
    error: Mapped[str | None] = mapped_column(Text)
