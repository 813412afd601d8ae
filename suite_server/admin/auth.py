"""Admin sign-in: password check with lockout, and the user object Flask-Login keeps in the session.

After LOCK_AFTER failed passwords in a row an account refuses every password, the right one
included, for LOCK_FOR. The answer to a refused login is the same whether the user exists, the
password was wrong or the account is locked, and an unknown user costs the same password hash
as a known one, so neither the page nor its timing tells which usernames exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_login import UserMixin
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from suite_server.admin import audit
from suite_server.db import utcnow
from suite_server.models import AdminUser

LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
REFUSED = (
    "Wrong username or password, or the account is locked: after "
    f"{LOCK_AFTER} failed attempts in a row an account is locked for "
    f"{int(LOCK_FOR.total_seconds() // 60)} minutes."
)
# Checked against when the username is unknown, so that case takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


@dataclass(frozen=True)
class Admin(UserMixin):
    """The signed-in admin as Flask-Login sees it: the session holds its id only."""

    id: int
    username: str

    def get_id(self) -> str:
        return str(self.id)


class LoginRefused(Exception):
    """The login failed; the message is REFUSED, whatever the reason."""


def load(session: Session, user_id: str) -> Admin | None:
    if not user_id.isdigit():
        return None
    row = session.execute(
        select(AdminUser.id, AdminUser.username).where(AdminUser.id == int(user_id))
    ).first()
    return Admin(row.id, row.username) if row else None


def authenticate(
    session: Session, username: str, password: str, now: datetime | None = None
) -> Admin:
    """The admin for these credentials, or LoginRefused. Counts the failure (and locks the
    account at LOCK_AFTER) in the database, so every process sees the same count."""
    now = now or utcnow()
    user = session.scalar(select(AdminUser).where(AdminUser.username == username[:100]))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        raise LoginRefused(REFUSED)
    locked = user.locked_until is not None and user.locked_until > now
    right = user.check_password(password)  # even when locked: the same time either way
    if locked or not right:
        if not locked:
            _count_failure(session, user, now)
        session.commit()
        raise LoginRefused(REFUSED)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    audit.record(session, user.username, "login")
    session.commit()
    return Admin(user.id, user.username)


def _count_failure(session: Session, user: AdminUser, now: datetime) -> None:
    # One UPDATE increments, so failures on several processes at once are all counted.
    failures = session.execute(
        update(AdminUser.__table__)
        .where(AdminUser.id == user.id)
        .values(failed_logins=AdminUser.failed_logins + 1)
        .returning(AdminUser.failed_logins)
    ).scalar_one()
    if failures >= LOCK_AFTER:
        session.execute(
            update(AdminUser.__table__)
            .where(AdminUser.id == user.id)
            .values(failed_logins=0, locked_until=now + LOCK_FOR)
        )
        audit.record(session, user.username, "account_locked", detail={"failures": failures})
