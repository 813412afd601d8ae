"""Benchmark tokens part b: tenant tokens kept fresh by RQ workers, against the sandbox.

    python bench/tokens.py --part b [--tenants 10000] [--ttl 300] [--min-remaining TTL/10]
                                    [--duration 2*TTL] [--readers 3] [--redis-url ...]

What runs: the sandbox in this process (token lifetime --ttl; every get_corp_token call to it is
recorded), one WeCom suite registered there and in a fresh PostgreSQL database, one ticket pushed
through our callback URL, --tenants authorizations created in the sandbox and inserted into our
database with no token (as `store_first_token(session, tenant, None)` leaves them), a dedicated
Redis database flushed; then our processes: `gunicorn wsgi:app` (2 workers: the token API), 2
`suite-server worker` and 1 `suite-server cron`, with TOKEN_MIN_REMAINING = --min-remaining.

What it measures (issue 5, benchmark b):
1. the fill: seconds from starting the workers and cron until every tenant has a token our server
   would serve (the database polled every 2 s). Cron fires the current minute's sweep at once.
2. over --duration seconds after the fill (default two lifetimes): get_corp_token calls per
   tenant divided by lifetimes elapsed (target <= 1.01), split into the workers' calls and the
   token API's on-the-spot refreshes; how many calls returned a new token (the sandbox, like
   WeCom, hands back the same token while it is valid); how long before or after the platform's
   expiry each call came; failed and duplicate calls; tenants without a usable token.
3. during that window, --readers threads ask the token API for random tenants' tokens and use
   each at once with WeCom's message/send: tokens the platform refuses when served (42001
   expired, 40014 invalid; target 0), tokens served with less than TOKEN_MIN_REMAINING left.

Sizing: the fill's refresh rate (refreshes/s in bench/RESULTS.md) is what 2 workers reach; it was
several times lower when RQ forked a process per job. WeCom renews a token only once it has
expired, so each tenant is refreshed once per lifetime just after its expiry: --tenants divided
by --ttl is the jobs per second needed on average, and tenants filled together stay bunched
(their refreshes come in a burst of the fill's length, every lifetime). The window is two
lifetimes by default, so that it holds at least one full round of refreshes. The whole run lasts
about as long as the fill plus the window (bench/RESULTS.md gives the time of the last run).

Progress goes to stderr; the figures to stdout, one `label: value unit  (target ...)` per line,
details on indented lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet
from redis import Redis
from rq import Queue

from bench import steady
from bench.callbacks import prepare_database
from bench.common import gunicorn
from bench.token_common import (
    AES_KEY,
    BULK_MAX,
    DUPLICATE_WITHIN,
    POLL,
    PREFIX,
    PROGRESS,
    SECRET,
    SUITE,
    TOKEN,
    Call,
    CallRecorder,
    Reads,
    log_summary,
    percentiles,
    read_tokens,
    say,
    seed,
    start,
    stop_all,
    token_rows,
    unusable_count,
)
from suite_server import create_app, db, schema
from suite_server.jobs.runner import QUEUE_PREFIX
from suite_server.jobs.tasks import QUEUES
from suite_server.models import Ticket
from suite_server.sandbox import SandboxServer

# -- the run -----------------------------------------------------------------------------------


@dataclass
class Measured:
    tenants: int
    ttl: int
    min_remaining: int
    readers: int
    workdir: Path
    started: float = 0.0  # when the workers and cron were started
    fill_timeout: float = 0.0
    filled_at: float | None = None
    missing: int = 0  # tenants without a usable token when the fill gave up
    window: tuple[float, float] = (0.0, 0.0)
    unusable: list[int] = field(default_factory=list)  # sampled during the window
    reads: Reads = field(default_factory=Reads)
    calls: list[Call] = field(default_factory=list)
    rows: list = field(default_factory=list)  # token rows at the end
    failed_jobs: int = 0
    backlog: str = ""
    endpoints: dict = field(default_factory=dict)  # the sandbox's call counts for the whole run


class Servers:
    """The sandbox (here), a fresh database, Redis, and our processes; `close()` ends them all."""

    def __init__(self, args, min_remaining: int, workdir: Path) -> None:
        self.workdir = workdir
        self.redis = Redis.from_url(args.redis_url)
        self.redis.flushdb()
        self.processes: list[subprocess.Popen] = []
        self.url, self.drop = prepare_database("postgresql", workdir)
        self.sandbox = SandboxServer({"token_ttl": args.ttl, "ticket_interval": 600})
        self.sandbox_base = self.sandbox.start()
        self.recorder = CallRecorder(self.sandbox)
        self.env = {
            "SUITE_SERVER_INSTANCE_PATH": str(workdir),
            "SUITE_SERVER_DATABASE_URL": self.url,
            "SUITE_SERVER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "SUITE_SERVER_SECRET_KEY": "bench",
            "SUITE_SERVER_REDIS_URL": args.redis_url,
            "SUITE_SERVER_WECOM_API_BASE": self.sandbox_base,
            "SUITE_SERVER_WECHAT_API_BASE": self.sandbox_base,
            "SUITE_SERVER_TOKEN_MIN_REMAINING": str(min_remaining),
            "SUITE_SERVER_LOG_FORMAT": "json",
        }
        os.environ.update(self.env)
        self.app = create_app()
        schema.upgrade(self.app)
        self.queues = {name: Queue(QUEUE_PREFIX + name, connection=self.redis) for name in QUEUES}

    def add_tenants(self, count: int) -> tuple[list[str], str]:
        """`count` authorizations in the sandbox (it makes their permanent codes), the same
        tenants in our database; returns their ids and an API key."""
        http, control = requests.Session(), f"{self.sandbox_base}/sandbox"
        self.register(http, "http://127.0.0.1:9")  # no pushes until our server listens
        for batch, first in enumerate(range(0, count, BULK_MAX)):
            body = {
                "app_id": SUITE,
                "count": min(BULK_MAX, count - first),
                "prefix": f"{PREFIX}{batch}x",
            }
            http.post(f"{control}/tenants/bulk", json=body, timeout=600).raise_for_status()
            say(f"{first + body['count']} tenants made in the sandbox")
        listed = http.get(f"{control}/tenants", params={"app_id": SUITE}, timeout=600).json()
        key = seed(self.app, listed["tenants"])
        return [t["tenant_id"] for t in listed["tenants"]], key

    def register(self, http: requests.Session, server_url: str) -> None:
        body = {
            "platform": "wecom",
            "app_id": SUITE,
            "secret": SECRET,
            "token": TOKEN,
            "aes_key": AES_KEY,
            "server_url": server_url,
            "push_ticket": False,
        }
        http.post(f"{self.sandbox_base}/sandbox/apps", json=body, timeout=30).raise_for_status()

    def start_web(self) -> str:
        """gunicorn wsgi:app, reaching the sandbox as localhost (CallRecorder tells it from the
        workers by that); the suite's pushes go to it; one ticket pushed and stored."""
        web_env = {
            **self.env,
            "SUITE_SERVER_WECOM_API_BASE": self.sandbox_base.replace("127.0.0.1", "localhost"),
        }
        with open(self.workdir / "web.log", "w") as log:
            web, api = gunicorn("wsgi:app", web_env, output=log)
        self.processes.append(web)
        http = requests.Session()
        self.register(http, api)
        pushed = http.post(
            f"{self.sandbox_base}/sandbox/push",
            json={"app_id": SUITE, "kind": "ticket"},
            timeout=30,
        )
        with self.app.app_context():
            tickets = db.session().scalar(sa.select(sa.func.count()).select_from(Ticket))
        if pushed.json().get("status") != 200 or tickets != 1:
            raise SystemExit(f"the ticket push was not stored: {pushed.text[:300]}")
        return api

    def start_jobs(self) -> None:
        command = os.path.join(os.path.dirname(sys.executable), "suite-server")
        for name, what in (("worker1", "worker"), ("worker2", "worker"), ("cron", "cron")):
            self.processes.append(start(name, [command, what], self.env, self.workdir))

    def check_alive(self) -> None:
        if any(p.poll() is not None for p in self.processes):
            raise SystemExit(f"a server process exited; see the logs in {self.workdir}")

    def backlog(self) -> str:
        return ", ".join(
            f"{name} {q.count} queued {q.scheduled_job_registry.count} scheduled "
            f"{q.failed_job_registry.count} failed"
            for name, q in self.queues.items()
        )

    def close(self) -> None:
        stop_all(self.processes)
        self.sandbox.stop()
        db.dispose(self.app)
        self.drop()
        self.redis.flushdb()


def run(args) -> None:
    min_remaining = args.min_remaining if args.min_remaining is not None else args.ttl // 10
    workdir = Path(tempfile.mkdtemp(prefix="bench-refresh-"))
    say(f"work directory {workdir} (process logs are kept there)")
    measured = Measured(args.tenants, args.ttl, min_remaining, args.readers, workdir)
    measured.fill_timeout = args.fill_timeout or max(600, args.ttl)
    servers = Servers(args, min_remaining, workdir)
    stop = threading.Event()
    readers: list[threading.Thread] = []
    try:
        tenant_ids, key = servers.add_tenants(args.tenants)
        say(f"{len(tenant_ids)} tenants in the sandbox and in our database")
        if getattr(args, "steady", False):
            steady.spread_tokens(servers.app, servers.sandbox.state, SUITE, tenant_ids, args.ttl)
            say("each with a token, their ages spread over a lifetime")
        api = servers.start_web()
        measured.started = time.time()
        servers.start_jobs()
        say(f"2 workers and cron started; ttl {args.ttl} s, TOKEN_MIN_REMAINING {min_remaining} s")

        # 1. The fill: until every tenant has a token we would serve (none with --steady: some
        # tokens are always in their last seconds then, which is what the window measures).
        last_progress = time.time()
        if getattr(args, "steady", False):
            measured.filled_at = measured.started
        while measured.filled_at is None and time.time() - measured.started < measured.fill_timeout:
            measured.missing = unusable_count(token_rows(servers.app))
            if measured.missing == 0:
                measured.filled_at = time.time()
                break
            if time.time() - last_progress > PROGRESS:
                fresh = args.tenants - measured.missing
                say(f"fill: {fresh}/{args.tenants} fresh; {servers.backlog()}")
                last_progress = time.time()
            servers.check_alive()
            time.sleep(POLL)
        if measured.filled_at is None:
            say(f"no fill in {measured.fill_timeout:.0f} s: {measured.missing} tenants left")
        window_start = measured.filled_at or time.time()
        window_end = window_start + (args.duration or 2 * args.ttl)
        say(f"measuring until {time.strftime('%H:%M:%S', time.localtime(window_end))}")

        # 2. The window, with readers: only now, since during the fill they would refresh
        # tenants on the spot and the fill would no longer be the workers' alone.
        lock = threading.Lock()
        for _ in range(args.readers):
            reader = threading.Thread(
                target=read_tokens,
                args=(
                    stop,
                    api,
                    key,
                    servers.sandbox_base,
                    servers.sandbox.state,
                    tenant_ids,
                    args.read_pause,
                    measured.reads,
                    lock,
                ),
                daemon=True,
            )
            reader.start()
            readers.append(reader)
        while time.time() < window_end:
            missing = unusable_count(token_rows(servers.app))
            measured.unusable.append(missing)
            if time.time() - last_progress > PROGRESS:
                calls = len(servers.recorder.between(window_start, time.time()))
                say(
                    f"window: {calls} get_corp_token calls, {missing} tenants without a usable "
                    f"token, {measured.reads.served} reads; {servers.backlog()}"
                )
                last_progress = time.time()
            servers.check_alive()
            time.sleep(min(POLL, max(0.0, window_end - time.time())))
        stop.set()
        for reader in readers:
            reader.join(35)
        measured.window = (window_start, time.time())
        measured.backlog = servers.backlog()
        measured.rows = token_rows(servers.app)
        measured.failed_jobs = sum(q.failed_job_registry.count for q in servers.queues.values())
    finally:
        stop.set()
        servers.close()
    measured.calls = list(servers.recorder.calls)
    measured.endpoints = servers.sandbox.state.calls_report()["by_endpoint"]
    report(measured)


# -- the figures -------------------------------------------------------------------------------


def report(m: Measured) -> None:
    """Print the figures, one `label: value unit  (target ...)` per line (run_all.py parses
    them), with distributions and log summaries on indented lines."""
    start, end = m.window
    calls = [c for c in m.calls if start <= c.at < end]
    lifetimes = (end - start) / m.ttl

    def per_tenant_lifetime(count: int) -> str:
        return f"{count / m.tenants / lifetimes:.3f}"

    by_api = sum(c.by_api for c in calls)
    new = sum(c.new for c in calls)
    same = sum(c.errcode is None and not c.new for c in calls)
    failed = Counter(c.errcode for c in calls if c.errcode is not None)
    first_call = min((c.at for c in m.calls), default=None)
    # A double refresh: the same tenant called again within a few seconds, whoever called.
    last: dict[str, float] = {}
    duplicates = 0
    for call in sorted(m.calls, key=lambda c: c.at):
        duplicates += call.at >= start and call.at - last.get(call.tenant, -1e9) < DUPLICATE_WITHIN
        last[call.tenant] = call.at
    per_tenant = Counter(c.tenant for c in calls)
    early = [c.left for c in calls if c.left is not None and c.left > 0]
    late = [-c.left for c in calls if c.left is not None and c.left <= 0]
    reads = m.reads

    print(f"bench/tokens.py part b  {time.strftime('%Y-%m-%d %H:%M')}")
    print(
        f"sandbox in-process (WeCom semantics: the same corp token while it is valid), "
        f"token lifetime {m.ttl} s, TOKEN_MIN_REMAINING {m.min_remaining} s; PostgreSQL, Redis; "
        f"gunicorn 2 workers, 2 RQ workers, 1 cron; {m.readers} readers during the window"
    )
    print(f"tenants: {m.tenants}")
    if first_call is not None:
        print(f"first get_corp_token call after start: {first_call - m.started:.0f} s")
    if m.filled_at is None:
        print(f"time to refresh all: n/a  (not done in {m.fill_timeout:.0f} s, {m.missing} left)")
    else:
        print(f"time to refresh all: {m.filled_at - m.started:.0f} s")
        if first_call is not None and m.filled_at > first_call:
            print(f"refreshes/s during the fill: {m.tenants / (m.filled_at - first_call):.1f}")
    print(f"window after the fill: {end - start:.0f} s")
    print(f"lifetimes in the window: {lifetimes:.2f}")
    print(f"get_corp_token calls in the window: {len(calls)}")
    print(f"calls per tenant per lifetime: {per_tenant_lifetime(len(calls))}  (target <= 1.01)")
    print(
        f"calls per tenant per lifetime by the workers: {per_tenant_lifetime(len(calls) - by_api)}"
    )
    print(f"calls per tenant per lifetime by the token API: {per_tenant_lifetime(by_api)}")
    print(f"new tokens per tenant per lifetime: {per_tenant_lifetime(new)}")
    # Issue 5: "upstream calls per refresh: exactly one". The sandbox mints a new token only once
    # the old one has expired, so every other call was not a refresh.
    per_new = f"{len(calls) / new:.2f}" if new else "n/a"
    print(f"calls per new token: {per_new}  (target <= 1.01)")
    print(f"calls answered with the same token: {same}")
    print(f"  all upstream calls of the run, by endpoint: {m.endpoints}")
    print(f"failed get_corp_token calls: {sum(failed.values())}")
    if failed:
        print(f"  by errcode: {dict(failed)}")
    print(f"duplicate calls (same tenant within {DUPLICATE_WITHIN:.0f} s): {duplicates}")
    print(f"tenants with no call in the window: {m.tenants - len(per_tenant)}")
    print(f"  calls per called tenant: {percentiles(list(per_tenant.values()))}")
    print(f"calls before the platform's token expired: {len(early)}")
    print(f"  s before expiry: {percentiles(early)}")
    print(f"calls after the platform's token expired: {len(late)}")
    print(f"  s after expiry: {percentiles(late)}")
    # Issue 5: "app and tenant tokens always fresh".
    # WeCom renews a token only once it has expired: from LAST_SECONDS before until the refresh
    # lands, a tenant has none to serve (callers wait: see the token API's latency below).
    print(f"tenants without a usable token, max: {max(m.unusable, default=0)}")
    print(f"  sampled every {POLL:.0f} s: {percentiles(m.unusable, (0.5, 0.95, 1.0))}")
    print(f"tokens served: {reads.served}")
    print(f"tokens served expired: {sum(reads.refused.values())}  (target = 0)")
    if reads.refused:
        print(f"  refused by the platform, by errcode: {dict(reads.refused)}")
        for example in reads.examples:
            print(f"  e.g. {example}")
    short = sum(1 for left in reads.expires_in if left < m.min_remaining)
    print(f"tokens served with less than TOKEN_MIN_REMAINING left: {short}")
    print(f"  served expires_in, s: {percentiles(reads.expires_in)}")
    print(f"  s left at the platform when used: {percentiles(reads.platform_left)}")
    latencies = [x * 1000 for x in reads.latencies]
    print(f"  token API latency, ms: {percentiles(latencies, (0.5, 0.99, 1.0))}")
    print(f"token API errors: {sum(reads.api_errors.values())}")
    if reads.api_errors:
        print(f"  by status: {dict(reads.api_errors)}")
    sweeps = steady.sweep_times(m.workdir, ["worker1", "worker2"])
    if sweeps:
        print(f"token sweep, longest: {max(sweeps):.2f} s  (target < 2)")
        print(f"  {len(sweeps)} sweeps, s: {percentiles(sweeps, (0.5, 1.0))}")
    print(f"refresh jobs failed for good: {m.failed_jobs}  (target = 0)")
    print(f"tenant tokens with last_error at the end: {sum(1 for r in m.rows if r[3])}")
    print(f"tenants needs_reauth at the end: {m.tenants - len(m.rows)}  (target = 0)")
    print(f"  queues at the end: {m.backlog}")
    levels, messages, examples = log_summary(m.workdir, ["worker1", "worker2", "cron", "web"])
    print(f"  log lines by level: {dict(levels)}")
    for message, count in messages.most_common(12):
        print(f"  {count:6d}  {message}")
    for example in examples[:4]:
        print(f"  e.g. {example}")
