"""Who may use the server: admin users (web UI) and API keys (token API)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from suite_server.db import Base, UTCDateTime, utcnow

API_KEY_PREFIX = "ssk_"


class AdminUser(Base):
    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)  # scrypt, salted

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


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
    # through the tenant gateway, None for any; stored and shown, but enforced only once the
    # gateway exists (docs/api.md "Scopes").
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
