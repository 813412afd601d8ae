"""Admin users and API keys: creating, checking and revoking them."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from suite_server.db import utcnow
from suite_server.errors import ValidationError
from suite_server.models import AdminUser, ApiKey, App

_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,100}")
MIN_PASSWORD = 10
MAX_SCOPE = 50  # apps or path prefixes per API key
# A platform API path prefix, as the gateway will see it: /cgi-bin/message/, /wxa/
_PATH_PREFIX = re.compile(r"/[A-Za-z0-9_./-]{0,199}")


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


def set_preferences(
    session: Session, admin_pk: int, locale: str | None, timezone: str | None
) -> None:
    """An admin's language ("en", "zh") and time zone, None for the defaults; commits."""
    session.execute(
        update(AdminUser).where(AdminUser.id == admin_pk).values(locale=locale, timezone=timezone)
    )
    session.commit()


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


def create_api_key(
    session: Session,
    name: str,
    *,
    app_ids: Iterable[str] = (),
    path_prefixes: Iterable[str] = (),
) -> str:
    """Add an API key and return it; it is shown once and only its hash is kept. With
    `app_ids` the key may use only those apps (each must exist); `path_prefixes` are kept for
    the tenant gateway's proxy (a path outside them is refused, 403)."""
    if not _NAME.fullmatch(name or ""):
        raise ValidationError("API key name must be 1 to 100 letters, digits or . _ @ -")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise ValidationError(f"an API key named {name} already exists")
    apps, prefixes = _scope_apps(session, app_ids), _scope_prefixes(path_prefixes)
    row, key = ApiKey.generate(name, app_ids=apps, path_prefixes=prefixes)
    session.add(row)
    return key


def _scope_apps(session: Session, app_ids: Iterable[str]) -> list[str] | None:
    wanted = sorted(set(app_ids))
    if not wanted:
        return None  # every app
    if len(wanted) > MAX_SCOPE:
        raise ValidationError(f"an API key may name at most {MAX_SCOPE} apps")
    # A typo would make a key that reaches nothing: refuse it now rather than 403 later.
    plausible = [app_id for app_id in wanted if len(app_id) <= 64 and "\x00" not in app_id]
    known = set(session.scalars(select(App.app_id).where(App.app_id.in_(plausible))))
    missing = [app_id for app_id in wanted if app_id not in known]
    if missing:
        raise ValidationError(f"no app {missing[0]!r}: see `suite-server apps list`")
    return wanted


def _scope_prefixes(prefixes: Iterable[str]) -> list[str] | None:
    wanted = sorted(set(prefixes))
    if not wanted:
        return None  # any path
    if len(wanted) > MAX_SCOPE:
        raise ValidationError(f"an API key may name at most {MAX_SCOPE} path prefixes")
    for prefix in wanted:
        segments = prefix.split("/")[1:]
        if not _PATH_PREFIX.fullmatch(prefix) or "." in segments or ".." in segments:
            raise ValidationError(
                f"path prefix {prefix[:100]!r} must start with / and hold only letters, digits"
                " and / _ . - (at most 200), like /cgi-bin/message/"
            )
    return wanted


def scope_of(key: ApiKey) -> str:
    """The key's scope in words, for listings."""
    apps = ", ".join(key.app_ids) if key.app_ids else "every app"
    if not key.path_prefixes:
        return apps
    return f"{apps}; gateway paths {', '.join(key.path_prefixes)}"


def list_api_keys(session: Session) -> list[ApiKey]:
    """Every key, revoked ones included, by name."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.name)))


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
