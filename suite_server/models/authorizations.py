"""The install flow's bookkeeping: shared pre-auth codes, one-time states, claimed auth codes, and
tenant history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from suite_server.crypto.secrets import EncryptedText
from suite_server.db import Base, UTCDateTime, utcnow


class PreAuthCode(Base):
    """A pre-auth code from the platform, handed to every install started while it has minutes
    left, so anonymous visits to /install/<app_id> do not cost an upstream call each. Not a
    secret: every browser sent to the platform's page carries it in the URL. Retired (used_at)
    once an approval went through with it: the platform may take it only once."""

    __tablename__ = "pre_auth_codes"
    __table_args__ = (Index("ix_pre_auth_codes_app_pk_expires_at", "app_pk", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(Text)
    # WeCom: set_session_info made it a test install (auth_type 1); never shared across modes.
    test_mode: Mapped[bool] = mapped_column(default=False)
    obtained_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Fetched for one install that carries a `ref` and handed to no other (Open pushes name the
    # code, not the state: a shared code could not say whose install it was).
    dedicated: Mapped[bool] = mapped_column(default=False)


class InstallState(Base):
    """The `state` of one install started at /install/<app_id>: bound to the app, single use,
    expiring after 20 minutes, so a forged or replayed redirect back is refused. Expired rows
    are pruned (authorization/housekeeping.py); the starts per client address are counted from
    the recent rows (authorization/starts.py)."""

    __tablename__ = "install_states"
    __table_args__ = (
        Index("ix_install_states_client_addr_created_at", "client_addr", "created_at"),
        Index("ix_install_states_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The browser's address (an IPv6 one as its /64), for the limit on starts per address.
    client_addr: Mapped[str | None] = mapped_column(String(64))
    pre_auth_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("pre_auth_codes.id", ondelete="SET NULL"), index=True
    )
    # The install context (authorization/context.py): the ISV's opaque reference, kept on the
    # tenant, and where the browser goes back to (from an install link).
    ref: Mapped[str | None] = mapped_column(String(128))
    # Where the ref came from: "link" (an install link minted through the API: the ISV's own) or
    # "query" (`?ref=` in the URL: anyone may have written it).
    ref_from: Mapped[str | None] = mapped_column(String(8))
    return_to: Mapped[str | None] = mapped_column(String(500))


class InstallLink(Base):
    """A one-time install link minted through the API for one customer of the ISV: opening it
    starts an install carrying its `ref` and `return_to`, once, before it expires."""

    __tablename__ = "install_links"
    __table_args__ = (Index("ix_install_links_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the link's token
    ref: Mapped[str | None] = mapped_column(String(128))
    return_to: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthCodeClaim(Base):
    """An auth code being exchanged. The redirect back and the create_auth / authorized push
    can carry the same code at the same moment on two processes; the unique key lets exactly
    one of them call upstream while the other waits for its tenant (open-platform.md §4.3: a
    code is single use, the second exchange would fail with 61009)."""

    __tablename__ = "auth_code_claims"
    __table_args__ = (UniqueConstraint("app_pk", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_pk: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))  # sha256: the code itself is a secret
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    tenant_pk: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    error: Mapped[str | None] = mapped_column(Text)
    # A credential the platform handed over in an answer we could not make a tenant of (no
    # corpid in it): kept, encrypted, rather than lost with the spent code.
    credential: Mapped[str | None] = mapped_column(EncryptedText)


class TenantHistory(Base):
    """What happened to a tenant, and why: kept when it is cancelled, shown to admins."""

    __tablename__ = "tenant_history"
    __table_args__ = (Index("ix_tenant_history_tenant_pk_at", "tenant_pk", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_pk: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # authorized, reauthorized, auth_changed, cancelled, credential_reset, reconciled, ...
    action: Mapped[str] = mapped_column(String(32))
    # redirect, push, reconcile, admin, token
    source: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
