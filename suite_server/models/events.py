"""Inbound events: every accepted push, stored before it is acknowledged."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from suite_server.crypto.secrets import EncryptedText
from suite_server.db import Base, UTCDateTime, utcnow

STATUSES = ("pending", "done", "failed", "ignored")


class InboundEvent(Base):
    __tablename__ = "inbound_events"
    __table_args__ = (
        # A retried or duplicated push is stored once (wecom-suite.md §1 "De-duplicate"); a
        # tenant's key names its tenant, MsgIds being unique per corp or account only (inbox.py).
        UniqueConstraint("app_pk", "dedupe_key"),
        Index("ix_inbound_events_status_received_at", "status", "received_at"),
        Index("ix_inbound_events_app_pk_tenant_id", "app_pk", "tenant_id"),
        # The charts' fold counts the pushes of the last hours (ops/activity.py).
        Index("ix_inbound_events_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    # command / data / system (WeCom: a suite's two URLs, the provider's system event URL),
    # auth / msg (Open): which URL it came in on.
    channel: Mapped[str] = mapped_column(String(16))
    # InfoType for command/auth pushes; MsgType, or "event:<Event>", for tenant messages.
    kind: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(255))
    # The receive id found inside the ciphertext (suite id, provider corpid, corpid, appid).
    receive_id: Mapped[str] = mapped_column(String(64), default="")
    raw: Mapped[str] = mapped_column(Text)  # the body as received (still encrypted)
    payload: Mapped[str] = mapped_column(EncryptedText)  # decrypted XML: may hold user data
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProxyErrcode(Base):
    """Errcodes the platforms answered to calls through the tenant gateway's proxy, counted per
    app, tenant ("" for app and provider calls), path and errcode: what the admin shows a tenant's
    page. Only failures are written (an errcode other than 0)."""

    __tablename__ = "proxy_errcodes"
    __table_args__ = (UniqueConstraint("app_pk", "tenant_id", "path", "errcode"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(String(64), default="")
    path: Mapped[str] = mapped_column(String(200))
    errcode: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    last_errmsg: Mapped[str | None] = mapped_column(Text)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QuotaClear(Base):
    """A reset of an Open Platform account's daily API quota made from here (clear_quota, or
    clear_quota/v2 with the component's secret): the platform allows 10 a calendar month per
    account, and tells nothing of what is left, so the admin counts its own."""

    __tablename__ = "quota_clears"
    __table_args__ = (
        Index("ix_quota_clears_app_pk_tenant_id", "app_pk", "tenant_id", "cleared_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(String(64), default="")  # "": the component's own
    via: Mapped[str] = mapped_column(String(16))  # "token" or "secret"
    actor: Mapped[str] = mapped_column(String(200), default="")
    cleared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
