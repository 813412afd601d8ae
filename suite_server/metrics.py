"""`GET /metrics` in the Prometheus text format, and the counters the code increments.

Counters and histograms are per process; under gunicorn (several processes) set
PROMETHEUS_MULTIPROC_DIR to an empty directory, as prometheus-client's multiprocess mode wants,
and /metrics adds up every process's files. State that lives in the database or Redis (ticket age,
tenants by status, tokens about to expire, queue depth) is read when /metrics is scraped, so it
is the same whichever process answers. With METRICS_TOKEN set, only a request bearing it is
answered. Series are labelled with registered apps only, never with an id a request made up.
"""

from __future__ import annotations

import hmac
import os
from datetime import timedelta

from flask import Blueprint, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import case, func, or_, select

from suite_server import db
from suite_server.apps import overview
from suite_server.db import utcnow
from suite_server.models import App, Tenant, TenantToken

CALLBACKS = Counter(
    "suite_server_callbacks_total",
    "Pushes received, by app, kind (InfoType, MsgType, event:<Event>) and result",
    ["app_id", "kind", "result"],
)
CALLBACK_SECONDS = Histogram(
    "suite_server_callback_seconds",
    "Time to answer a push (verify, decrypt, store, synchronous handler)",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
TOKEN_REFRESHES = Counter(
    "suite_server_token_refreshes_total",
    "Upstream token refreshes, by token kind (app, tenant), result and errcode",
    ["token", "result", "errcode"],
)
JOB_FAILURES = Counter(
    "suite_server_job_failures_total", "Jobs that failed for good, by task", ["task"]
)
WEBHOOK_DELIVERIES = Counter(
    "suite_server_webhook_deliveries_total",
    "Webhook delivery attempts, by result (delivered, retry, failed)",
    ["result"],
)

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    token = current_app.config["METRICS_TOKEN"]
    if token and not _bearer_is(token):
        return Response(
            "send Authorization: Bearer <SUITE_SERVER_METRICS_TOKEN>",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
            content_type="text/plain; charset=utf-8",
        )
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
    else:
        counters = REGISTRY
    state = CollectorRegistry()
    state.register(_State())
    body = generate_latest(counters) + generate_latest(state)
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def _bearer_is(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    given = given.strip().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given, token.encode())


class _State:
    """Gauges read from the database and the job runner at scrape time."""

    def collect(self):
        session = db.session()
        now = utcnow()
        ticket_age = GaugeMetricFamily(
            "suite_server_ticket_age_seconds", "Age of each app's newest ticket", labels=["app_id"]
        )
        for app in overview(session, now):
            if app["ticket_age"] is not None:
                ticket_age.add_metric([app["app_id"]], app["ticket_age"])
        yield ticket_age

        tenants = GaugeMetricFamily("suite_server_tenants", "Tenants by status", labels=["status"])
        for status, count in session.execute(
            select(Tenant.status, func.count()).group_by(Tenant.status)
        ):
            tenants.add_metric([status], count)
        yield tenants

        from suite_server.tokens.service import LAST_SECONDS, SAME_UNTIL_EXPIRY

        # What a request would have to refresh first: WeCom serves its token to the last seconds.
        window = timedelta(seconds=current_app.config["TOKEN_MIN_REMAINING"])
        floor = case(
            (App.platform.in_(SAME_UNTIL_EXPIRY), now + timedelta(seconds=LAST_SECONDS)),
            else_=now + window,
        )
        expiring = session.scalar(
            select(func.count())
            .select_from(Tenant)
            .join(App, App.id == Tenant.app_pk)
            .outerjoin(TenantToken, TenantToken.tenant_pk == Tenant.id)
            .where(
                Tenant.status == "active",
                or_(TenantToken.expires_at.is_(None), TenantToken.expires_at < floor),
            )
        )
        yield GaugeMetricFamily(
            "suite_server_tokens_expiring",
            "Active tenants without a token that could be served now (none, or too close to "
            "expiry: TOKEN_MIN_REMAINING, or the last seconds of a WeCom token)",
            value=expiring,
        )
        session.rollback()

        from suite_server.jobs import runner

        depth = GaugeMetricFamily("suite_server_job_queue_depth", "Jobs waiting", labels=["queue"])
        for queue, size in runner.get_runner().depths().items():
            depth.add_metric([queue], size)
        yield depth
