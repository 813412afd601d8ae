"""App tokens and tenant tokens: the access tokens we keep fresh and serve."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from suite_server.crypto.secrets import EncryptedText
from suite_server.db import Base, UTCDateTime, utcnow


class TokenColumns:
    """What every cached token row has."""

    id: Mapped[int] = mapped_column(primary_key=True)
    access_token: Mapped[str | None] = mapped_column(EncryptedText)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    obtained_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped on every write: writers compare-and-set on it so an older answer never wins.
    version: Mapped[int] = mapped_column(default=0)
    # When the background sweep refreshes it: ahead of the serving margin, with jitter so tokens
    # obtained together are not all refreshed in the same second (tokens/policy.py).
    refresh_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The lease of whoever refreshes this token now, behind the Redis lock when there is one
    # (tokens/locks.py).
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AppToken(TokenColumns, Base):
    """suite_access_token / component_access_token: one row per app."""

    __tablename__ = "app_tokens"

    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), unique=True)


class TenantToken(TokenColumns, Base):
    """corp access_token / authorizer_access_token: one row per tenant."""

    __tablename__ = "tenant_tokens"

    tenant_pk: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), unique=True
    )
    # When the job the sweep handed this token to runs (tokens/tasks.py): the sweep hands it
    # out again only once its refresh time has moved past this, or this is long past (lost job).
    queued_for: Mapped[datetime | None] = mapped_column(UTCDateTime)


class JsapiTicket(TokenColumns, Base):
    """A tenant's JS-SDK ticket of one kind (WeCom `corp` / `agent`, Open `jsapi` / `wx_card`),
    kept and refreshed by the token engine like a token: `access_token` holds the ticket."""

    __tablename__ = "jsapi_tickets"
    __table_args__ = (UniqueConstraint("tenant_pk", "kind"),)

    tenant_pk: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
