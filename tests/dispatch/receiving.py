"""What the receiver tests share: adding a receiver at a local server's URL, the kinds it got,
and the deliveries and attempts stored."""

from __future__ import annotations

import json

from sqlalchemy import select

from suite_server import db
from suite_server.dispatch.webhooks import receivers as rules
from suite_server.models import App, WebhookAttempt, WebhookDelivery


def add(app: App, receiver, name: str, *patterns: str, sync_: bool = False) -> str:
    """Add a receiver of `app` at receiver.url; its secret is kept on the receiver."""
    session = db.session()
    _, receiver.secret = rules.add(
        session, app, name=name, url=receiver.url, patterns=patterns, sync=sync_
    )
    session.commit()
    return receiver.secret


def kinds(receiver) -> list[str]:
    """The kinds a receiver got, in the order the deliveries were made."""
    ordered = sorted(receiver.requests, key=lambda r: int(r.headers["X-Suite-Server-Delivery"]))
    return [json.loads(r.body)["kind"] for r in ordered]


def deliveries(**where) -> list[WebhookDelivery]:
    db.session().expire_all()
    query = select(WebhookDelivery).order_by(WebhookDelivery.id)
    for name, value in where.items():
        query = query.where(getattr(WebhookDelivery, name) == value)
    return list(db.session().scalars(query))


def attempts(delivery_id: int) -> list[WebhookAttempt]:
    return list(
        db.session().scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_pk == delivery_id)
            .order_by(WebhookAttempt.id)
        )
    )
