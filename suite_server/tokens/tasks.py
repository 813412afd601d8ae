"""The background jobs that keep tokens fresh. `tokens.sweep` (every SWEEP_EVERY seconds, from
the schedule) enqueues `tokens.refresh_app` for every app token due soon and hands out the tenant
tokens due soon in batches: `tokens.refresh_tenants`, each delayed to the time its last token is
due, refreshes its tenants REFRESH_CONCURRENCY at a time. The platforms answer in 50-200 ms, so a
worker that refreshed one tenant after the other would spend its time waiting (bench/refresh.py).

Each tenant's refresh keeps every guarantee of store.obtain: its own lock, compare-and-set, one
upstream call. A token handed to a batch is marked `queued_for` that batch's time, in the same
statement that checks it was not handed out already, so two sweeps (two cron processes) never
hand one token to two batches; a batch lost with a killed worker or with Redis is handed out again
QUEUED_STALE after its time. It also watches tickets."""

from __future__ import annotations

import contextvars
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import groupby

from flask import current_app
from sqlalchemy import case, func, literal, or_, select, update

from suite_server import db
from suite_server.apps import as_utc, tickets_overdue
from suite_server.db import utcnow
from suite_server.errors import TokenUnavailable
from suite_server.jobs import attempts, runner
from suite_server.jobs.tasks import task
from suite_server.models import App, AppToken, Tenant, TenantToken, Ticket
from suite_server.ops import logs
from suite_server.tokens.app_tokens import serve_app_token
from suite_server.tokens.rows import Served
from suite_server.tokens.tenant_tokens import serve_tenant_token

log = logging.getLogger(__name__)

SWEEP_EVERY = 60  # seconds: the schedule's period for tokens.sweep
SWEEP_AHEAD = 3 * SWEEP_EVERY  # refreshes are scheduled this far ahead: a late sweep is harmless
SWEEP_BATCH = 20_000
JOB_RETRIES = 5
REFRESH_BATCH = 100  # tenants per tokens.refresh_tenants job
MARK_BATCH = 1_000  # token rows marked per statement
BATCH_RETRIES = 2
QUEUED_STALE = timedelta(minutes=5)  # a batch not done this long after its time was lost


@task("tokens.refresh_app")
def refresh_app(app_pk: int) -> None:
    session = db.session()
    app = session.get(App, app_pk)
    if app is None:
        return
    logs.bind(app_id=app.app_id)
    _refresh(f"app {app.app_id}: app token", lambda: serve_app_token(session, app, due=True))


@task("tokens.refresh_tenant")
def refresh_tenant(tenant_pk: int) -> None:
    """One tenant's token, the job the sweep enqueued before batches: kept for such jobs still
    queued after an upgrade."""
    session = db.session()
    tenant = session.get(Tenant, tenant_pk)
    if tenant is None or tenant.status != "active":
        return  # cancelled or given up meanwhile: no more refreshes
    logs.bind(tenant_id=tenant.tenant_id)
    _refresh(
        f"tenant {tenant.tenant_id}: token", lambda: serve_tenant_token(session, tenant, due=True)
    )


def _refresh(what: str, serve: Callable[[], Served]) -> None:
    try:
        serve()
    except TokenUnavailable as exc:
        if exc.retryable:
            raise  # no ticket yet, a busy platform: the runner says so in one line, and retries
        log.warning("%s not refreshed: %s", what, exc.message)


@task("tokens.sweep")
def sweep() -> dict[str, int]:
    """Enqueue a refresh for every token whose refresh time falls in the next SWEEP_AHEAD
    seconds, delayed to that time (an app token's job already waiting is not enqueued twice; a
    tenant token is handed to one batch); watch tickets. Returns counts. On the default queue,
    so a backlog of low jobs never holds it up."""
    session = db.session()
    now = utcnow()
    horizon = now + timedelta(seconds=SWEEP_AHEAD)
    counts = {"apps": 0, "tenants": 0, "stale_tickets": 0}
    newest = {
        app_pk: as_utc(received_at)
        for app_pk, received_at in session.execute(
            select(Ticket.app_pk, func.max(Ticket.received_at)).group_by(Ticket.app_pk)
        )
    }
    for app_pk, app_id, kind, registered_at, refresh_at in session.execute(
        select(App.id, App.app_id, App.kind, App.created_at, AppToken.refresh_at).outerjoin(
            AppToken, AppToken.app_pk == App.id
        )
    ).all():
        # A provider account gets its token from its secret alone: no tickets to watch.
        if kind != "provider" and tickets_overdue(newest.get(app_pk), registered_at, now):
            counts["stale_tickets"] += 1
            log.warning("app %s: no ticket received for 20 minutes or more", app_id)
        if newest.get(app_pk) is None and kind in ("suite", "template"):
            continue  # nothing to refresh with until WeCom pushes a ticket (Open: we ask it)
        if refresh_at is None or refresh_at <= horizon:
            _enqueue("tokens.refresh_app", app_pk, f"app-token:{app_pk}", refresh_at, now)
            counts["apps"] += 1
    counts["tenants"] = _hand_out_tenants(session, now, horizon)
    return counts


def _hand_out_tenants(session, now: datetime, horizon: datetime) -> int:
    """Hand each tenant token due by `horizon`, and not handed out already, to a batch job that
    runs when its last token is due (whole seconds: RQ's scheduler keeps no finer time). A token
    handed out is marked with its refresh time, or now if that has passed."""
    table = TenantToken.__table__
    due_now = or_(table.c.refresh_at.is_(None), table.c.refresh_at <= now)
    not_queued = or_(
        table.c.queued_for.is_(None),
        table.c.queued_for < table.c.refresh_at,  # refreshed or expired since it was handed out
        table.c.queued_for < now - QUEUED_STALE,
    )
    due = session.scalars(
        select(table.c.id)
        .join(Tenant, Tenant.id == table.c.tenant_pk)
        .where(
            Tenant.status == "active",
            or_(due_now, table.c.refresh_at <= horizon),
            not_queued,
        )
        .order_by(table.c.refresh_at)
        .limit(SWEEP_BATCH)
    ).all()
    handed = []
    for first in range(0, len(due), MARK_BATCH):
        handed += session.execute(
            update(table)
            .where(table.c.id.in_(due[first : first + MARK_BATCH]), not_queued)
            .values(
                queued_for=case(
                    (due_now, literal(now, table.c.queued_for.type)), else_=table.c.refresh_at
                )
            )
            .returning(table.c.tenant_pk, table.c.queued_for)
        ).all()
    session.commit()
    handed.sort(key=lambda row: row.queued_for)
    batches = [
        (second, [row.tenant_pk for row in rows[at : at + REFRESH_BATCH]])
        for second, group in groupby(handed, key=lambda row: _second_of(row.queued_for, now))
        for rows in [list(group)]
        for at in range(0, len(rows), REFRESH_BATCH)
    ]
    for done, (second, tenant_pks) in enumerate(batches):
        try:
            # Retries for a batch cut short (its worker killed: recovery.py puts it back): each
            # tenant's own failures are retried by the batch itself.
            runner.enqueue(
                "tokens.refresh_tenants",
                sorted(tenant_pks),
                delay=(second - now).total_seconds(),
                retries=BATCH_RETRIES,
            )
        except Exception:
            # Not handed out after all: the next sweep tries again.
            left = [pk for _, pks in batches[done:] for pk in pks]
            session.execute(
                update(table).where(table.c.tenant_pk.in_(left)).values(queued_for=None)
            )
            session.commit()
            raise
    return len(handed)


def _second_of(queued_for: datetime, now: datetime) -> datetime:
    """When a token marked `queued_for` is refreshed: now if that has come, else the whole
    second after it."""
    if queued_for <= now:
        return now
    return datetime.fromtimestamp(math.ceil(queued_for.timestamp()), UTC)


@task("tokens.refresh_tenants")
def refresh_tenants(tenant_pks: list[int], attempt: int = 0) -> dict[str, int]:
    """Refresh these tenants' tokens where due, REFRESH_CONCURRENCY at a time, each in an app
    context (and so a database session) of its own. Those that failed for a reason that passes
    (a busy platform, no ticket yet) are tried again with backoff, in one job, JOB_RETRIES times;
    after that the sweep hands them out again. Returns counts by outcome."""
    app = current_app._get_current_object()

    def one(tenant_pk: int) -> str:
        with app.app_context():
            return _refresh_one(tenant_pk)

    threads = min(app.config["REFRESH_CONCURRENCY"], len(tenant_pks)) or 1
    with ThreadPoolExecutor(threads, thread_name_prefix="refresh") as pool:
        # Each call in a copy of this job's context, so its log lines name the job.
        futures = [pool.submit(contextvars.copy_context().run, one, pk) for pk in tenant_pks]
        outcomes = [future.result() for future in futures]
    again = [pk for pk, outcome in zip(tenant_pks, outcomes, strict=True) if outcome == "retry"]
    if again and attempt < JOB_RETRIES:
        runner.enqueue(
            "tokens.refresh_tenants",
            again,
            attempt + 1,
            delay=attempts.backoff(attempt + 1),
            retries=BATCH_RETRIES,
        )
    elif again:
        log.warning("%d tenant tokens not refreshed; the sweep hands them out again", len(again))
    return {outcome: outcomes.count(outcome) for outcome in set(outcomes)}


def _refresh_one(tenant_pk: int) -> str:
    """One tenant of a batch: "done", "skipped" (no longer active), "failed" (for good: logged;
    the tenant's state says why) or "retry"."""
    session = db.session()
    tenant = session.get(Tenant, tenant_pk)
    if tenant is None or tenant.status != "active":
        return "skipped"
    logs.bind(tenant_id=tenant.tenant_id)
    try:
        serve_tenant_token(session, tenant, due=True)
    except TokenUnavailable as exc:
        log.warning("tenant %s: token not refreshed: %s", tenant.tenant_id, exc.message)
        return "retry" if exc.retryable else "failed"
    except Exception:
        log.exception("tenant %s: token refresh failed", tenant.tenant_id)
        return "retry"
    return "done"


def _enqueue(name: str, pk: int, job_id: str, refresh_at: datetime | None, now: datetime) -> None:
    # Due now or later within this sweep's period: the job waits until its own refresh time. The
    # app token is refreshed by the first tenant refresh that needs it, under its lock, if its
    # own job has not run yet.
    delay = max(0.0, (refresh_at - now).total_seconds()) if refresh_at else 0.0
    runner.enqueue(name, pk, delay=delay, job_id=job_id, retries=JOB_RETRIES)
