"""Storing pushes: one inbound event per push, deduplicated, and tickets kept newest-first."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from suite_server.apps import CallbackKeys
from suite_server.db import insert_ignoring_conflict, utcnow
from suite_server.models import InboundEvent, Ticket

log = logging.getLogger(__name__)

# platform -> (InfoType, field with the ticket, field naming the app, field with the push time)
TICKETS = {
    "wecom": ("suite_ticket", "SuiteTicket", "SuiteId", "TimeStamp"),  # wecom-suite.md §3
    "open": ("component_verify_ticket", "ComponentVerifyTicket", "AppId", "CreateTime"),  # §2
}
TICKET_KINDS = {info_type for info_type, *_ in TICKETS.values()}


def kind_of(fields: dict[str, str]) -> str:
    """InfoType for platform pushes; MsgType, or event:<Event>, for tenant messages."""
    if fields.get("InfoType"):
        return fields["InfoType"][:64]
    if fields.get("MsgType") == "event":
        return f"event:{fields.get('Event', '')}"[:64]
    return (fields.get("MsgType") or "unknown")[:64]


def dedupe_key(fields: dict[str, str], plaintext: bytes) -> str:
    """A platform retry carries the same plaintext (wecom-suite.md §1, open-platform.md §3), so
    its hash catches a resent ciphertext and a re-encrypted one alike; messages also carry a
    MsgId, which wins. Keying on InfoType + TimeStamp alone would merge two different
    change_contact events of the same second, so the whole plaintext is hashed."""
    if fields.get("MsgId"):
        return f"msgid:{fields['MsgId'][:200]}"
    return f"sha256:{hashlib.sha256(plaintext).hexdigest()}"


def accept(
    session: Session,
    app: CallbackKeys,
    *,
    channel: str,
    raw: str,
    plaintext: bytes,
    fields: dict[str, str],
    receive_id: str,
    tenant_id: str | None,
) -> int | None:
    """Store the push and commit; returns the new event's id, or None for a duplicate. A ticket
    is recorded in the same transaction, so an acknowledged ticket is never lost."""
    kind = kind_of(fields)
    info_type, value_field, owner_field, time_field = TICKETS[app.platform]
    ticket, status, error = None, "pending", None
    if kind == info_type:
        ticket, error = _ticket_of(app, fields, value_field, owner_field, time_field)
        status = "done" if ticket else "ignored"
    now = utcnow()
    event_id = insert_ignoring_conflict(
        session,
        InboundEvent,
        {
            "app_pk": app.id,
            "tenant_id": tenant_id,
            "channel": channel,
            "kind": kind,
            "dedupe_key": dedupe_key(fields, plaintext),
            "receive_id": receive_id,
            "raw": raw,
            "payload": plaintext.decode(),
            "status": status,
            "error": error,
            "attempts": 1 if ticket else 0,
            "processed_at": now if kind == info_type else None,
        },
        conflict=["app_pk", "dedupe_key"],
    )
    if event_id is None:
        session.rollback()
        log.info("app %s: duplicate %s push on %s ignored", app.app_id, kind, channel)
        return None
    if ticket:
        _record_ticket(session, app, *ticket)
    session.commit()
    return event_id


def _ticket_of(app, fields, value_field, owner_field, time_field):
    """((value, pushed_at), None) for a ticket to keep, or (None, why not)."""
    if fields.get(owner_field) != app.app_id:
        # Two apps sharing one URL or cache key overwrote each other's tickets
        # (wecom-suite.md §6.4, open-platform.md §7.3): never store another app's ticket.
        return None, f"ticket for {fields.get(owner_field)!r}, not this app"
    value = fields.get(value_field, "")
    if not value:
        return None, "empty ticket"
    stamp = fields.get(time_field, "")
    pushed_at = datetime.fromtimestamp(int(stamp), UTC) if stamp.isdigit() else utcnow()
    return (value, pushed_at), None


def _record_ticket(session: Session, app: CallbackKeys, value: str, pushed_at: datetime) -> None:
    """Keep every distinct ticket with the push's own time: the newest by that time is the one
    used, so a late older push never displaces a newer ticket. The same value pushed again
    (open-platform.md §1 [obs]) only moves its time forward."""
    value_hash = hashlib.sha256(value.encode()).hexdigest()
    new = insert_ignoring_conflict(
        session,
        Ticket,
        {"app_pk": app.id, "value": value, "value_hash": value_hash, "pushed_at": pushed_at},
        conflict=["app_pk", "value_hash"],
    )
    if new is None:
        session.execute(
            update(Ticket.__table__)
            .where(
                Ticket.app_pk == app.id,
                Ticket.value_hash == value_hash,
                Ticket.pushed_at < pushed_at,
            )
            .values(pushed_at=pushed_at, received_at=utcnow())
        )
