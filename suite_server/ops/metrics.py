"""`GET /metrics` in the Prometheus text format, the counters the code increments, and the gauges
the owners of the state register at start (`gauge`).

Counters and histograms are per process. With PROMETHEUS_MULTIPROC_DIR set to an empty directory
(prometheus-client's multiprocess mode) every process of a host writes its own files there, the
web's, `suite-server worker`'s and `suite-server cron`'s alike, and /metrics adds them up
(metrics_dir.py checks the directory before prometheus_client is imported). State that lives in
the database or Redis (ticket age, tenants by status, tokens about to expire, job queues,
licenses at risk) is read when /metrics is scraped, so it is the same whichever process answers:
each owner registers its reading with `gauge` from create_app (apps.register_gauges,
tenants/gauges.py, tokens/gauges.py, jobs/gauges.py, billing/gauges.py), so this module knows no
domain. With METRICS_TOKEN set, only a request bearing it is answered. Series are labelled with
registered apps only, never with an id a request made up.
"""

from __future__ import annotations

import atexit
import hmac
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, request

from suite_server.ops import metrics_dir

# Before prometheus_client is imported: it reads the variable once, at import.
metrics_dir.check()

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily  # noqa: E402

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
    "Upstream token and JS-SDK ticket refreshes, by kind (app, tenant, ticket), registered app,"
    " result and the platform's errcode",
    ["token", "app_id", "result", "errcode"],
)
TOKEN_REFRESH_SECONDS = Histogram(
    "suite_server_token_refresh_seconds",
    "Refreshes that brought a new token or ticket: from asking the platform to its answer, by"
    " kind (app, tenant, ticket) and registered app",
    ["token", "app_id"],
    buckets=(0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2.5, 5, 10, 30),
)
JOB_FAILURES = Counter(
    "suite_server_job_failures_total", "Jobs that failed for good, by task", ["task"]
)
WEBHOOK_DELIVERIES = Counter(
    "suite_server_webhook_deliveries_total",
    "Webhook delivery attempts, by result (delivered, retry, failed)",
    ["result"],
)
PROXY_CALLS = Counter(
    "suite_server_proxy_calls_total",
    "Platform answers to calls through the tenant gateway's proxy, by app and errcode (0: "
    "success, none: not a JSON object). No tenant or path label: those would grow without bound;"
    " the proxy_errcodes table (the admin's tenant page) has failures per tenant and path",
    ["app_id", "errcode"],
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


def forget_live_gauges_at_exit() -> None:
    """`suite-server worker` and `cron`: when this process exits, remove its live gauges' files
    from the directory (prometheus-client's mark_process_dead), or /metrics would go on showing
    a dead process's reading. Its counters and histograms stay: what it counted still counts."""
    path = metrics_dir.configured()
    if path:
        atexit.register(multiprocess.mark_process_dead, os.getpid(), path)


def _bearer_is(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    given = given.strip().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given, token.encode())


# A gauge's reading: its value, or for a labelled gauge its (label values, value) pairs.
Reading = float | Iterable[tuple[Sequence[str], float]]


@dataclass(frozen=True)
class _Gauge:
    name: str
    documentation: str
    read: Callable[[], Any]
    labels: tuple[str, ...]


_gauges: dict[str, _Gauge] = {}


def gauge(
    name: str, documentation: str, read: Callable[[], Reading], labels: Sequence[str] = ()
) -> None:
    """Show `name` on /metrics, read by `read()` at each scrape (inside the request, so it may
    use the database and current_app). With `labels`, `read` returns (label values, value)
    pairs; without, the value. Series appear in the order their names were first registered;
    registering a name again replaces its reading (create_app runs more than once in tests)."""
    _gauges[name] = _Gauge(name, documentation, read, tuple(labels))


class _State:
    """The registered gauges, read at scrape time."""

    def collect(self):
        for entry in list(_gauges.values()):
            reading = entry.read()
            if not entry.labels:
                yield GaugeMetricFamily(entry.name, entry.documentation, value=reading)
                continue
            family = GaugeMetricFamily(entry.name, entry.documentation, labels=entry.labels)
            for label_values, value in reading:
                family.add_metric(list(label_values), value)
            yield family
