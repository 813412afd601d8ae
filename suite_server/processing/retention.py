"""How long what we store is kept: RETENTION_DAYS per kind (settings.py), pruned by the periodic
job `retention.prune` (jobs/schedule.py), and what the dashboard shows of the tables' size.

What is pruned, older than its kind's days (0 keeps it forever):
- `deliveries`: delivered webhook deliveries, with their attempts; `failed_deliveries`: failed
  ones (kept longer, to be redelivered). A pending delivery is never pruned: the webhook sweep
  ends it as delivered or failed first.
- `events`: processed inbound events (done, ignored); `failed_events`: failed and still pending
  ones, over their own longer window. An event is kept while any of its deliveries is: its page
  links them, and a redelivery re-reads nothing from it, but an admin following one expects it.
- `audit`: the admin audit log; `tickets`: pushed tickets (they live 30 minutes to 12 hours).

The walk: rows are read oldest first by id (ids grow with the time a row was stored), BATCH at
a time; those past their window are deleted by id, in a transaction of their own that re-checks
the condition, so a row that changed meanwhile (an event re-processed) stays. No statement scans
a table or holds a lock longer than one batch: a push stored at the same moment waits for one
short DELETE at most, and only on the pages the batch touches. The walk stops at the first rows
too young for any rule, or after a run's time budget; a killed run leaves only rows the next one
deletes. The charts' hourly counts (activity) are kept apart and survive this.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Table, and_, delete, exists, or_, select, text
from sqlalchemy.orm import Session

from suite_server import db
from suite_server.db import utcnow
from suite_server.jobs.tasks import task
from suite_server.models import AuditEntry, InboundEvent, Ticket, WebhookDelivery

BATCH = 1000
RUN_SECONDS = 60.0  # a run's budget; the job runs every 10 minutes, a backlog over several
PROCESSED_EVENTS = ("done", "ignored")
UNRESOLVED_EVENTS = ("failed", "pending")


@dataclass(frozen=True)
class Kept:
    """One table as the dashboard shows it."""

    table: str
    rows: int
    bytes: int | None  # PostgreSQL only
    oldest_at: datetime | None
    days: list[tuple[str, int]]  # the retention settings that apply: (kind, days)


def days() -> dict[str, int]:
    return current_app.config["RETENTION_DAYS"]


@task("retention.prune", queue="low")
def prune(now: datetime | None = None) -> dict[str, int]:
    """Delete what is past its retention; returns how many rows of each table."""
    now = now or utcnow()
    deadline = time.monotonic() + RUN_SECONDS
    keep = days()

    def cutoff(kind: str) -> datetime | None:
        return now - timedelta(days=keep[kind]) if keep[kind] else None

    delivered, failed = cutoff("deliveries"), cutoff("failed_deliveries")
    done, unresolved = cutoff("events"), cutoff("failed_events")
    audit, tickets = cutoff("audit"), cutoff("tickets")
    d, e = WebhookDelivery, InboundEvent
    return {
        # Deliveries first: an event whose deliveries go in this run goes in this run too.
        "webhook_deliveries": _walk(
            d.__table__,
            d.created_at,
            [
                (delivered, d.status == "delivered"),
                (failed, d.status == "failed"),
            ],
            deadline,
        ),
        "inbound_events": _walk(
            e.__table__,
            e.received_at,
            [
                (done, e.status.in_(PROCESSED_EVENTS)),
                (unresolved, e.status.in_(UNRESOLVED_EVENTS)),
            ],
            deadline,
            also=~exists().where(d.event_pk == e.id),
        ),
        "audit_entries": _walk(AuditEntry.__table__, AuditEntry.at, [(audit, None)], deadline),
        "tickets": _walk(Ticket.__table__, Ticket.received_at, [(tickets, None)], deadline),
    }


def _walk(table: Table, stored_at, rules, deadline: float, also=None) -> int:
    """Delete the rows of `table` matching any rule (cutoff, condition): stored before the
    cutoff and meeting the condition (and `also`), walking from the oldest id."""
    rules = [(cutoff, condition) for cutoff, condition in rules if cutoff is not None]
    if not rules:
        return 0
    newest_cutoff = max(cutoff for cutoff, _ in rules)
    prunable = or_(
        *(
            and_(stored_at < cutoff, *([condition] if condition is not None else []))
            for cutoff, condition in rules
        )
    )
    if also is not None:
        prunable = and_(prunable, also)
    pk = table.c.id
    session, after, deleted = db.session(), 0, 0
    while time.monotonic() < deadline:
        ids = session.execute(
            select(pk, stored_at).where(pk > after).order_by(pk).limit(BATCH)
        ).all()
        if not ids:
            break
        chunk = [row[0] for row in ids if row[1] < newest_cutoff]
        if chunk:
            result = session.execute(delete(table).where(pk.in_(chunk), prunable))
            deleted += result.rowcount
        session.commit()
        after = ids[-1][0]
        if len(ids) < BATCH or ids[-1][1] >= newest_cutoff:
            break  # the rest is too young for any rule
    session.rollback()
    return deleted


# -- what the dashboard shows ------------------------------------------------------------------

SHOWN = [
    (InboundEvent, InboundEvent.received_at, ["events", "failed_events"]),
    (WebhookDelivery, WebhookDelivery.created_at, ["deliveries", "failed_deliveries"]),
    ("webhook_attempts", None, ["deliveries", "failed_deliveries"]),
    (AuditEntry, AuditEntry.at, ["audit"]),
    (Ticket, Ticket.received_at, ["tickets"]),
]


def storage(session: Session) -> list[Kept]:
    """Each pruned table's rows, size on disk (PostgreSQL) and oldest row kept: cheap reads
    (PostgreSQL's row estimate, the first row by id), never a count over a big table there."""
    postgres = session.get_bind().dialect.name == "postgresql"
    keep, shown = days(), []
    for model, stored_at, kinds in SHOWN:
        name = model if isinstance(model, str) else model.__tablename__
        if postgres:
            rows, size = session.execute(
                text(
                    "SELECT greatest(reltuples, 0)::bigint, pg_total_relation_size(oid) "
                    "FROM pg_class WHERE oid = to_regclass(:name)"
                ),
                {"name": name},
            ).one()
        else:
            rows = session.scalar(text(f'SELECT count(*) FROM "{name}"'))  # noqa: S608
            size = None
        oldest = None
        if stored_at is not None:
            oldest = session.scalar(select(stored_at).order_by(model.id).limit(1))
        shown.append(Kept(name, int(rows), size, oldest, [(k, keep[k]) for k in kinds]))
    session.rollback()
    return shown


def estimate_rows_fresh(session: Session) -> None:
    """PostgreSQL's row estimates come from ANALYZE (autovacuum runs it); tests call this."""
    if session.get_bind().dialect.name == "postgresql":
        for model, _, _ in SHOWN:
            name = model if isinstance(model, str) else model.__tablename__
            session.execute(text(f'ANALYZE "{name}"'))
        session.commit()
