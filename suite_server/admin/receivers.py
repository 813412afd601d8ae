"""An app's webhook receivers in the admin UI: each with its recent deliveries; adding, editing,
rotating the secret and removing one, each audited (on the app's target, `app:<app_id>`). A new
secret is shown once, on the page the action leads to (sessions.show_once), never again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from suite_server import audit
from suite_server.admin.tenants import ActionFailed
from suite_server.dispatch import webhooks
from suite_server.dispatch.webhooks import receivers
from suite_server.errors import ValidationError
from suite_server.models import App, WebhookReceiver

RECENT = 10  # deliveries shown with each receiver
SHOWN_ONCE = "receiver_secret:"  # + the receiver's id: the mark of a secret to show once


@dataclass(frozen=True)
class Shown:
    receiver: WebhookReceiver
    deliveries: list[dict[str, Any]]


def page(session: Session, app: App) -> list[Shown]:
    """The app's receivers by name, each with its RECENT newest deliveries (never a body)."""
    return [
        Shown(receiver, webhooks.overview(session, receiver_pk=receiver.id, limit=RECENT))
        for receiver in receivers.of_app(session, app)
    ]


def find(session: Session, app: App, receiver_id: int) -> WebhookReceiver | None:
    return session.scalar(
        select(WebhookReceiver).where(
            WebhookReceiver.id == receiver_id, WebhookReceiver.app_pk == app.id
        )
    )


def add(
    session: Session, actor: str, app: App, *, name: str, url: str, matches: str, sync: bool
) -> WebhookReceiver:
    """Add a receiver (its secret is to be shown once); ActionFailed for a refused value."""
    try:
        receiver, _ = receivers.add(session, app, name=name, url=url, patterns=matches, sync=sync)
    except ValidationError as exc:
        session.rollback()
        raise ActionFailed(str(exc)) from None
    audit.record(session, actor, "receiver.add", f"app:{app.app_id}", _detail(receiver))
    session.commit()
    return receiver


def edit(
    session: Session,
    actor: str,
    app: App,
    receiver: WebhookReceiver,
    *,
    url: str,
    matches: str,
    enabled: bool,
    sync: bool,
) -> list[str]:
    """Save the edit form; returns what changed."""
    try:
        changed, _ = receivers.update(
            session, app, receiver, url=url, patterns=matches, enabled=enabled, sync=sync
        )
    except ValidationError as exc:
        session.rollback()
        raise ActionFailed(str(exc)) from None
    if changed:
        detail = {"changed": changed, **_detail(receiver)}
        audit.record(session, actor, "receiver.update", f"app:{app.app_id}", detail)
    session.commit()
    return changed


def rotate_secret(session: Session, actor: str, app: App, receiver: WebhookReceiver) -> None:
    receivers.update(session, app, receiver, rotate=True)
    audit.record(
        session, actor, "receiver.rotate_secret", f"app:{app.app_id}", {"name": receiver.name}
    )
    session.commit()


def remove(session: Session, actor: str, app: App, receiver: WebhookReceiver) -> int:
    """Remove it with its deliveries; returns how many deliveries went."""
    detail = _detail(receiver)
    removed = receivers.remove(session, receiver)
    audit.record(
        session, actor, "receiver.remove", f"app:{app.app_id}", {**detail, "deliveries": removed}
    )
    session.commit()
    return removed


def _detail(receiver: WebhookReceiver) -> dict[str, Any]:
    # Never the secret.
    return {
        "name": receiver.name,
        "url": receiver.url,
        "matches": receiver.matches,
        "sync": receiver.sync,
        "enabled": receiver.enabled,
    }
