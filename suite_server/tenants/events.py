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
ALL = sorted(set(KINDS.values()))
RETRIES = 8  # as processing/pipeline.py gives every event's job
_CHANGES = "suite_server.lifecycle_changes"  # noted, written before the commit
_PENDING = "suite_server.lifecycle_events"  # written, enqueued after the commit


def emit(session: Session, tenant_pk: int, action: str, source: str, detail: dict | None) -> None:
    """Note a history line's event (nothing for actions the ISV is not told of): it is written
    when the caller commits, inside that transaction, showing the tenant as the commit leaves it
    (with the first token an install stores after its history line), and enqueued after it."""
    if action in KINDS:
        session.info.setdefault(_CHANGES, []).append((tenant_pk, action, source, detail or {}))


@orm_event.listens_for(Session, "before_commit")
def _write_events(session: Session) -> None:
    changes = session.info.pop(_CHANGES, None)
    if not changes:
        return
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
        stored = InboundEvent(
            app_pk=row.app_pk,
            tenant_id=row.tenant_id,
            channel=CHANNEL,
            kind=KINDS[action],
            dedupe_key=f"{CHANNEL}:{uuid.uuid4().hex}",
            raw="",
            payload=json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str),
            status="pending",
        )
        session.add(stored)
        written.append(stored)
    session.flush()
    session.info.setdefault(_PENDING, []).extend(event.id for event in written)


def body_of(payload: str) -> dict[str, Any]:
    """What `emit` stored: {"tenant": ..., "change": ...}."""
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
    session.info.pop(_PENDING, None)
