"""The background jobs that keep tokens fresh: `tokens.sweep` (every SWEEP_EVERY seconds, from
the schedule) enqueues `tokens.refresh_app` / `tokens.refresh_tenant` for every token due soon,
each delayed to its own refresh time; it also deletes old tickets and warns about stale ones."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from suite_server import db
from suite_server.apps import as_utc, tickets_overdue
from suite_server.db import utcnow
from suite_server.errors import TokenUnavailable
from suite_server.jobs import runner
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
    seconds, delayed to that time (a job already waiting is not enqueued twice); watch tickets.
    Returns counts. On the default queue, so a backlog of low jobs never holds it up."""
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
    due = session.execute(
        select(TenantToken.tenant_pk, TenantToken.refresh_at)
        .join(Tenant, Tenant.id == TenantToken.tenant_pk)
        .where(
            Tenant.status == "active",
            or_(TenantToken.refresh_at.is_(None), TenantToken.refresh_at <= horizon),
        )
        .order_by(TenantToken.refresh_at)
        .limit(SWEEP_BATCH)
    ).all()
    session.rollback()
    for tenant_pk, refresh_at in due:
        _enqueue("tokens.refresh_tenant", tenant_pk, f"tenant-token:{tenant_pk}", refresh_at, now)
    counts["tenants"] = len(due)
    return counts


def _enqueue(name: str, pk: int, job_id: str, refresh_at: datetime | None, now: datetime) -> None:
    # Due now or later within this sweep's period: the job waits until its own refresh time, so
    # the refreshes of a minute spread over that minute. The app token is refreshed by the first
    # tenant job that needs it, under its lock, if its own job has not run yet.
    delay = max(0.0, (refresh_at - now).total_seconds()) if refresh_at else 0.0
    runner.enqueue(name, pk, delay=delay, job_id=job_id, retries=JOB_RETRIES)
