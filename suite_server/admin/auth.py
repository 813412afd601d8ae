"""Admin sign-in: the password check behind the throttle, and the user Flask-Login keeps.

Every attempt is first counted and let through or held back by admin/throttle.py, in the
database, before its password is checked. The answer to a refused attempt is the same whether
the user exists, the password was wrong or the attempt was held back, and each costs one
password hash (an unknown user or a held-back attempt is checked against a dummy hash), so
neither the page nor its timing tells which usernames exist or which are being guessed.

A signed-in admin is a row of admin_sessions (admin/sessions.py): Flask-Login's cookie holds the
session's token, not the admin's id, and every request finds the row or is signed out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import UserMixin
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from suite_server import accounts, audit
from suite_server.admin import sessions, throttle
from suite_server.db import utcnow
from suite_server.models import AdminUser

log = logging.getLogger(__name__)

# In the language of the page that shows it (a lazy string, read when the message is shown).
REFUSED = lazy_gettext(
    "Wrong username or password, or too many failed attempts: after %(n)s failed attempts in a "
    "row from one place each further attempt waits, 1 minute at first and doubling up to 15 "
    "minutes.",
    n=throttle.ADDRESS_FREE,
)
# Checked against when the username is unknown or the attempt is held back, so those cases take
# as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


@dataclass(frozen=True)
class Admin(UserMixin):
    """The signed-in admin as Flask-Login sees it: its id is the session's token."""

    token: str
    session_pk: int
    admin_pk: int
    username: str
    shown_once: str | None = None  # a secret the next page may show once (sessions.py)
    locale: str | None = None  # the admin's language and time zone (i18n.py)
    timezone: str | None = None

    def get_id(self) -> str:
        return self.token


class LoginRefused(Exception):
    """The attempt failed; the message is REFUSED, whatever the reason."""


def load(session: Session, token: str) -> Admin | None:
    """Flask-Login's user loader: the admin of a live session, else None (signed out)."""
    found = sessions.find(session, token, utcnow())
    if found is None:
        return None
    return Admin(
        token,
        found.pk,
        found.admin_pk,
        found.username,
        found.shown_once,
        found.locale,
        found.timezone,
    )


def authenticate(
    session: Session, username: str, password: str, address: str, now: datetime | None = None
) -> Admin:
    """A new session for these credentials from this client address, or LoginRefused."""
    now = now or utcnow()
    user = session.scalar(select(AdminUser).where(AdminUser.username == username[:100]))
    account = None
    if user is not None and not throttle.known_address(session, user.id, address, now):
        account = user.id
    admission = throttle.admit(session, address, account, now)
    if user is None or not admission.admitted:
        check_password_hash(_DUMMY_HASH, password)
        if not admission.admitted:
            log.info("admin sign-in from %s held back by earlier failures", address)
        elif admission.delays_address:
            _address_delayed(address)
        raise LoginRefused(REFUSED)
    if not user.check_password(password):
        if admission.delays_address:
            _address_delayed(address)
        if admission.locks_account:
            _lock(session, user, address, now)
        raise LoginRefused(REFUSED)
    throttle.succeeded(session, address, admission, user.id, now)
    user.last_login_at = now
    started = sessions.start(session, user.id, address, now)
    audit.record(session, user.username, "login", detail={"address": address})
    session.commit()
    return Admin(
        started.token, started.pk, user.id, user.username, None, user.locale, user.timezone
    )


def _address_delayed(address: str) -> None:
    log.warning(
        "admin sign-in: %d failed attempts in a row from %s: its next attempts wait",
        throttle.ADDRESS_FREE,
        address,
    )


def _lock(session: Session, user: AdminUser, address: str, now: datetime) -> None:
    """Failed sign-ins from several places: the account's delays begin, and its sessions end
    (whoever is guessing may have had the password before)."""
    ended = sessions.end_all(session, user.id, "account_locked", now)
    detail = {"failures": throttle.ACCOUNT_FREE, "last_address": address, "sessions_ended": ended}
    audit.record(session, user.username, "account_locked", detail=detail)
    session.commit()
    log.warning(
        "admin account %s locked: %s failed sign-ins from addresses it never signed in from",
        user.username,
        throttle.ACCOUNT_FREE,
    )


def logout(session: Session, admin: Admin) -> None:
    sessions.end(session, admin.session_pk, "logout", utcnow())
    audit.record(session, admin.username, "logout")
    session.commit()


def change_password(session: Session, admin: Admin, current: str, new: str, address: str) -> Admin:
    """Check the current password (throttled as a sign-in is), set the new one, end every
    session of the admin, and return a new session for the browser that asked."""
    accounts.check_password(new)  # ValidationError before anything is counted or changed
    now = utcnow()
    user = session.get(AdminUser, admin.admin_pk)
    admission = throttle.admit(session, address, admin.admin_pk, now)
    if user is None or not admission.admitted or not user.check_password(current):
        if admission.admitted and admission.locks_account and user is not None:
            _lock(session, user, address, now)
        raise LoginRefused(_("The current password is wrong (or too many failed attempts)."))
    throttle.succeeded(session, address, admission, user.id, now)
    accounts.set_password(user, new)
    ended = sessions.end_all(session, user.id, "password_changed", now)
    started = sessions.start(session, user.id, address, now)
    audit.record(session, user.username, "password_changed", detail={"sessions_ended": ended})
    session.commit()
    return Admin(
        started.token, started.pk, user.id, user.username, None, user.locale, user.timezone
    )
