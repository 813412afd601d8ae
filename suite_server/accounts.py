"""Admin users and API keys: creating, checking and revoking them."""

from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from suite_server.apps import ValidationError
from suite_server.db import utcnow
from suite_server.models import AdminUser, ApiKey

_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,100}")
MIN_PASSWORD = 10


def create_admin(session: Session, username: str, password: str) -> AdminUser:
    """Validate and add an admin user; the caller commits."""
    if not _NAME.fullmatch(username or ""):
        raise ValidationError("username must be 1 to 100 letters, digits or . _ @ -")
    check_password(password)
    if session.scalar(select(AdminUser.id).where(AdminUser.username == username)) is not None:
        raise ValidationError(f"admin user {username} already exists")
    user = AdminUser(username=username)
    user.set_password(password)
    session.add(user)
    return user


def check_password(password: str) -> str:
    """A new password must be at least MIN_PASSWORD characters (and at most 1,000: hashing a
    huge one would cost the server)."""
    if len(password or "") < MIN_PASSWORD:
        raise ValidationError(f"password must have at least {MIN_PASSWORD} characters")
    if len(password) > 1000:
        raise ValidationError("password must have at most 1000 characters")
    return password


def set_password(user: AdminUser, password: str) -> None:
    """Validate and set a new password; the caller ends the admin's sessions
    (admin/auth.py change_password) and commits."""
    user.set_password(check_password(password))


def create_api_key(session: Session, name: str) -> str:
    """Add an API key and return it; it is shown once and only its hash is kept."""
    if not _NAME.fullmatch(name or ""):
        raise ValidationError("API key name must be 1 to 100 letters, digits or . _ @ -")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise ValidationError(f"an API key named {name} already exists")
    row, key = ApiKey.generate(name)
    session.add(row)
    return key


def revoke_api_key(session: Session, name: str) -> None:
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if result.rowcount == 0:
        raise ValidationError(f"no active API key named {name}")


def find_api_key(session: Session, key: str) -> ApiKey | None:
    """The active key row for a presented bearer key, or None."""
    return session.scalar(
        select(ApiKey).where(ApiKey.key_hash == ApiKey.hash(key), ApiKey.revoked_at.is_(None))
    )
