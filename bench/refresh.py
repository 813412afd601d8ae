"""Benchmark: every tenant's token dead at once, refreshed by 2 workers, at the platform's latency.

    python bench/refresh.py [--tenants 10000] [--latencies 0,0.08] [--timeout 900]
                            [--redis-url redis://127.0.0.1:6379/14]

After an outage longer than a token's lifetime every tenant's token is dead together, and until
the workers have refreshed it a tenant's services wait for the token API's on-the-spot refresh.
What runs: the sandbox in this process, a fresh PostgreSQL database, Redis, `gunicorn wsgi:app`
(for the ticket push), 2 `suite-server worker` and 1 `suite-server cron`, as in
bench/token_refresh.py. Then once per latency, in one go: --tenants WeCom tenants with no token
are put in our database (the sandbox made their authorizations), the sandbox is set to answer
every API call after that latency, and a token sweep is enqueued. Measured from that moment until
every one of those tenants has a token we would serve: refreshes per second, get_corp_token calls
per tenant (1.00: no double refresh), and the curve of tenants without a usable token.

Target: the 80 ms run refreshes at least 0.8 as fast as the 0 ms run. The 0 ms run is this
machine's floor (its 2 cores shared by the sandbox, workers and PostgreSQL), so the ratio says how
much of the latency the workers hide by having many calls in flight (REFRESH_CONCURRENCY).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import requests
import sqlalchemy as sa
from rq import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.token_common import (  # noqa: E402
    BULK_MAX,
    PREFIX,
    SUITE,
    add_tenants,
    say,
    seed_app,
    token_rows,
    unusable_count,
)
from bench.token_refresh import Servers  # noqa: E402
from suite_server import db  # noqa: E402
from suite_server.jobs import runner  # noqa: E402
from suite_server.models import App  # noqa: E402

SAMPLE = 1.0  # seconds between counts of tenants without a usable token
CURVE_POINTS = 12


def burst(servers: Servers, tenants: list[dict], prefix: str, latency: float, timeout: float):
    """Put `tenants` in our database with no token, set the latency, enqueue a sweep; count until
    all have a usable token. Returns (seconds, [(t, without a usable token)], calls)."""
    control = f"{servers.sandbox_base}/sandbox"
    requests.post(f"{control}/settings", json={"latency": latency}, timeout=30).raise_for_status()
    with servers.app.app_context():
        session = db.session()
        add_tenants(session, session.scalar(sa.select(App).where(App.app_id == SUITE)), tenants)
        session.commit()
    with servers.app.app_context():
        started = time.time()
        runner.enqueue("tokens.sweep")
    curve: list[tuple[float, int]] = []
    while time.time() - started < timeout:
        missing = unusable_count(token_rows(servers.app, prefix))
        curve.append((time.time() - started, missing))
        if missing == 0:
            break
        servers.check_alive()
        time.sleep(SAMPLE)
    seconds = curve[-1][0]
    calls = servers.recorder.between(started, time.time())
    calls = [call for call in calls if call.tenant.startswith(prefix)]
    return seconds, curve, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--latencies", default="0,0.08", help="seconds, comma-separated")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run at most")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("SUITE_SERVER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
    )
    args = parser.parse_args()
    latencies = [float(x) for x in args.latencies.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    say(f"work directory {workdir} (process logs are kept there)")
    # A lifetime far longer than the runs: the first run's tokens stay good during the second.
    servers = Servers(SimpleNamespace(ttl=7200, redis_url=args.redis_url), 300, workdir)
    results = []
    try:
        http = requests.Session()
        servers.register(http, "http://127.0.0.1:9")
        prefixes = [f"{PREFIX}r{n}x" for n in range(len(latencies))]
        made: dict[str, list[dict]] = {}
        for prefix in prefixes:
            for first in range(0, args.tenants, BULK_MAX):
                body = {
                    "app_id": SUITE,
                    "count": min(BULK_MAX, args.tenants - first),
                    "prefix": f"{prefix}{first // BULK_MAX}y",
                }
                http.post(
                    f"{servers.sandbox_base}/sandbox/tenants/bulk", json=body, timeout=120
                ).raise_for_status()
        listed = http.get(
            f"{servers.sandbox_base}/sandbox/tenants", params={"app_id": SUITE}, timeout=120
        ).json()["tenants"]
        for prefix in prefixes:
            made[prefix] = [t for t in listed if t["tenant_id"].startswith(prefix)]
        seed_app(servers.app)
        servers.start_web()
        servers.start_jobs()
        while Worker.count(connection=servers.redis) < 2:  # both workers listening
            servers.check_alive()
            time.sleep(0.5)
        for prefix, latency in zip(prefixes, latencies, strict=True):
            say(f"{args.tenants} tenants without a token; the sandbox answers after {latency} s")
            seconds, curve, calls = burst(servers, made[prefix], prefix, latency, args.timeout)
            results.append((latency, seconds, curve, calls))
            say(f"done in {seconds:.1f} s; {servers.backlog()}")
    finally:
        servers.close()
    report(args.tenants, results)


def report(tenants: int, results) -> None:
    rates = {}
    for latency, seconds, curve, calls in results:
        ms = round(latency * 1000)
        left = curve[-1][1]
        rate = (tenants - left) / seconds if seconds else 0.0
        rates[ms] = rate
        print(f"refreshes per second at {ms} ms: {rate:.1f} /s")
        print(f"  {tenants - left} of {tenants} tenants refreshed in {seconds:.1f} s")
        by_tenant: dict[str, int] = {}
        for call in calls:
            by_tenant[call.tenant] = by_tenant.get(call.tenant, 0) + 1
        failed = sum(1 for call in calls if call.errcode is not None)
        print(
            f"  get_corp_token calls per tenant: {len(calls) / max(1, tenants - left):.3f}; "
            f"failed calls {failed}; tenants asked more than once "
            f"{sum(1 for n in by_tenant.values() if n > 1)}"
        )
        step = max(1, len(curve) // CURVE_POINTS)
        points = curve[::step] + ([curve[-1]] if (len(curve) - 1) % step else [])
        print("  without a usable token: " + ", ".join(f"{t:.0f}s {n}" for t, n in points))
    if len(rates) == 2 and 0 in rates:
        slow = max(rates)
        ratio = rates[slow] / rates[0] if rates[0] else 0.0
        print(f"refresh rate at {slow} ms / at 0 ms: {ratio:.2f}  (target >= 0.8)")


if __name__ == "__main__":
    main()
