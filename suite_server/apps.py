"""Registering apps and reading their state: the checks shared by the CLI, the API and the UI."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from suite_server import db
from suite_server.crypto.msgcrypt import decode_aes_key
from suite_server.db import utcnow
from suite_server.errors import ValidationError
from suite_server.models import PLATFORMS, App, AppToken, Ticket, kind_for
from suite_server.ops import metrics

# Ids go into URLs (/callback/wecom/<suite_id>/...), so keep them to what the platforms issue.
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The console's Token: English letters and digits, at most 32 (wecom-suite.md §1).
_TOKEN = re.compile(r"[A-Za-z0-9]{1,32}")


TICKET_STALE = timedelta(minutes=20)  # the platforms push every 10 minutes


def register_app(
    session: Session,
    *,
    platform: str,
    app_id: str,
    secret: str,
    token: str,
    aes_key: str,
    name: str = "",
    provider_corpid: str | None = None,
    test_mode: bool = False,
    landing_url: str | None = None,
) -> App:
    """Validate and add an app; the caller commits. A WeCom suite id starting with `dk` is a
    customized-app template (models.apps.KINDS)."""
    if platform not in PLATFORMS:
        raise ValidationError(f"platform must be one of {', '.join(PLATFORMS)}")
    label = "suite id" if platform == "wecom" else "component appid"
    check_id(label, app_id)
    if provider_corpid is not None:
        check_id("provider corpid", provider_corpid)
    check_secret(secret)
    check_token(token)
    check_aes_key(aes_key)
    check_landing_url(landing_url)
    check_unused(session, app_id)
    app = App(
        platform=platform,
        kind=kind_for(platform, app_id),
        app_id=app_id,
        name=name or app_id,
        secret=secret.strip(),
        token=token,
        aes_key=aes_key,
        provider_corpid=provider_corpid or None,
        test_mode=test_mode,
        landing_url=landing_url or None,
    )
    session.add(app)
    return app


def every_app(session: Session, kind: str | None = None) -> list[App]:
    """All apps (or those of one kind: models.apps.KINDS) in registration order, secrets
    included (the sandbox's --server-url copy)."""
    query = select(App).order_by(App.id)
    if kind is not None:
        query = query.where(App.kind == kind)
    return list(session.scalars(query))


def check_unused(session: Session, app_id: str) -> None:
    """App ids and provider corpids share one namespace: the callback and API paths."""
    existing = session.scalar(select(App.kind).where(App.app_id == app_id))
    if existing is not None:
        what = "a provider" if existing == "provider" else "an app"
        raise ValidationError(f"{what} with id {app_id} already exists")


def check_secret(secret: str) -> str:
    if not secret or not secret.strip():
        raise ValidationError("secret must not be empty")
    return secret.strip()


def parse_func_info(text: str) -> list[int] | None:
    """An Open app's needed permission sets from "1, 15, 18" (func_info ids); None for none.
    ValidationError for anything else."""
    parts = [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]
    if not all(part.isascii() and part.isdigit() and 0 < int(part) < 1000 for part in parts):
        raise ValidationError(_("permission sets are func_info ids from 1 to 999, comma-separated"))
    return sorted({int(part) for part in parts}) or None


def check_token(token: str) -> str:
    if not _TOKEN.fullmatch(token or ""):
        raise ValidationError(_("token must be 1 to 32 English letters or digits"))
    return token


def check_aes_key(aes_key: str) -> str:
    try:
        decode_aes_key(aes_key)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    return aes_key


def check_landing_url(landing_url: str | None) -> str | None:
    if landing_url and not landing_url.startswith(("http://", "https://")):
        raise ValidationError(_("landing URL must start with http:// or https://"))
    return landing_url or None


def check_id(label: str, value: str) -> None:
    if not _ID.fullmatch(value or ""):
        raise ValidationError(f"{label} must be 1 to 64 letters, digits, '-' or '_'")


def ticket_state(newest_received_at: datetime | None, now: datetime) -> str:
    """One of "ok", "stale" (nothing for 20 minutes: pushes are failing) or "missing"."""
    if newest_received_at is None:
        return "missing"
    return "stale" if now - newest_received_at > TICKET_STALE else "ok"


def tickets_overdue(
    newest_received_at: datetime | None, registered_at: datetime, now: datetime
) -> bool:
    """Whether pushes are failing: the newest ticket is over TICKET_STALE old, or none came in the
    TICKET_STALE since the app was registered. An app registered a minute ago has none yet and
    is not at fault (the platforms push every 10 minutes)."""
    return now - (newest_received_at or as_utc(registered_at)) > TICKET_STALE


def overview(session: Session, now: datetime | None = None) -> list[dict[str, Any]]:
    """Each app with its newest ticket's age and its app token's expiry, for `apps list` and the
    API. Never a secret. Provider accounts are not apps (providers.overview)."""
    now = now or utcnow()
    newest = (
        select(
            Ticket.app_pk,
            func.max(Ticket.pushed_at).label("pushed_at"),
            func.max(Ticket.received_at).label("received_at"),
        )
        .group_by(Ticket.app_pk)
        .subquery()
    )
    rows = session.execute(
        select(App, newest.c.pushed_at, newest.c.received_at, AppToken.expires_at)
        .outerjoin(newest, newest.c.app_pk == App.id)
        .outerjoin(AppToken, AppToken.app_pk == App.id)
        .where(App.kind != "provider")
        .order_by(App.app_id)
    )
    result = []
    for app, pushed_at, received_at, expires_at in rows:
        # Aggregates skip the column type, so SQLite hands back naive UTC here.
        pushed_at = as_utc(pushed_at)
        result.append(
            {
                "app_id": app.app_id,
                "platform": app.platform,
                "kind": app.kind,
                "name": app.name,
                "test_mode": app.test_mode,
                "ticket_age": int((now - pushed_at).total_seconds()) if pushed_at else None,
                # "ok", "stale" (nothing arrived for 20 minutes) or "missing"
                "ticket_state": ticket_state(as_utc(received_at), now),
                "token_expires_at": expires_at.isoformat() if expires_at else None,
            }
        )
    return result


def register_gauges() -> None:
    """The apps' series on /metrics (registered from create_app): each app's newest ticket age."""
    metrics.gauge(
        "suite_server_ticket_age_seconds",
        "Age of each app's newest ticket",
        _ticket_ages,
        labels=["app_id"],
    )


def _ticket_ages() -> list[tuple[list[str], int]]:
    session = db.session()
    ages = [
        ([a["app_id"]], a["ticket_age"]) for a in overview(session) if a["ticket_age"] is not None
    ]
    session.rollback()
    return ages


def as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns func.max() of a DATETIME as text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


def record_key_mismatch(session: Session, app_pk: int, now: datetime) -> None:
    """A push with a good signature that no AES key decrypts: the console sends with a key the
    server does not have. Kept on the app for the "at risk" page: since when (a new spell when
    a ticket decrypted after the last refusal) and the latest. Commits."""
    newest_ticket = (
        select(func.max(Ticket.received_at)).where(Ticket.app_pk == App.id).scalar_subquery()
    )
    new_spell = or_(App.key_mismatch_since.is_(None), App.key_mismatch_at < newest_ticket)
    session.rollback()  # SQLite: write from a fresh snapshot (nothing was written before)
    session.execute(
        update(App)
        .where(App.id == app_pk)
        .values(
            key_mismatch_since=case((new_spell, now), else_=App.key_mismatch_since),
            key_mismatch_at=now,
        )
    )
    session.commit()


def clear_key_mismatch(session: Session, app_pk: int) -> None:
    """A push decrypted again: the keys agree. For provider accounts, which get no tickets (the
    proof key_mismatches looks for); commits, and writes only when there was a mismatch."""
    session.execute(
        update(App)
        .where(App.id == app_pk, App.key_mismatch_at.is_not(None))
        .values(key_mismatch_since=None, key_mismatch_at=None)
    )
    session.commit()


def key_mismatches(session: Session, app_pk: int | None = None) -> list[Any]:
    """Apps whose pushes are refused because no AES key decrypts them (app_id, since, last),
    unless a ticket decrypted since: the platforms push one every 10 minutes, with the same key
    as everything else, so a decrypted ticket means the keys agree again."""
    newest_ticket = (
        select(func.max(Ticket.received_at)).where(Ticket.app_pk == App.id).scalar_subquery()
    )
    query = (
        select(App.app_id, App.key_mismatch_since.label("since"), App.key_mismatch_at.label("last"))
        .where(
            App.key_mismatch_at.is_not(None),
            or_(newest_ticket.is_(None), newest_ticket < App.key_mismatch_at),
        )
        .order_by(App.app_id)
    )
    if app_pk is not None:
        query = query.where(App.id == app_pk)
    return list(session.execute(query))
