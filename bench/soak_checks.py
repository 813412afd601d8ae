"""What bench/soak.py checks once the chaos is over: what our database kept, what the drain
waits for, the forced refresh of every tenant, and the figures it prints."""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
import sqlalchemy as sa
from defusedxml import ElementTree

from bench.soak_chaos import DEAD_TOKEN, Pushed, use_token
from bench.token_common import Call, Reads, log_summary, percentiles
from suite_server import db
from suite_server.models import App, InboundEvent, Tenant, Ticket

MESSAGE_CHANNELS = ("data", "msg")  # tenant messages (WeCom data URL, Open msg URL)
TICKET_FIELDS = ("SuiteTicket", "ComponentVerifyTicket")


@dataclass
class Stored:
    """What our database holds for the run's apps."""

    payloads: set[str] = field(default_factory=set)  # every inbound event's plaintext
    tickets: set[str] = field(default_factory=set)
    tenants: dict[tuple[str, str], tuple[str, bool]] = field(default_factory=dict)  # status, cred
    messages: list[int] = field(default_factory=list)  # ids of tenant-message events
    statuses: Counter = field(default_factory=Counter)  # inbound events by status
    pending: list[str] = field(default_factory=list)  # "evt_N kind received HH:MM:SS"


def stored(app) -> Stored:
    found = Stored()
    with app.app_context():
        session = db.session()
        events = sa.select(
            InboundEvent.payload,
            InboundEvent.channel,
            InboundEvent.status,
            InboundEvent.id,
            InboundEvent.kind,
            InboundEvent.received_at,
        )
        for payload, channel, status, event_id, kind, received_at in session.execute(events):
            found.payloads.add(payload)
            found.statuses[status] += 1
            if status == "pending":
                found.pending.append(f"evt_{event_id} {kind} received {received_at:%H:%M:%S}")
            if channel in MESSAGE_CHANNELS:
                found.messages.append(event_id)
        found.tickets = set(session.scalars(sa.select(Ticket.value)))
        for app_id, tenant_id, status, credential in session.execute(
            sa.select(App.app_id, Tenant.tenant_id, Tenant.status, Tenant.credential).join(
                App, App.id == Tenant.app_pk
            )
        ):
            found.tenants[(app_id, tenant_id)] = (status, bool(credential))
        session.rollback()
    return found


def ticket_of(payload: str) -> str | None:
    root = ElementTree.fromstring(payload)
    for name in TICKET_FIELDS:
        if root.findtext(name):
            return root.findtext(name)
    return None


def kept(push: Pushed, found: Stored) -> bool:
    """An answered push is kept when its event is stored and, for a ticket, the ticket; for an
    authorization, a tenant with a credential (the code was exchanged)."""
    if push.payload not in found.payloads:
        return False
    if push.kind == "ticket":
        return ticket_of(push.payload) in found.tickets
    if push.kind == "authorization":
        return found.tenants.get((push.app_id, push.tenant_id or "")) == ("active", True)
    return True


def unsettled(app, pushes: list[Pushed], receiver) -> str:
    """What the drain still waits for ("" when nothing): pending events, stored messages not
    yet delivered, answered authorizations without a tenant holding a credential."""
    found = stored(app)
    with receiver.lock:
        delivered = set(receiver.events)
    undelivered = sum(f"evt_{n}" not in delivered for n in found.messages)
    authorizations = sum(
        not kept(p, found) for p in pushes if p.delivered and p.kind == "authorization"
    )
    waiting = [
        f"{count} {what}"
        for count, what in (
            (found.statuses["pending"], "events pending"),
            (undelivered, "messages not delivered"),
            (authorizations, "authorizations without a tenant"),
        )
        if count
    ]
    return ", ".join(waiting) + (f" ({'; '.join(found.pending[:3])})" if found.pending else "")


def wrongly_needs_reauth(app, state) -> list[str]:
    """Our tenants in needs_reauth whose authorization the platform still holds."""
    found = stored(app)
    wrong = []
    for (app_id, tenant_id), (status, _) in found.tenants.items():
        tenant = state.tenant(app_id, tenant_id)
        if status == "needs_reauth" and tenant is not None and tenant.active:
            wrong.append(f"{app_id}/{tenant_id}")
    return wrong


def forced_refreshes(app, api: str, key: str, sandbox: str) -> list[str]:
    """Every tenant's token refreshed through our API (the served token given as stale, so the
    credential is used upstream) and used at the sandbox; returns the tenants that failed."""
    with app.app_context():
        session = db.session()
        tenants = session.execute(
            sa.select(App.platform, App.app_id, Tenant.tenant_id).join(App, App.id == Tenant.app_pk)
        ).all()
        session.rollback()
    headers = {"Authorization": f"Bearer {key}"}
    local = threading.local()

    def check(tenant) -> str | None:
        platform, app_id, tenant_id = tenant
        http = getattr(local, "http", None) or requests.Session()
        local.http = http
        path = f"{api}/api/v1/apps/{app_id}/tenants/{tenant_id}/access-token"
        for _ in range(3):  # a busy answer (503 refresh_in_progress) is asked again
            served = http.get(path, headers=headers, timeout=60)
            if served.status_code != 200:
                time.sleep(1)
                continue
            token = served.json()["access_token"]
            fresh = http.post(
                path + "/refresh", json={"stale_token": token}, headers=headers, timeout=60
            )
            if fresh.status_code != 200:
                time.sleep(1)
                continue
            errcode = use_token(http, sandbox, platform, fresh.json()["access_token"])
            return None if errcode == 0 else f"{app_id}/{tenant_id}: errcode {errcode}"
        return (
            f"{app_id}/{tenant_id}: {served.status_code} / {fresh.status_code}: {fresh.text[:120]}"
        )

    with ThreadPoolExecutor(8) as pool:
        return [failure for failure in pool.map(check, tenants) if failure]


@dataclass
class Outcome:
    args: argparse.Namespace
    pushes: list[Pushed]
    push_control_errors: Counter
    reads: Reads
    calls: list[Call]
    kills: dict
    crashes: dict
    drain_seconds: float
    unsettled: str
    credentials_lost: list[str]
    stored: Stored
    delivered_events: set[str]
    wrongly_needs_reauth: list[str]
    workdir: Path
    slots: list[str]


def report(o: Outcome) -> int:
    """Print the figures (one `label: value  (target ...)` a line, details indented); returns 1
    when a loss figure misses its target."""
    a, found, reads = o.args, o.stored, o.reads
    answered = [p for p in o.pushes if p.delivered]
    not_answered = [p for p in o.pushes if not p.delivered]
    kept_count = sum(kept(p, found) for p in answered)
    messages_delivered = sum(f"evt_{n}" in o.delivered_events for n in found.messages)
    expired = sum(reads.refused[code] for code in DEAD_TOKEN)
    new = sum(c.new for c in o.calls)
    per_new = len(o.calls) / new if new else None
    checks = [
        kept_count == len(answered),
        messages_delivered == len(found.messages),
        expired == 0,
        not o.wrongly_needs_reauth,
        per_new is not None and per_new <= 1.02,
        not o.credentials_lost,
    ]

    print(f"bench/soak.py  {time.strftime('%Y-%m-%d %H:%M')}")
    print(
        f"PostgreSQL, Redis; 3 gunicorns (1 worker each, one port), 2 workers, 2 cron; sandbox "
        f"latency {a.latency * 1000:.0f} ms, token lifetime {a.ttl} s, Open refresh tokens "
        f"rotating; {a.tenants} tenants per platform; {a.readers} readers; "
        f"{a.push_rate:g} pushes/s; a kill every {a.kill_every:g} s for {a.duration:g} s; "
        f"seed {a.seed}"
    )
    for kind in ("web", "worker", "cron"):
        print(f"kills {kind}: {o.kills.get(kind, 0)}")
    print(f"processes that exited by themselves: {sum(o.crashes.values())}")
    if o.crashes:
        print(f"  by slot: {o.crashes}")
    print(f"pushes sent: {len(o.pushes)}")
    print(f"pushes answered success: {len(answered)}")
    print(f"pushes answered success and stored: {kept_count}  (target = {len(answered)})")
    for kind in ("ticket", "authorization", "message"):
        mine = [p for p in answered if p.kind == kind]
        print(f"  {kind}s: {sum(kept(p, found) for p in mine)} of {len(mine)} kept")
    print(f"pushes not answered after the sandbox's attempts: {len(not_answered)}")
    if not_answered:
        print(f"  by kind: {dict(Counter(p.kind for p in not_answered))}")
        errors = Counter((p.error or "")[:60] for p in not_answered)
        print(f"  last errors: {dict(errors.most_common(4))}")
    attempts = Counter(p.attempts for p in answered)
    print(f"  answered pushes by attempts taken: {dict(sorted(attempts.items()))}")
    if o.push_control_errors:
        print(f"  sandbox control API errors: {dict(o.push_control_errors)}")
    print(f"messages stored: {len(found.messages)}")
    print(
        f"messages delivered to the receiver at least once: {messages_delivered}  "
        f"(target = {len(found.messages)})"
    )
    print(f"inbound events by status: {dict(found.statuses)}")
    print(f"tokens served: {reads.served}")
    print(f"tokens served expired: {expired}  (target = 0)")
    if reads.refused:
        print(f"  refused by the platform, by errcode: {dict(reads.refused)}")
        for example in reads.examples:
            print(f"  e.g. {example}")
    latencies = [x * 1000 for x in reads.latencies]
    print(f"  token API latency, ms: {percentiles(latencies, (0.5, 0.99, 1.0))}")
    print(f"token API errors: {sum(reads.api_errors.values())}")
    if reads.api_errors:
        print(f"  by status: {dict(reads.api_errors)}")
    print(f"tenants wrongly in needs_reauth: {len(o.wrongly_needs_reauth)}  (target = 0)")
    for tenant in o.wrongly_needs_reauth[:5]:
        print(f"  e.g. {tenant}")
    print(f"upstream tenant token calls: {len(o.calls)}")
    print(f"  by the token API: {sum(c.by_api for c in o.calls)}")
    print(f"  failed: {dict(Counter(c.errcode for c in o.calls if c.errcode is not None))}")
    print(f"new tenant tokens: {new}")
    shown = f"{per_new:.3f}" if per_new is not None else "n/a"
    print(f"upstream token calls per new token: {shown}  (target <= 1.02)")
    print(f"credentials lost: {len(o.credentials_lost)}  (target = 0)")
    for failure in o.credentials_lost[:5]:
        print(f"  e.g. {failure}")
    print(f"drain: {o.drain_seconds:.0f} s")
    if o.unsettled:
        print(f"  still unsettled when the drain gave up: {o.unsettled}")
    levels, messages, examples = log_summary(o.workdir, o.slots)
    print(f"  log lines by level: {dict(levels)}")
    for message, count in messages.most_common(10):
        print(f"  {count:6d}  {message}")
    if not all(checks):
        print("LOSS: a figure above missed its target")
        return 1
    return 0
