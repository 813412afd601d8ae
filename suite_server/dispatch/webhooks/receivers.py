"""An app's receivers besides its webhook URL (docs/webhooks.md "Several receivers"): each has
its own URL and secret and gets the messages whose kind one of its patterns matches; one may be
synchronous, asked inside the platform's request for a passive reply (sync.py).

Patterns are globs over `Message.kind`, where `*` stands for any characters: `text`,
`event:subscribe`, `event:*`, `change_contact`, `tenant.*`, `*`. They are compared without regard
to case (the platforms spell their events `subscribe` and `LOCATION` alike).

Here: the checks, adding, changing and removing a receiver (the caller commits), and the
matching `schedule` uses. The app's own webhook URL is not a receiver: it gets everything, as
before, signed with the app's secret (settings.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from suite_server.cache import Cache
from suite_server.db import iso
from suite_server.dispatch.webhooks.settings import check_url, new_secret
from suite_server.errors import ValidationError
from suite_server.models import App, Tenant, WebhookDelivery, WebhookReceiver

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
PATTERN = re.compile(r"[A-Za-z0-9_.:*-]{1,64}")
MATCHES_CHARS = 500  # the column's size: the patterns joined by spaces
# Which receiver of an app is synchronous, per process: asked on every tenant message inside the
# platform's request, where a query each is felt. A change made here is seen at once, one made
# by another process within SYNC_CACHE_SECONDS.
SYNC_CACHE_SECONDS = 5.0
_sync = Cache("suite_server.sync_receivers")


# -- checks ----------------------------------------------------------------------------------------


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME.fullmatch(name):
        raise ValidationError(
            _(
                "receiver name must be 1-64 letters, digits, '_', '.' or '-', starting with a "
                "letter or digit"
            )
        )
    return name


def check_matches(patterns: Iterable[str] | str) -> str:
    """The patterns as stored: checked, without repeats, separated by spaces. Given as one
    string (spaces or commas between) or as several."""
    if isinstance(patterns, str):
        patterns = [patterns]
    found: list[str] = []
    for given in patterns:
        for pattern in re.split(r"[\s,]+", given or ""):
            if not pattern:
                continue
            if not PATTERN.fullmatch(pattern):
                raise ValidationError(
                    _(
                        "match pattern %(pattern)s must be 1-64 letters, digits, '_', '.', ':', "
                        "'-' or '*' (e.g. text, event:subscribe, event:*, tenant.*, *)",
                        pattern=repr(pattern[:70]),
                    )
                )
            if pattern not in found:
                found.append(pattern)
    if not found:
        raise ValidationError(
            _("give at least one match pattern (e.g. text, event:*, tenant.*, *)")
        )
    joined = " ".join(found)
    if len(joined) > MATCHES_CHARS:
        raise ValidationError(
            _("the match patterns take at most %(max)s characters", max=MATCHES_CHARS)
        )
    return joined


def matches(patterns: str, kind: str) -> bool:
    """Whether a receiver with these patterns (as stored) gets a message of this kind."""
    kind = kind.lower()
    return any(fnmatchcase(kind, pattern.lower()) for pattern in patterns.split())


def _check_url(session: Session, app: App, url: str, receiver_pk: int | None) -> str:
    """A receiver's URL: its own, since deliveries are kept, and ordered, per URL."""
    url = check_url(url)
    if url == app.webhook_url:
        raise ValidationError(
            _(
                "that is the app's webhook URL, which gets every message already: a receiver "
                "needs a URL of its own"
            )
        )
    tenant = session.scalar(
        select(Tenant.tenant_id).where(Tenant.app_pk == app.id, Tenant.webhook_url == url)
    )
    if tenant is not None:
        raise ValidationError(
            _("that URL is tenant %(tenant)s's own webhook: use another one", tenant=tenant)
        )
    other = session.scalar(
        select(WebhookReceiver.name).where(
            WebhookReceiver.app_pk == app.id,
            WebhookReceiver.url == url,
            WebhookReceiver.id != (receiver_pk or 0),
        )
    )
    if other is not None:
        raise ValidationError(
            _(
                "receiver %(receiver)s of %(app)s has that URL already",
                receiver=repr(other),
                app=app.app_id,
            )
        )
    return url


def _check_sync(session: Session, app: App, receiver_pk: int | None) -> None:
    other = session.scalar(
        select(WebhookReceiver.name).where(
            WebhookReceiver.app_pk == app.id,
            WebhookReceiver.sync.is_(True),
            WebhookReceiver.id != (receiver_pk or 0),
        )
    )
    if other is not None:
        raise ValidationError(
            _(
                "receiver %(receiver)s of %(app)s is its synchronous one already: only one "
                "receiver answers inside the platform's request",
                receiver=repr(other),
                app=app.app_id,
            )
        )


# -- changes -------------------------------------------------------------------------------------


def find(session: Session, app: App, name: str) -> WebhookReceiver:
    receiver = session.scalar(
        select(WebhookReceiver).where(
            WebhookReceiver.app_pk == app.id, WebhookReceiver.name == (name or "").strip()
        )
    )
    if receiver is None:
        raise ValidationError(f"no receiver {name!r} of app {app.app_id!r}")
    return receiver


def add(
    session: Session,
    app: App,
    *,
    name: str,
    url: str,
    patterns: Iterable[str] | str,
    sync: bool = False,
    enabled: bool = True,
) -> tuple[WebhookReceiver, str]:
    """A new receiver and its secret (to be shown once); the caller commits."""
    name = check_name(name)
    if session.scalar(
        select(WebhookReceiver.id).where(
            WebhookReceiver.app_pk == app.id, WebhookReceiver.name == name
        )
    ):
        raise ValidationError(
            _(
                "app %(app)s has a receiver %(receiver)s already",
                app=app.app_id,
                receiver=repr(name),
            )
        )
    receiver = WebhookReceiver(
        app_pk=app.id,
        name=name,
        url=_check_url(session, app, url, None),
        matches=check_matches(patterns),
        secret=new_secret(),
        sync=bool(sync),
        enabled=bool(enabled),
    )
    if receiver.sync:
        _check_sync(session, app, None)
    session.add(receiver)
    _flush(session, app)
    return receiver, receiver.secret


def update(
    session: Session,
    app: App,
    receiver: WebhookReceiver,
    *,
    url: str | None = None,
    patterns: Iterable[str] | str | None = None,
    enabled: bool | None = None,
    sync: bool | None = None,
    rotate: bool = False,
) -> tuple[list[str], str | None]:
    """Change what is given (None: kept). Returns the names of what changed and the new secret
    when `rotate`; the caller commits. A new URL applies to new messages: pending deliveries go
    on to the URL they were made for. A disabled receiver gets no new messages, and its pending
    deliveries fail at their next attempt (redeliver them once it is enabled again)."""
    changed: list[str] = []
    if url is not None:
        url = _check_url(session, app, url, receiver.id)
        if url != receiver.url:
            receiver.url = url
            changed.append("url")
    if patterns is not None:
        joined = check_matches(patterns)
        if joined != receiver.matches:
            receiver.matches = joined
            changed.append("matches")
    if sync is not None and bool(sync) != receiver.sync:
        if sync:
            _check_sync(session, app, receiver.id)
        receiver.sync = bool(sync)
        changed.append("sync")
    if enabled is not None and bool(enabled) != receiver.enabled:
        receiver.enabled = bool(enabled)
        changed.append("enabled")
    secret = None
    if rotate:
        receiver.secret = secret = new_secret()
        changed.append("secret")
    _flush(session, app)
    return changed, secret


def remove(session: Session, receiver: WebhookReceiver) -> int:
    """Delete the receiver and, with it (ON DELETE CASCADE), its deliveries, pending or not.
    Returns how many deliveries went; the caller commits."""
    deliveries = session.scalar(
        select(func.count()).where(WebhookDelivery.receiver_pk == receiver.id)
    )
    session.delete(receiver)
    session.flush()
    _sync.forget(receiver.app_pk)
    return deliveries or 0


def _flush(session: Session, app: App) -> None:
    _sync.forget(app.id)
    # Two admins adding the same name or URL at once: the second meets the unique constraint.
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ValidationError(
            _("another receiver of %(app)s took that name or URL meanwhile", app=app.app_id)
        ) from None


# -- reading -------------------------------------------------------------------------------------


def of_app(session: Session, app: App) -> list[WebhookReceiver]:
    return list(
        session.scalars(
            select(WebhookReceiver)
            .where(WebhookReceiver.app_pk == app.id)
            .order_by(WebhookReceiver.name)
            .options(defer(WebhookReceiver.secret))  # read (and decrypted) only when shown once
        )
    )


def matching(session: Session, app_pk: int, kind: str) -> list[tuple[int, str]]:
    """(id, url) of the enabled receivers of the app that get a message of this kind, by name."""
    rows = session.execute(
        select(WebhookReceiver.id, WebhookReceiver.url, WebhookReceiver.matches)
        .where(WebhookReceiver.app_pk == app_pk, WebhookReceiver.enabled.is_(True))
        .order_by(WebhookReceiver.name)
    )
    return [(pk, url) for pk, url, patterns in rows if matches(patterns, kind)]


def synchronous(session: Session, app_pk: int, kind: str) -> int | None:
    """The id of the app's enabled synchronous receiver if it gets this kind. Only one may be
    set (add and update refuse a second); were there two, the first by name is asked."""
    now = time.monotonic()
    found = _sync.get(app_pk, now)
    if found is None:
        row = session.execute(
            select(WebhookReceiver.id, WebhookReceiver.matches)
            .where(
                WebhookReceiver.app_pk == app_pk,
                WebhookReceiver.enabled.is_(True),
                WebhookReceiver.sync.is_(True),
            )
            .order_by(WebhookReceiver.name)
            .limit(1)
        ).first()
        found = (row[0], row[1]) if row is not None else (None, "")
        _sync.put(app_pk, found, now + SYNC_CACHE_SECONDS)
    receiver_pk, patterns = found
    return receiver_pk if receiver_pk is not None and matches(patterns, kind) else None


def view(receiver: WebhookReceiver, app_id: str) -> dict[str, Any]:
    """A receiver as `webhooks receivers list --json` shows it: never its secret."""
    return {
        "app_id": app_id,
        "name": receiver.name,
        "url": receiver.url,
        "matches": receiver.matches.split(),
        "sync": receiver.sync,
        "enabled": receiver.enabled,
        "created_at": iso(receiver.created_at),
        "updated_at": iso(receiver.updated_at),
    }


def listing(session: Session, app_id: str | None = None) -> list[dict[str, Any]]:
    query = (
        select(App.app_id, WebhookReceiver)
        .join(App, App.id == WebhookReceiver.app_pk)
        .order_by(App.app_id, WebhookReceiver.name)
        .options(defer(WebhookReceiver.secret))
    )
    if app_id:
        query = query.where(App.app_id == app_id)
    return [view(receiver, owner) for owner, receiver in session.execute(query)]
