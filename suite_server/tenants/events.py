"""Tenant lifecycle events: every change of a tenant's state becomes an event for the ISV's code
(`tenant.authorized`, `tenant.cancelled`, ...), written in the same transaction as the change.

Each history line that matters to the ISV (lifecycle.py writes one per change) adds a stored event
on the channel `lifecycle`, beside the pushes in `inbound_events`: the tenant as the token API
shows it at that moment, what changed, from where, and the install's `ref`. Once the change's
transaction commits, the event is enqueued to the job `events.process`, which hands it to the
handlers and webhooks exactly like a tenant message (dispatch/): signed, retried, in order per
tenant and receiver, redelivered on request. A commit whose enqueue is lost (Redis away, a process
killed after the commit) leaves the event pending for the sweep; a rolled-back change leaves no
event at all.
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
_PENDING = "suite_server.lifecycle_events"


def emit(
    session: Session, tenant_pk: int, action: str, source: str, detail: dict | None
) -> int | None:
    """Write the event of one history line (nothing for actions the ISV is not told of); it is
    enqueued when the caller commits. Returns the event's id."""
    kind = KINDS.get(action)
    if kind is None:
        return None
    session.flush()  # the change itself, so the view below reads it
    row = session.execute(
        views.columns(Tenant.app_pk, Tenant.auth_info).where(Tenant.id == tenant_pk)
    ).one()
    body = {
        "tenant": {**views.view(row), "auth_info": row.auth_info},  # as GET .../tenants/<id>
        "change": {"action": action, "source": source, "detail": detail or {}},
    }
    stored = InboundEvent(
        app_pk=row.app_pk,
        tenant_id=row.tenant_id,
        channel=CHANNEL,
        kind=kind,
        dedupe_key=f"{CHANNEL}:{uuid.uuid4().hex}",
        raw="",
        payload=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status="pending",
    )
    session.add(stored)
    session.flush()
    session.info.setdefault(_PENDING, []).append(stored.id)
    return stored.id


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
    session.info.pop(_PENDING, None)
