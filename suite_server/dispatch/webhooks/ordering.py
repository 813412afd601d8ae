"""Webhook deliveries in order per tenant and receiver, without waiting deliveries polling.

A chain is what one app sends to one receiver URL for one tenant, in the order of the deliveries'
ids (the order their messages were stored). A delivery is *blocked* while an older one of its
chain is still pending and has failed fewer than ORDER_PATIENCE times; after that the newer ones
go ahead (one broken message must not hold a tenant's traffic back for a day).

Waiting used to mean polling: a blocked delivery's job looked again every 2 s, so a burst of one
tenant's messages took minutes to drain and ran many times more jobs than it had messages
(bench/webhook_drain.py measures both). Now a blocked delivery has no job, and the one blocking it
hands over when it is done:

- `unblocked`: `webhooks.schedule` enqueues a new delivery only when nothing blocks it.
- `claim`: every attempt starts with one UPDATE that takes the delivery only if it is pending,
  due, and not blocked, and marks it taken for CLAIM (in `next_attempt_at`). So a delivery's own
  job and a wake-up never both send it, and a job that finds it blocked just ends.
- `waiting_for`: when an attempt leaves a delivery no longer blocking (delivered, failed for
  good, or at its ORDER_PATIENCE-th failure), the deliveries that waited for it are enqueued
  at once, under job ids of their own (`webhook:<id>:after:<id>`), so a job of theirs that is
  just ending cannot swallow the wake-up.
- `heads`: a wake-up that was lost (a worker killed between its commit and the enqueue, Redis
  away) is made good by the sweep, which enqueues the overdue deliveries nothing blocks.

No delivery is left waiting with nobody to wake it: the enqueuer checks `unblocked` after its
delivery is committed and the blocker looks for waiters after its own state is committed, so one
of the two sees the other's commit; likewise a claim refused as blocked was looked at before the
blocker's commit, and the blocker's wake-up, after it, is claimed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, exists, func, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session, aliased

from suite_server.models import App, WebhookDelivery, WebhookReceiver

ORDER_PATIENCE = 3  # failures of an older delivery after which the newer ones stop waiting
# Longer than one attempt (connect 3 s + read 10 s, then recording it): a job that died with its
# claim leaves the delivery overdue CLAIM later, for the sweep.
CLAIM = timedelta(seconds=60)
# A retry's job may come a little before its next_attempt_at, by the clocks of two machines.
EARLY = timedelta(seconds=5)
WAKE_BATCH = 50


_older = aliased(WebhookDelivery, name="older")
# True for a WebhookDelivery row that an older pending delivery of its chain holds back. Built
# once, as the statements below: every attempt uses them, and building them costs more CPU than
# running them.
BLOCKED = exists().where(
    _older.app_pk == WebhookDelivery.app_pk,
    _older.url == WebhookDelivery.url,
    _older.tenant_id == WebhookDelivery.tenant_id,
    _older.id < WebhookDelivery.id,
    _older.status == "pending",
    _older.attempts < ORDER_PATIENCE,
)
_CLAIM = (
    update(WebhookDelivery.__table__)
    .where(
        WebhookDelivery.id == bindparam("delivery_id"),
        WebhookDelivery.status == "pending",
        or_(
            WebhookDelivery.next_attempt_at.is_(None),
            WebhookDelivery.next_attempt_at <= bindparam("due"),
        ),
        ~BLOCKED,
    )
    .values(next_attempt_at=bindparam("until"))
    .returning(
        WebhookDelivery.url,
        WebhookDelivery.body,
        WebhookDelivery.event_pk,
        # Read as the attempt starts: a rotated secret applies to retries at once. A receiver's
        # own, while it is enabled (None when it is not); the app's for its and tenants' URLs.
        case(
            (
                # Not `receiver_pk IS NULL`: SQLite 3.40 answers false in a RETURNING clause.
                func.coalesce(WebhookDelivery.receiver_pk, 0) == 0,
                select(App.webhook_secret)
                .where(App.id == WebhookDelivery.app_pk)
                .scalar_subquery(),
            ),
            else_=select(WebhookReceiver.secret)
            .where(WebhookReceiver.id == WebhookDelivery.receiver_pk, WebhookReceiver.enabled)
            .scalar_subquery(),
        ),
        WebhookDelivery.receiver_pk,
    )
)


def unblocked(session: Session, delivery_ids: Iterable[int]) -> list[int]:
    """Those of `delivery_ids` nothing holds back (their turn has come), in order."""
    ids = list(delivery_ids)
    if not ids:
        return []
    found = session.scalars(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.id.in_(ids), ~BLOCKED)
        .order_by(WebhookDelivery.id)
    ).all()
    session.rollback()
    return list(found)


def autocommit(session: Session) -> None:
    """Run the session's next statements in autocommit: each one, alone, is its own transaction,
    without the BEGIN and COMMIT round trips (an attempt's claim and reads; end with rollback)."""
    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def claim(session: Session, delivery_id: int, now: datetime) -> Row | None:
    """Take the delivery for one attempt if it is pending, due, its turn, and nobody else's
    now. Returns what the attempt needs (url, body, event_pk, the secret to sign with,
    receiver_pk), or None. One statement: run it in autocommit, or commit. The secret is None
    when the app has none, or when the delivery's receiver is disabled."""
    params = {"delivery_id": delivery_id, "due": now + EARLY, "until": now + CLAIM}
    return session.execute(_CLAIM, params).first()


def stopped_blocking(status: str, attempts: int) -> bool:
    """Whether the attempt just recorded (the `attempts`-th) ended this delivery's hold on the
    newer ones of its chain: it was holding them before, and holds them no longer."""
    was = attempts - 1 < ORDER_PATIENCE
    return was and (status != "pending" or attempts >= ORDER_PATIENCE)


@dataclass(frozen=True)
class Place:
    """A delivery's place: its chain, and its id in it."""

    app_pk: int
    url: str
    tenant_id: str | None
    delivery_id: int

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> Place:
        return cls(delivery.app_pk, delivery.url, delivery.tenant_id, delivery.id)


def waiting_for(session: Session, place: Place) -> list[int]:
    """The deliveries the one at `place` held back: the pending newer ones of its chain, up to
    the first that holds back the rest itself."""
    if place.tenant_id is None:
        return []  # no tenant, no chain: it never held anything back
    autocommit(session)
    newer = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.attempts)
        .where(
            WebhookDelivery.app_pk == place.app_pk,
            WebhookDelivery.url == place.url,
            WebhookDelivery.tenant_id == place.tenant_id,
            WebhookDelivery.id > place.delivery_id,
            WebhookDelivery.status == "pending",
        )
        .order_by(WebhookDelivery.id)
        .limit(WAKE_BATCH)
    ).all()
    session.rollback()
    woken = []
    for delivery_id, attempts in newer:
        woken.append(delivery_id)
        if attempts < ORDER_PATIENCE:
            break
    return woken


def heads(session: Session, overdue_before: datetime, limit: int) -> list[int]:
    """Pending deliveries overdue since before `overdue_before` that nothing holds back: their
    job, or the wake-up meant for them, was lost."""
    ids = session.scalars(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.status == "pending",
            or_(
                WebhookDelivery.next_attempt_at.is_(None),
                WebhookDelivery.next_attempt_at < overdue_before,
            ),
            ~BLOCKED,
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    ).all()
    session.rollback()
    return list(ids)
