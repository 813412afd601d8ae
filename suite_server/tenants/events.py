"""Tenant lifecycle events: every change of a tenant's state becomes an event for the ISV's code
(`tenant.authorized`, `tenant.cancelled`, ...), written in the same transaction as the change.

Each history line that matters to the ISV (lifecycle.py writes one per change) adds a stored event
on the channel `lifecycle`, beside the pushes in `inbound_events`, written just before the
change's transaction commits: the tenant as the token API shows it then (its `ref` included),
what changed and from where. Once the transaction has committed, the event is enqueued to the job
`events.process`, which hands it to the handlers and webhooks exactly like a tenant message
(dispatch/): signed, retried, in order per tenant and receiver, redelivered on request. A commit
whose enqueue is lost (Redis away, a process killed after the commit) leaves the event pending
for the sweep; a rolled-back change leaves no event at all.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy import event as orm_event
from sqlalchemy.orm import Session

from suite_server.jobs import runner
from suite_server.models import InboundEvent, Tenant
from suite_server.tenants import views

log = logging.getLogger(__name__)

CHANNEL = "lifecycle"
# The history's actions (lifecycle.py) and the kind the ISV sees them as; others make no event.
KINDS = {
    "authorized": "tenant.authorized",
    "reauthorized": "tenant.authorized",  # a new authorization after a cancellation or a reset
    "recovered": "tenant.authorized",  # found authorized upstream by reconciliation
    "authorized_again": "tenant.updated",
    "auth_changed": "tenant.updated",
    "cancelled": "tenant.cancelled",
    "needs_reauth": "tenant.needs_reauth",
    "reactivated": "tenant.reactivated",
    "credential_reset": "tenant.credential_reset",
}
# Kinds that are not a history line (emit_kind): paid-app orders and editions, licenses
# (billing/), registrations (authorization/registrations.py).
OTHER_KINDS = (
    "order.opened",
    "order.changed",
    "order.paid",
    "order.refunded",
    "edition.changed",
    "license.paid",
    "license.refunded",
    "license.auto_activated",
    "license.unlicensed",
    "registration.succeeded",
    "registration.failed",
)
RETRIES = 8  # as processing/pipeline.py gives every event's job
_CHANGES = "suite_server.lifecycle_changes"  # noted, written before the commit
_OTHERS = "suite_server.lifecycle_others"  # emit_kind's, written before the commit
_PENDING = "suite_server.lifecycle_events"  # written, enqueued after the commit


def emit(session: Session, tenant_pk: int, action: str, source: str, detail: dict | None) -> None:
    """Note a history line's event (nothing for actions the ISV is not told of): it is written
    when the caller commits, inside that transaction, showing the tenant as the commit leaves it
    (with the first token an install stores after its history line), and enqueued after it."""
    if action in KINDS:
        session.info.setdefault(_CHANGES, []).append((tenant_pk, action, source, detail or {}))


def emit_kind(
    session: Session, app_pk: int, tenant_id: str, kind: str, body: dict[str, Any]
) -> None:
    """Note an event of a kind that is no history line (OTHER_KINDS), about the app's corp or
    account `tenant_id`, which may not be a tenant here: written when the caller commits, inside
    that transaction, with `body` beside the tenant as the token API shows it then (or null),
    and enqueued after it."""
    if kind not in OTHER_KINDS:
        raise ValueError(f"not a lifecycle kind of its own: {kind}")
    session.info.setdefault(_OTHERS, []).append((app_pk, tenant_id, kind, body))


@orm_event.listens_for(Session, "before_commit")
def _write_events(session: Session) -> None:
    written = _write_changes(session) + _write_others(session)
    if written:
        session.flush()
        session.info.setdefault(_PENDING, []).extend(event.id for event in written)


def _stored(app_pk: int, tenant_id: str, kind: str, body: dict) -> InboundEvent:
    return InboundEvent(
        app_pk=app_pk,
        tenant_id=tenant_id,
        channel=CHANNEL,
        kind=kind,
        dedupe_key=f"{CHANNEL}:{uuid.uuid4().hex}",
        raw="",
        payload=json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str),
        status="pending",
    )


def _write_others(session: Session) -> list[InboundEvent]:
    others = session.info.pop(_OTHERS, None)
    if not others:
        return []
    session.flush()
    written = []
    for app_pk, tenant_id, kind, extra in others:
        row = session.execute(
            views.columns(Tenant.auth_info).where(
                Tenant.app_pk == app_pk, Tenant.tenant_id == tenant_id
            )
        ).first()
        tenant = {**views.view(row), "auth_info": row.auth_info} if row is not None else None
        stored = _stored(app_pk, tenant_id, kind, {"tenant": tenant, **extra})
        session.add(stored)
        written.append(stored)
    return written


def _write_changes(session: Session) -> list[InboundEvent]:
    changes = session.info.pop(_CHANGES, None)
    if not changes:
        return []
    session.flush()  # the changes themselves, so the views below read them
    pks = {tenant_pk for tenant_pk, *_ in changes}
    rows = session.execute(
        views.columns(Tenant.app_pk, Tenant.auth_info).where(Tenant.id.in_(pks))
    ).all()
    tenants = {row.id: row for row in rows}
    written = []
    for tenant_pk, action, source, detail in changes:
        row = tenants.get(tenant_pk)
        if row is None:  # deleted in the same transaction
            continue
        body = {
            "tenant": {**views.view(row), "auth_info": row.auth_info},  # as GET .../tenants/<id>
            "change": {"action": action, "source": source, "detail": detail},
        }
        stored = _stored(row.app_pk, row.tenant_id, KINDS[action], body)
        session.add(stored)
        written.append(stored)
    return written


def body_of(payload: str) -> dict[str, Any]:
    """What `emit` stored: {"tenant": ..., "change": ...}; `emit_kind`: {"tenant", ...body}."""
    return json.loads(payload)


@orm_event.listens_for(Session, "after_commit")
def _enqueue_committed(session: Session) -> None:
    for event_id in session.info.pop(_PENDING, ()):
        try:
            runner.enqueue("events.process", event_id, job_id=f"event:{event_id}", retries=RETRIES)
        except Exception:
            log.exception("lifecycle event %s: enqueue failed; the sweep will retry it", event_id)


@orm_event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_CHANGES, None)
    session.info.pop(_OTHERS, None)
    session.info.pop(_PENDING, None)
