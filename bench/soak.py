"""Chaos soak: every kind of our process killed over and over while the platforms push and the
tenants' code reads tokens; at the end nothing may be lost (issue 25, "Chaos soak").

    python bench/soak.py [--duration 300] [--kill-every 5] [--tenants 40] [--readers 50]
                         [--push-rate 3] [--ttl 180] [--latency 0.08] [--drain 240]
                         [--redis-url redis://127.0.0.1:6379/14] [--postgres-url URL] [--seed N]

The spec, in short: on PostgreSQL and Redis, run 3 web processes, 2 workers and 2 cron processes
against the sandbox answering in 80 ms, which pushes tickets, authorizations and tenant messages;
50 threads read tokens through our API and use each at once, and a webhook receiver takes the
tenants' messages. Every few seconds one process of a random kind dies by SIGKILL and is started
again, for as long as asked. Afterwards it must hold that every push answered `success` is
stored, every stored message reached the receiver at least once, no token served was already
dead, no tenant was put in needs_reauth without cause, a new token cost at most 1.02 upstream
calls, and every tenant can still get a token (no credential was lost).

What runs:
- the sandbox in this process (`SandboxServer`, what `suite-server sandbox --latency 0.08` runs,
  so the bench can read its state): one WeCom suite and one Open component, each with --tenants
  authorizations (their codes taken as exchanged, our rows seeded with their credentials and no
  token, as in bench/token_refresh.py), token lifetime --ttl, Open refresh tokens rotating on
  every refresh and the old one dead at once (`strict_refresh`: where a credential can be lost);
- our processes (soak_chaos.Fleet): 3 gunicorns of 1 worker each sharing one port by
  SO_REUSEPORT, like web servers behind a load balancer (a killed one takes its master and worker
  down together; the others go on answering), 2 `suite-server worker`, 2 `suite-server cron`;
- --pushers threads pushing --push-rate pushes a second in all through the sandbox's control API:
  5 % tickets, 10 % new authorizations (create_auth, authorized), the rest text messages of the
  seeded tenants. The sandbox delivers each as the platform does, with up to 3 attempts back to
  back (its `push_attempts`); one our server did not answer is not retried later by anyone, as
  by the platforms: it counts as not answered, not as lost (only an answered one must be kept).
- --readers threads: a random tenant's token from our API, used at once (WeCom message/send, Open
  custom/send);
- a webhook receiver (bench/webhook_drain.Receiver), the URL of both apps.

Every --kill-every seconds one process of a random kind (web, worker, cron) is SIGKILLed and
started again. After --duration s the pushes and the kills stop, and the drain waits (at most
--drain s) until every push is settled: no event pending, every stored message delivered, every
answered authorization turned into a tenant with a credential; a job lost with a killed process
comes back through the workers' recovery (30-40 s) or the sweeps (2-3 min). Then one forced
refresh per tenant through our API (POST .../access-token/refresh with the token served), each
new token used at the sandbox.

Prints the figures as bench/run_all.py reads them; exits 1 when a loss figure misses its target.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from cryptography.fernet import Fernet
from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import soak_chaos as chaos  # noqa: E402
from bench import soak_checks as checks  # noqa: E402
from bench.callbacks import POSTGRES, prepare_database  # noqa: E402
from bench.token_common import (  # noqa: E402
    CallRecorder,
    Reads,
    add_tenants,
    authorizer_tokens,
    corp_tokens,
    say,
    token_rows,
    unusable_count,
)
from bench.webhook_drain import Receiver  # noqa: E402
from suite_server import create_app, db, schema  # noqa: E402
from suite_server.accounts import create_api_key  # noqa: E402
from suite_server.apps import register_app  # noqa: E402
from suite_server.dispatch import webhooks  # noqa: E402
from suite_server.sandbox import SandboxServer  # noqa: E402

SUITE, COMPONENT = "wwsoaksuite", "wxsoakcomponent"
SECRET, TOKEN = "soak-secret", "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
SHARES = (0.05, 0.10)  # of the pushes: tickets, new authorizations (the rest: messages)
POLL, PROGRESS = 2.0, 30.0  # seconds


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of chaos")
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds between kills")
    parser.add_argument("--drain", type=float, default=240.0, help="at most, seconds")
    parser.add_argument("--tenants", type=int, default=40, help="per platform")
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--read-pause", type=float, default=1.0, help="seconds, per reader")
    parser.add_argument("--push-rate", type=float, default=3.0, help="pushes a second, in all")
    parser.add_argument("--pushers", type=int, default=3, help="threads sharing the rate")
    parser.add_argument("--ttl", type=int, default=180, help="token lifetime, seconds")
    parser.add_argument("--min-remaining", type=int, default=None, help="default ttl/10")
    parser.add_argument("--latency", type=float, default=0.08, help="the sandbox's, seconds")
    parser.add_argument("--fill-timeout", type=float, default=120.0)
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("SUITE_SERVER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="a database of its own: flushed at the start and the end",
    )
    parser.add_argument("--postgres-url", default=POSTGRES, help="a soak_ database is made there")
    parser.add_argument("--seed", type=int, default=None, help="repeat the random choices")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.kill_every <= 0 or args.tenants < 1 or args.push_rate <= 0:
        parser.error("--duration, --kill-every, --push-rate and --tenants must be positive")
    if args.min_remaining is None:
        args.min_remaining = args.ttl // 10
    if args.seed is None:
        args.seed = random.randrange(2**31)
    return args


class Soak:
    """The sandbox, a fresh database, Redis, the receiver and our processes."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args, self.workdir = args, workdir
        self.redis = Redis.from_url(args.redis_url)
        self.redis.flushdb()
        self.url, self.drop = prepare_database("postgresql", workdir, "soak_", args.postgres_url)
        self.sandbox = SandboxServer(
            {
                "token_ttl": args.ttl,
                "ticket_interval": 3600,  # tickets only when this bench pushes them
                "strict_refresh": True,
                "latency": args.latency,
            },
            seed=args.seed,
        )
        self.sandbox_base = self.sandbox.start()
        self.recorder = CallRecorder(
            self.sandbox, {**corp_tokens(SUITE), **authorizer_tokens(COMPONENT)}
        )
        self.receiver = Receiver()
        self.env = {
            "SUITE_SERVER_INSTANCE_PATH": str(workdir),
            "SUITE_SERVER_DATABASE_URL": self.url,
            "SUITE_SERVER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "SUITE_SERVER_SECRET_KEY": "soak",
            "SUITE_SERVER_REDIS_URL": args.redis_url,
            "SUITE_SERVER_WECOM_API_BASE": self.sandbox_base,
            "SUITE_SERVER_WECHAT_API_BASE": self.sandbox_base,
            "SUITE_SERVER_TOKEN_MIN_REMAINING": str(args.min_remaining),
            "SUITE_SERVER_LOG_FORMAT": "json",
        }
        os.environ.update(self.env)
        self.app = create_app()
        schema.upgrade(self.app)
        # The token API's calls reach the sandbox as localhost: CallRecorder tells them apart.
        local = self.sandbox_base.replace("127.0.0.1", "localhost")
        web_env = {**self.env, "SUITE_SERVER_WECOM_API_BASE": local}
        web_env["SUITE_SERVER_WECHAT_API_BASE"] = local
        self.fleet = chaos.Fleet(self.env, web_env, workdir, webs=3, workers=2, crons=2)
        self.apps: list[chaos.Platform] = []
        self.key = ""

    def prepare(self) -> None:
        """Both apps at the sandbox (pushing to our port) and here, their tenants, the webhook."""
        http, control = requests.Session(), f"{self.sandbox_base}/sandbox"
        with self.app.app_context():
            session = db.session()
            secret = None
            for platform, app_id in (("wecom", SUITE), ("open", COMPONENT)):
                body = {
                    "platform": platform,
                    "app_id": app_id,
                    "secret": SECRET,
                    "token": TOKEN,
                    "aes_key": AES_KEY,
                    "server_url": self.fleet.base,
                    "push_ticket": False,
                }
                http.post(f"{control}/apps", json=body, timeout=30).raise_for_status()
                bulk = {"app_id": app_id, "count": self.args.tenants, "prefix": app_id[:2] + "soak"}
                http.post(f"{control}/tenants/bulk", json=bulk, timeout=60).raise_for_status()
                listed = http.get(f"{control}/tenants", params={"app_id": app_id}, timeout=60)
                tenants = listed.json()["tenants"]
                with self.sandbox.state.lock:  # authorized earlier: their codes were exchanged
                    for tenant in self.sandbox.state.tenants_of(app_id):
                        tenant.exchanged = True
                row = register_app(
                    session,
                    platform=platform,
                    app_id=app_id,
                    secret=SECRET,
                    token=TOKEN,
                    aes_key=AES_KEY,
                )
                session.flush()
                add_tenants(session, row, tenants)
                made = webhooks.configure_app(session, row, url=self.receiver.url)
                secret = secret or made
                row.webhook_secret = secret  # one secret for both: the receiver checks one
                ids = tuple(t["tenant_id"] for t in tenants)
                self.apps.append(chaos.Platform(app_id, platform, ids))
            self.receiver.secret = secret
            self.key = create_api_key(session, "soak")
            session.commit()

    def push_tickets(self) -> None:
        for app in self.apps:
            answer = requests.post(
                f"{self.sandbox_base}/sandbox/push",
                json={"app_id": app.app_id, "kind": "ticket"},
                timeout=60,
            ).json()
            if not answer.get("delivered"):
                raise SystemExit(f"the first ticket of {app.app_id} was not taken: {answer}")

    def fill(self) -> float:
        """Seconds until every seeded tenant has a token we would serve."""
        started = time.monotonic()
        while time.monotonic() - started < self.args.fill_timeout:
            missing = unusable_count(token_rows(self.app))
            if missing == 0:
                return time.monotonic() - started
            self.fleet.restart_dead()
            time.sleep(POLL)
        raise SystemExit(f"no fill in {self.args.fill_timeout:.0f} s: {missing} tenants left")

    def close(self) -> None:
        self.fleet.stop()
        self.receiver.server.shutdown()
        self.sandbox.stop()
        db.dispose(self.app)
        self.drop()
        self.redis.flushdb()


def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    say(f"work directory {workdir} (process logs are kept there); seed {args.seed}")
    soak = Soak(args, workdir)
    stop_pushes, stop_reads = threading.Event(), threading.Event()
    threads: list[threading.Thread] = []
    pushes, reads, reads_lock = chaos.Pushes(), Reads(), threading.Lock()
    rng = random.Random(args.seed)
    try:
        soak.prepare()
        soak.fleet.start_all()
        soak.push_tickets()
        fill = soak.fill()
        say(f"{2 * args.tenants} tenants filled in {fill:.0f} s; chaos for {args.duration:.0f} s")

        pool = [(a.platform, a.app_id, t) for a in soak.apps for t in a.tenants]
        for n in range(args.readers):
            reader = (
                stop_reads, soak.fleet.base, soak.key, soak.sandbox_base, pool,
                args.read_pause, reads, reads_lock, args.seed + 1000 + n,
            )  # fmt: skip
            threads.append(threading.Thread(target=chaos.read_loop, args=reader, daemon=True))
        interval = args.pushers / args.push_rate
        for n in range(args.pushers):
            pusher = (
                stop_pushes, soak.sandbox_base, soak.apps, interval, SHARES, pushes,
                args.seed + n,
            )  # fmt: skip
            threads.append(threading.Thread(target=chaos.push_loop, args=pusher, daemon=True))
        for thread in threads:
            thread.start()

        started = time.monotonic()
        last_progress = started
        while time.monotonic() - started < args.duration:
            time.sleep(min(args.kill_every, max(0.0, args.duration - (time.monotonic() - started))))
            if time.monotonic() - started >= args.duration:
                break
            soak.fleet.kill_one(rng)
            soak.fleet.restart_dead()
            if time.monotonic() - last_progress > PROGRESS:
                say(
                    f"{time.monotonic() - started:.0f} s: kills {dict(soak.fleet.kills)}, "
                    f"{len(pushes.done)} pushes, {reads.served} tokens served"
                )
                last_progress = time.monotonic()
        stop_pushes.set()
        for thread in threads[args.readers :]:
            thread.join(120)
        say(f"chaos over: {len(pushes.done)} pushes; draining (at most {args.drain:.0f} s)")

        drained = time.monotonic()
        while True:
            soak.fleet.restart_dead()
            waiting = checks.unsettled(soak.app, pushes.done, soak.receiver)
            if not waiting or time.monotonic() - drained > args.drain:
                break
            time.sleep(POLL)
        drain_seconds = time.monotonic() - drained
        stop_reads.set()
        for thread in threads[: args.readers]:
            thread.join(60)
        calls = list(soak.recorder.calls)  # before the forced refreshes below
        say(f"drained in {drain_seconds:.0f} s; {waiting or 'all settled'}; forced refreshes")
        lost = checks.forced_refreshes(soak.app, soak.fleet.base, soak.key, soak.sandbox_base)
        outcome = checks.Outcome(
            args=args,
            pushes=list(pushes.done),
            push_control_errors=pushes.control_errors,
            reads=reads,
            calls=calls,
            kills=dict(soak.fleet.kills),
            crashes=dict(soak.fleet.crashes),
            drain_seconds=drain_seconds,
            unsettled=waiting,
            credentials_lost=lost,
            stored=checks.stored(soak.app),
            delivered_events=set(soak.receiver.events),
            wrongly_needs_reauth=checks.wrongly_needs_reauth(soak.app, soak.sandbox.state),
            workdir=workdir,
            slots=list(soak.fleet.slots),
        )
    finally:
        stop_pushes.set()
        stop_reads.set()
        soak.close()
    return checks.report(outcome)


def main() -> None:
    raise SystemExit(run(options()))


if __name__ == "__main__":
    main()
