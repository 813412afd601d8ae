"""Who may use the server: admin users (web UI) with their sessions and sign-in throttling, and
API keys (token API)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from suite_server.db import Base, UTCDateTime, utcnow

API_KEY_PREFIX = "ssk_"


class AdminUser(Base):
    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The admin's own choices (admin/i18n.py): "en" or "zh", and an IANA time zone; None: the
    # browser's language and the ADMIN_TIMEZONE setting.
    locale: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)  # scrypt, salted

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class AdminSession(Base):
    """A signed-in browser. The session cookie carries a random token; only its SHA-256 is kept
    here, and every request looks the row up, so ending the row (sign-out, a password change, a
    lockout) ends the session even for a copy of the cookie."""

    __tablename__ = "admin_sessions"
    __table_args__ = (
        # "Has this admin signed in from this address lately?" (admin/throttle.py)
        Index("ix_admin_sessions_admin_pk_client_address", "admin_pk", "client_address"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    admin_pk: Mapped[int] = mapped_column(ForeignKey("admin_users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # logout, password_changed, account_locked
    end_reason: Mapped[str | None] = mapped_column(String(32))
    # A secret to show once on the next page of this session ("aes_key:<app_id>"): the value is
    # read from the app then, so neither the cookie nor this row ever holds it.
    shown_once: Mapped[str | None] = mapped_column(String(100))

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class LoginThrottle(Base):
    """Failed sign-ins counted per client address ("address:<ip>") and per account
    ("account:<id>"); see admin/throttle.py. A row is read and written by one statement at a
    time, so concurrent attempts on several processes are counted and decided in order."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # No attempt is let through before this moment (None: no wait).
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKey(Base):
    """A bearer key for the token API. Only its SHA-256 is stored: the key is 32 random bytes,
    so a fast hash is enough and lookups stay one indexed query."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to tell keys apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the key may reach. app_ids: the app ids it may use, None for every app (the keys made
    # before scopes existed, or without --app). path_prefixes: the platform API paths it may call
    # through the tenant gateway's proxy, None for any (docs/api.md "Scopes").
    app_ids: Mapped[list[str] | None] = mapped_column(JSON)
    path_prefixes: Mapped[list[str] | None] = mapped_column(JSON)

    @staticmethod
    def hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def generate(cls, name: str, **scope: list[str] | None) -> tuple[ApiKey, str]:
        """A new key row and the key itself, which is shown once and never stored."""
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        return cls(name=name, key_hash=cls.hash(key), prefix=key[:12], **scope), key
