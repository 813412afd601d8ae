"""What announcing a refresh to the other processes' token caches costs (invalidations.py).

    python -m bench.token_news [--refreshes 400] [--rounds 3] [--database postgresql|sqlite]
                               [--redis-url redis://127.0.0.1:6379/14] [--no-listener]

What runs, all in this process: the sandbox, our app serving its callback URL (for the suite's
ticket push), one WeCom suite and one tenant in a fresh database, Redis (flushed) for the token
locks and the news, and one subscriber listening as a web process would (none with
--no-listener, as in a worker process). Then, --rounds times, --refreshes refreshes of the
tenant's token (refresh_tenant_token with no stale token: each one takes the lock, calls
get_corp_token on the sandbox, stores the answer) with the PUBLISH after each commit, and as
many with the PUBLISH left out, in alternating blocks of BLOCK so that a machine whose load
changes hits both alike. Also the PUBLISH alone, timed on its own client.

Prints one `label: value unit` per line: the median (and mean) refresh with and without, the
difference of the medians, and the PUBLISH round trip.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests
from cryptography.fernet import Fernet
from redis import Redis
from sqlalchemy import select
from werkzeug.serving import make_server

from bench.callbacks import prepare_database
from suite_server import create_app, db, invalidations, schema
from suite_server.apps import register_app
from suite_server.jobs import runner
from suite_server.models import Tenant
from suite_server.sandbox import SandboxServer
from suite_server.tokens import service

SUITE, SECRET, TOKEN = "wwbenchnews", "bench-secret", "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
BLOCK = 10  # refreshes in a row one way before switching to the other


class Heard:
    """A listener, as a web process's token cache is one."""

    def __init__(self) -> None:
        self.names = 0

    def forget(self, names: list[str]) -> None:
        self.names += len(names)

    def forget_all(self) -> None:
        pass


def prepare(args, workdir: Path):
    """The app (its callback URL served here), the sandbox, the suite with its ticket and one
    tenant with its first token; returns (app, tenant pk, what drops the database)."""
    url, drop = prepare_database(args.database, workdir)
    sandbox = SandboxServer({"ticket_interval": 3600})
    base = sandbox.start()
    app = create_app(
        {
            "INSTANCE_PATH": str(workdir),
            "DATABASE_URL": url,
            "SECRET_KEY": "bench",
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "WECOM_API_BASE": base,
            "WECHAT_API_BASE": base,
        }
    )
    schema.upgrade(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    callback = f"http://127.0.0.1:{server.server_port}"
    with app.app_context():
        session = db.session()
        register_app(
            session, platform="wecom", app_id=SUITE, secret=SECRET, token=TOKEN, aes_key=AES_KEY
        )
        session.commit()
    control = f"{base}/sandbox"
    body = {"platform": "wecom", "app_id": SUITE, "secret": SECRET, "token": TOKEN}
    body.update(aes_key=AES_KEY, server_url=callback, push_ticket=False)
    requests.post(f"{control}/apps", json=body, timeout=30).raise_for_status()
    for kind in ("ticket", "create_auth"):
        pushed = requests.post(
            f"{control}/push",
            json={"app_id": SUITE, "kind": kind, "tenant_id": "wwnews"},
            timeout=30,
        ).json()
        if pushed.get("body") != "success":
            raise SystemExit(f"the {kind} push was not answered: {pushed}")
    runner.get_runner(app).drain(timeout=60)  # the authorization's job stores the first token
    with app.app_context():
        tenant = db.session().scalar(select(Tenant).where(Tenant.tenant_id == "wwnews"))
        if tenant.status != "active":
            raise SystemExit(f"the tenant was not installed: {tenant.status}")
        return app, tenant.id, lambda: (server.shutdown(), sandbox.stop(), drop())


def refreshes(app, tenant_pk: int, count: int, publish: bool) -> list[float]:
    """The seconds each of `count` refreshes took."""
    real = invalidations.publish
    if not publish:
        invalidations.publish = lambda names: None
    took = []
    try:
        with app.app_context():
            session = db.session()
            tenant = session.get(Tenant, tenant_pk)
            for _ in range(count):
                started = time.perf_counter()
                service.refresh_tenant_token(session, tenant, stale_token=None)
                took.append(time.perf_counter() - started)
    finally:
        invalidations.publish = real
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refreshes", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    parser.add_argument(
        "--no-listener", action="store_true", help="no subscriber here (as in a worker process)"
    )
    args = parser.parse_args()
    connection = Redis.from_url(args.redis_url)
    connection.flushdb()
    workdir = Path(tempfile.mkdtemp(prefix="bench-news-"))
    app, tenant_pk, close = prepare(args, workdir)
    try:
        app.config["REDIS_URL"] = args.redis_url
        heard = Heard()
        if not args.no_listener:
            subscriber = invalidations.listen(args.redis_url, heard)
            while not subscriber.subscribed:
                time.sleep(0.01)
        refreshes(app, tenant_pk, 20, True)  # warm up both paths
        refreshes(app, tenant_pk, 20, False)
        with_news, without = [], []
        # Blocks of BLOCK each way, alternating: a machine whose load changes hits both alike.
        for _ in range(args.rounds * args.refreshes // BLOCK):
            with_news += refreshes(app, tenant_pk, BLOCK, True)
            without += refreshes(app, tenant_pk, BLOCK, False)
        channel = invalidations.channel(connection)
        alone = []
        for _ in range(2000):
            started = time.perf_counter()
            connection.publish(channel, f"tenant:{tenant_pk}")
            alone.append(time.perf_counter() - started)
    finally:
        close()
        connection.flushdb()
    a, b = statistics.median(with_news), statistics.median(without)
    print(f"database: {args.database}, {len(with_news)} refreshes each way, in blocks of {BLOCK}")
    print(f"refresh with the PUBLISH: median {a * 1000:.2f} ms, mean {_mean(with_news)} ms")
    print(f"refresh without: median {b * 1000:.2f} ms, mean {_mean(without)} ms")
    print(f"added per refresh (medians): {(a - b) * 1000:.3f} ms ({(a - b) / b:+.1%})")
    print(f"PUBLISH alone: median {statistics.median(alone) * 1000:.3f} ms, mean {_mean(alone)} ms")
    print(f"names heard by the subscriber: {heard.names}")


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values) * 1000:.3f}"


if __name__ == "__main__":
    main()
