"""Tenants: one authorization of an app by a WeCom corp or an official account / mini program."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column

from suite_server.crypto.secrets import EncryptedText
from suite_server.db import Base, UTCDateTime, utcnow

STATUSES = ("active", "cancelled", "needs_reauth")


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (
        # One tenant per (app, corp/account), whichever of redirect and push comes first.
        UniqueConstraint("app_pk", "tenant_id"),
        CheckConstraint("status IN ('active', 'cancelled', 'needs_reauth')", name="status"),
        # The search of `matching` on PostgreSQL: trigrams answer ILIKE on any part of the text
        # (pg_trgm). One index per column: the planner prices a two-column GIN index so high
        # that it read the whole table instead, many times slower (bench/admin.py).
        # Elsewhere plain indexes, unused and harmless.
        Index(
            "ix_tenants_tenant_id_trgm",
            "tenant_id",
            postgresql_using="gin",
            postgresql_ops={"tenant_id": "gin_trgm_ops"},
        ),
        Index(
            "ix_tenants_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    # corpid (WeCom) or authorizer appid (Open).
    tenant_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    # permanent_code (WeCom) or authorizer_refresh_token (Open): losing it loses the tenant.
    credential: Mapped[str | None] = mapped_column(EncryptedText)
    # The credential before the last change, kept until the new one has been used once.
    previous_credential: Mapped[str | None] = mapped_column(EncryptedText)
    credential_version: Mapped[int] = mapped_column(default=0)
    auth_info: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # When its capabilities were last read again (authorization/capabilities.py).
    capabilities_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The tenant's own webhook receiver, besides the app's; signed with the app's secret.
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    # The ISV's reference of the install that authorized it (`/install/<app_id>?ref=`).
    install_ref: Mapped[str | None] = mapped_column(String(128))
    install_ref_from: Mapped[str | None] = mapped_column(String(8))  # "link" or "query"
    authorized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @classmethod
    def matching(cls, q: str) -> ColumnElement[bool]:
        """Tenants whose id starts with `q` or whose name contains it, ignoring case: the search
        of the admin list and of the token API. ILIKE on PostgreSQL (served by the two trigram
        indexes, see db._postgres_session), lower() LIKE lower() on SQLite."""
        text = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return or_(
            cls.tenant_id.ilike(f"{text}%", escape="\\"),
            cls.name.ilike(f"%{text}%", escape="\\"),
        )
