"""Inbound events and webhook deliveries in the admin UI: filtered lists, one event with its
decrypted payload, and the actions re-process and redeliver."""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from suite_server import audit
from suite_server.admin import labels
from suite_server.admin.pages import Page, cut
from suite_server.admin.tenants import ActionFailed
from suite_server.dispatch import webhooks
from suite_server.models import App, InboundEvent, WebhookAttempt, WebhookDelivery
from suite_server.processing import pipeline
from suite_server.protocol import xml
from suite_server.tenants import events as lifecycle_events

PAGE_SIZE = 50


def _page(session: Session, query, limit: int, id_column) -> Page:
    rows = session.execute(query.order_by(id_column.desc()).limit(limit + 1)).all()
    return cut(rows, limit, lambda row: row[0].id)


def event_page(
    session: Session,
    *,
    app_id: str | None = None,
    tenant_id: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """Events newest first, keyset-paginated on id; the payloads stay unread (and encrypted)."""
    query = (
        select(InboundEvent, App.app_id)
        .join(App, App.id == InboundEvent.app_pk)
        .options(defer(InboundEvent.payload), defer(InboundEvent.raw))
    )
    if app_id:
        query = query.where(App.app_id == app_id)
    if tenant_id:
        query = query.where(InboundEvent.tenant_id == tenant_id)
    if kind:
        query = query.where(InboundEvent.kind == kind)
    if status:
        query = query.where(InboundEvent.status == status)
    if before:
        query = query.where(InboundEvent.id < before)
    return _page(session, query, limit, InboundEvent.id)


@dataclass(frozen=True)
class EventView:
    event: InboundEvent
    app: App
    payload: str  # pretty-printed decrypted XML (a lifecycle event's JSON)
    deliveries: list[WebhookDelivery]


def event_view(session: Session, event_id: int) -> EventView | None:
    event = session.get(InboundEvent, event_id)
    if event is None:
        return None
    app = session.get(App, event.app_pk)
    deliveries = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.event_pk == event.id)
        .options(defer(WebhookDelivery.body))
        .order_by(WebhookDelivery.id)
    ).all()
    if event.channel == lifecycle_events.CHANNEL:
        payload = json.dumps(json.loads(event.payload), ensure_ascii=False, indent=2)
    else:
        payload = xml.pretty(event.payload)
    return EventView(event, app, payload, list(deliveries))


def reprocess(session: Session, actor: str, event_id: int) -> None:
    """Run a failed (or ignored) event again, in the background (events.reprocess)."""
    status = session.scalar(select(InboundEvent.status).where(InboundEvent.id == event_id))
    if status in ("done", "pending"):
        # events.reprocess refuses only pending ones; a done event is not run twice from here.
        raise ActionFailed(
            _(
                "event %(id)s is %(status)s: only a failed or ignored one is re-run",
                id=event_id,
                status=labels.status(status),
            )
        )
    try:
        pipeline.reprocess(event_id)
    except (LookupError, ValueError) as exc:
        session.rollback()
        raise ActionFailed(str(exc)) from None
    audit.record(session, actor, "event.reprocess", f"event:{event_id}")
    session.commit()


# -- webhook deliveries ------------------------------------------------------------------------


def delivery_page(
    session: Session,
    *,
    app_id: str | None = None,
    tenant_id: str | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    query = (
        select(WebhookDelivery, App.app_id)
        .join(App, App.id == WebhookDelivery.app_pk)
        .options(defer(WebhookDelivery.body))
    )
    if app_id:
        query = query.where(App.app_id == app_id)
    if tenant_id:
        query = query.where(WebhookDelivery.tenant_id == tenant_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    if before:
        query = query.where(WebhookDelivery.id < before)
    return _page(session, query, limit, WebhookDelivery.id)


@dataclass(frozen=True)
class DeliveryView:
    delivery: WebhookDelivery
    app: App
    attempts: list[WebhookAttempt]


def delivery_view(session: Session, delivery_id: int) -> DeliveryView | None:
    delivery = session.get(WebhookDelivery, delivery_id, options=[defer(WebhookDelivery.body)])
    if delivery is None:
        return None
    attempts = session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_pk == delivery.id)
        .order_by(WebhookAttempt.id.desc())
        .limit(200)
    ).all()
    return DeliveryView(delivery, session.get(App, delivery.app_pk), list(attempts))


def redeliver(session: Session, actor: str, delivery_id: int) -> None:
    try:
        webhooks.redeliver(session, delivery_id)
    except (LookupError, ValueError) as exc:
        session.rollback()
        raise ActionFailed(str(exc)) from None
    audit.record(session, actor, "webhook.redeliver", f"delivery:{delivery_id}")
    session.commit()
