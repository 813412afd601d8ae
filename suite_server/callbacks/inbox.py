"""Storing pushes: one inbound event per push, deduplicated, and tickets kept newest-first."""

from __future__ import annotations

import functools
import hashlib
import logging
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.dialects import sqlite

from suite_server import db
from suite_server.callbacks.keys import CallbackKeys
from suite_server.db import GroupCommit, _insert_ignoring, utcnow
from suite_server.models import InboundEvent, Ticket
from suite_server.protocol.kinds import TICKETS, kind_of
from suite_server.protocol.xml import whole_number

log = logging.getLogger(__name__)


def dedupe_key(fields: dict[str, str], plaintext: bytes, tenant_id: str | None) -> str:
    """A platform retry carries the same plaintext (wecom-suite.md §1, open-platform.md §3), so
    its hash catches a resent ciphertext and a re-encrypted one alike; messages also carry a
    MsgId, which wins. Keying on InfoType + TimeStamp alone would merge two different
    change_contact events of the same second, so the whole plaintext is hashed.

    A MsgId is unique only within one corp or account (CreateTime in its high 32 bits and a
    counter: two busy tenants collide in the same second), so a tenant's key names the tenant:
    `msgid:<tenant>:<MsgId>`, `sha256:<tenant>:<hash>`; pushes of no tenant (tickets) keep
    `msgid:<MsgId>` / `sha256:<hash>`. Migration 0007 gave the rows stored before the same keys."""
    if fields.get("MsgId"):
        if tenant_id:
            return f"msgid:{tenant_id}:{fields['MsgId'][:180]}"  # within the column's 255
        return f"msgid:{fields['MsgId'][:200]}"
    digest = hashlib.sha256(plaintext).hexdigest()
    return f"sha256:{tenant_id}:{digest}" if tenant_id else f"sha256:{digest}"


def accept(
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
    is recorded in the same transaction, so an acknowledged ticket is never lost. Pushes that
    arrive together in this process share one transaction (see `GroupCommit`)."""
    kind = kind_of(fields)
    info_type, value_field, owner_field, time_field = TICKETS[app.platform]
    now = utcnow()
    ticket, status, error = None, "pending", None
    if kind == info_type:
        ticket, error = _ticket_of(app, fields, value_field, owner_field, time_field, now)
        status = "done" if ticket else "ignored"
    event = {
        "app_pk": app.id,
        "tenant_id": tenant_id,
        "channel": channel,
        "kind": kind,
        "dedupe_key": dedupe_key(fields, plaintext, tenant_id),
        "receive_id": receive_id,
        "raw": raw,
        "payload": plaintext.decode(),
        "status": status,
        "error": error,
        "attempts": 1 if ticket else 0,
        "received_at": now,
        "processed_at": now if kind == info_type else None,
    }
    event_id = _group_commit().submit((event, ticket))
    if event_id is None:
        log.info("app %s: duplicate %s push on %s ignored", app.app_id, kind, channel)
    return event_id


def _group_commit() -> GroupCommit:
    """The app's one writer of pushes (per process)."""
    found = current_app.extensions.get("suite_server.inbox")
    if found is None:
        writer = GroupCommit(functools.partial(_store, db.push_engine()))
        found = current_app.extensions.setdefault("suite_server.inbox", writer)
    return found


def _store(engine: Engine, items: list[tuple[dict, dict | None]]) -> list[int | None]:
    """The events (a duplicate is skipped) and their tickets, in one transaction; returns the
    new events' ids, None for a duplicate."""
    events = [event for event, _ in items]
    # Keep every distinct ticket with the push's own time: the newest by that time is the one
    # used, so a late older push never displaces a newer ticket. The same value pushed again
    # (open-platform.md §1 [obs]) only moves its time forward; a duplicate push carries the
    # same time and changes nothing.
    newest: dict[tuple, dict] = {}
    for _, ticket in items:
        if ticket is None:
            continue
        key = (ticket["app_pk"], ticket["value_hash"])
        if key not in newest or newest[key]["pushed_at"] < ticket["pushed_at"]:
            newest[key] = ticket
    tickets = list(newest.values())
    if engine.dialect.name == "postgresql":
        rows = _store_in_one_statement(engine, events, tickets)
    else:
        with engine.begin() as connection:
            rows = connection.execute(_sqlite_insert_events(), events).all()
            if tickets:
                connection.execute(_sqlite_upsert_tickets(), tickets)
    stored = {(app_pk, dedupe_key): event_id for event_id, app_pk, dedupe_key in rows}
    return [stored.pop((event["app_pk"], event["dedupe_key"]), None) for event in events]


def _store_in_one_statement(engine: Engine, events: list[dict], tickets: list[dict]) -> list:
    """PostgreSQL: the same two writes as one statement (the events' INSERT and the tickets'
    upsert as data-modifying CTEs), in autocommit: one round trip and one commit, where
    SQLAlchemy's executemany made it four, and its statement building cost more than the rest of
    a push together (bench/callbacks.py). The values go through the columns' own types
    (encryption, UTC), as they would through SQLAlchemy."""
    sql = _one_statement(len(events), len(tickets))
    dialect = engine.dialect
    params = [value for event in events for value in _bound(dialect, _EVENT_COLUMNS, event)]
    params += [value for ticket in tickets for value in _bound(dialect, _TICKET_COLUMNS, ticket)]
    # In autocommit (db.init_app); the driver's errors come out as SQLAlchemy's.
    with db.raw_connection(engine, sql) as connection, connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


_EVENTS, _TICKETS = InboundEvent.__table__, Ticket.__table__
_EVENT_COLUMNS = [
    _EVENTS.c[name]
    for name in (
        "app_pk",
        "tenant_id",
        "channel",
        "kind",
        "dedupe_key",
        "receive_id",
        "raw",
        "payload",
        "status",
        "error",
        "attempts",
        "received_at",
        "processed_at",
    )
]
_TICKET_COLUMNS = [
    _TICKETS.c[n] for n in ("app_pk", "value", "value_hash", "pushed_at", "received_at")
]


def _bound(dialect, columns: list, values: dict) -> list:
    """`values` in the columns' order, as their types write them (encrypted, naive UTC)."""
    out = []
    for column in columns:
        process = _bind_processor(dialect, column)
        value = values[column.name]
        out.append(process(value) if process is not None and value is not None else value)
    return out


@functools.cache
def _bind_processor(dialect, column):
    return column.type.bind_processor(dialect)


@functools.cache
def _one_statement(events: int, tickets: int) -> str:
    def rows(columns: list, count: int) -> str:
        return ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * count)

    def names(columns: list) -> str:
        return ", ".join(column.name for column in columns)

    sql = (
        f"WITH new_events AS (INSERT INTO inbound_events ({names(_EVENT_COLUMNS)}) "
        f"VALUES {rows(_EVENT_COLUMNS, events)} ON CONFLICT (app_pk, dedupe_key) DO NOTHING "
        "RETURNING id, app_pk, dedupe_key)"
    )
    if tickets:
        sql += (
            f", new_tickets AS (INSERT INTO tickets ({names(_TICKET_COLUMNS)}) "
            f"VALUES {rows(_TICKET_COLUMNS, tickets)} ON CONFLICT (app_pk, value_hash) "
            "DO UPDATE SET pushed_at = excluded.pushed_at, received_at = excluded.received_at "
            "WHERE tickets.pushed_at < excluded.pushed_at)"
        )
    return sql + " SELECT id, app_pk, dedupe_key FROM new_events"


def _sqlite_insert_events():
    return _insert_ignoring(
        "sqlite", _EVENTS, ("app_pk", "dedupe_key"), ("id", "app_pk", "dedupe_key")
    )


@functools.cache
def _sqlite_upsert_tickets():
    insert = sqlite.insert(_TICKETS)
    return insert.on_conflict_do_update(
        index_elements=["app_pk", "value_hash"],
        set_={"pushed_at": insert.excluded.pushed_at, "received_at": insert.excluded.received_at},
        where=_TICKETS.c.pushed_at < insert.excluded.pushed_at,
    )


# The newest ticket by its own push time is the one used, so a push time from the future would
# keep its ticket "newest" until that time came. A ticket's time later than its arrival by more
# than this, or no plain number ("²", 20 digits, the year 10000), is not believed: the ticket is
# kept with its arrival time. Refusing the push instead would lose a ticket the platform signed:
# it retries a refused push unchanged, never with a better time.
TICKET_CLOCK_SKEW = 600  # seconds


def _push_time(app: CallbackKeys, stamp: str, now: datetime) -> datetime:
    seconds = whole_number(stamp)
    if seconds is not None and seconds <= now.timestamp() + TICKET_CLOCK_SKEW:
        return datetime.fromtimestamp(seconds, UTC)
    log.warning(
        "app %s: ticket push time %r not believed; kept with its arrival time",
        app.app_id,
        stamp[:40],
    )
    return now


def _ticket_of(app, fields, value_field, owner_field, time_field, now):
    """(the tickets row to write, None) for a ticket to keep, or (None, why not)."""
    if fields.get(owner_field) != app.app_id:
        # Two apps sharing one URL or cache key overwrote each other's tickets
        # (wecom-suite.md §6.4, open-platform.md §7.3): never store another app's ticket.
        return None, f"ticket for {fields.get(owner_field)!r}, not this app"
    value = fields.get(value_field, "")
    if not value:
        return None, "empty ticket"
    pushed_at = _push_time(app, fields.get(time_field, ""), now)
    value_hash = hashlib.sha256(value.encode()).hexdigest()
    return {
        "app_pk": app.id,
        "value": value,
        "value_hash": value_hash,
        "pushed_at": pushed_at,
        "received_at": now,
    }, None
