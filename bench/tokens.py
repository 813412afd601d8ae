"""Benchmark: the token API under gunicorn (2 gthread workers) on loopback, against a baseline
measured in the same run.

    python bench/tokens.py [--part a|b|all] [--count 5000] [--concurrency 8]
                           [--database postgresql|sqlite]
                           [--tenants 10000] [--ttl 300] [--min-remaining S] [--duration S]
                           [--readers 3] [--redis-url redis://127.0.0.1:6379/14]

Part a, reads: GET /api/v1/apps/<id>/tenants/<tid>/access-token with a valid API key and the
token fresh in the database (no upstream call), against bench/bare_tokens.py, a bare Flask
endpoint answering the same JSON from memory. One hot token, as when a service sends messages
for one tenant: after the first read each process answers it from its token cache
(api/token_cache.py), reading the database again every 5 s. Prints reads/s, p50/p99 and the
ratio ours/bare. Target: ratio >= 0.7 on PostgreSQL.

Part b, refreshes: --tenants tenants (default 10,000) in the sandbox with a short token lifetime
(--ttl, default 300 s), 2 RQ workers and cron: time to refresh all, upstream calls per tenant per
lifetime (target <= 1.01), tokens served expired (target 0). See bench/token_refresh.py. With
--steady there is no fill: the tenants start with tokens of every age (bench/steady.py), and the
figures add the time each token sweep took (target < 2 s; 100,000 tenants is the issue's size).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import timedelta
from hashlib import sha256
from pathlib import Path

import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import token_refresh  # noqa: E402
from bench.callbacks import prepare_database  # noqa: E402
from bench.common import gunicorn, load  # noqa: E402
from suite_server import create_app, db, schema  # noqa: E402
from suite_server.accounts import create_api_key  # noqa: E402
from suite_server.apps import register_app  # noqa: E402
from suite_server.db import utcnow  # noqa: E402
from suite_server.models import AppToken, Tenant, TenantToken, Ticket  # noqa: E402

SUITE, CORP, TOKEN = "wwbenchsuite", "wwbenchcorp", "corp-token-" + "x" * 53
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
DEAD_URL = "http://127.0.0.1:9"  # any upstream call fails at once instead of leaving the machine


def server_env(database: str, workdir: Path) -> tuple[dict[str, str], callable]:
    url, drop = prepare_database(database, workdir)
    env = {
        "SUITE_SERVER_INSTANCE_PATH": str(workdir),
        "SUITE_SERVER_DATABASE_URL": url,
        "SUITE_SERVER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SUITE_SERVER_SECRET_KEY": "bench",
        "SUITE_SERVER_WECOM_API_BASE": DEAD_URL,
        "SUITE_SERVER_WECHAT_API_BASE": DEAD_URL,
    }
    return env, drop


def seed_reads(app) -> str:
    """An app, a tenant and its token, fresh for a day and not due for refresh: serving it asks
    no platform. The app has a ticket and a fresh token too, so the in-process schedule's token
    sweep (wsgi.py, no Redis) finds nothing to do during the run. Returns an API key."""
    with app.app_context():
        session = db.session()
        suite = register_app(
            session, platform="wecom", app_id=SUITE, secret="s", token="T", aes_key=AES_KEY
        )
        session.flush()
        tenant = Tenant(app_pk=suite.id, tenant_id=CORP, name="Bench", credential="pc")
        session.add(tenant)
        session.flush()
        now = utcnow()
        fresh = {
            "access_token": TOKEN,
            "obtained_at": now,
            "version": 1,
            "expires_at": now + timedelta(days=1),
            "refresh_at": now + timedelta(hours=20),
        }
        session.add(TenantToken(tenant_pk=tenant.id, **fresh))
        session.add(AppToken(app_pk=suite.id, **fresh))
        ticket = "bench-ticket"
        digest = sha256(ticket.encode()).hexdigest()
        session.add(Ticket(app_pk=suite.id, value=ticket, value_hash=digest, pushed_at=now))
        key = create_api_key(session, "bench")
        session.commit()
    return key


def token_version(app) -> int:
    with app.app_context():
        return db.session().scalar(sa.select(TenantToken.version))


def part_a(args) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-tokens-"))
    env, drop = server_env(args.database, workdir)
    os.environ.update(env)
    app = create_app()
    schema.upgrade(app)
    key = seed_reads(app)
    path = f"/api/v1/apps/{SUITE}/tenants/{CORP}/access-token"
    headers = {"Authorization": f"Bearer {key}"}

    def calls(count: int) -> list:
        return [("GET", path, None, headers)] * count

    ours_process, ours = gunicorn("wsgi:app", env)
    bare_process, bare = gunicorn("bench.bare_tokens:app", env)
    try:
        answer = requests.get(ours + path, headers=headers, timeout=10)
        if answer.status_code != 200 or answer.json()["access_token"] != TOKEN:
            raise SystemExit(f"the token API does not serve the token: {answer.status_code}")
        warm = max(100, args.count // 20)
        load(bare, calls(warm), args.concurrency)
        load(ours, calls(warm), args.concurrency)
        bare_result = load(bare, calls(args.count), args.concurrency)
        ours_result = load(ours, calls(args.count), args.concurrency)
        # Latency without a queue in front of the server: one request per worker at a time.
        steady = args.count // 2
        bare_steady = load(bare, calls(steady), 2)
        ours_steady = load(ours, calls(steady), 2)
    finally:
        for process in (ours_process, bare_process):
            process.terminate()
            process.wait()
    refreshed = token_version(app) - 1
    db.dispose(app)
    drop()

    print(f"bench/tokens.py part a  {time.strftime('%Y-%m-%d %H:%M')}  {platform.platform()}")
    print(
        f"database {args.database}, gunicorn 2 workers (gthread, 4 threads each), "
        f"{args.count} reads, loopback; bare = the same JSON from memory, no key, no database"
    )
    print(f"saturation, {args.concurrency} client threads:")
    print(bare_result.line("  bare"))
    print(ours_result.line("  ours"))
    print("steady, 2 client threads (one request per worker, no queue):")
    print(bare_steady.line("  bare"))
    print(ours_steady.line("  ours"))
    # One figure per line, `label: value unit  (target ...)`: bench/run_all.py parses these.
    print(f"reads/s bare: {bare_result.rate:.1f}")
    print(f"reads/s ours: {ours_result.rate:.1f}")
    print(f"ratio ours/bare (reads/s): {ours_result.rate / bare_result.rate:.2f}  (target >= 0.7)")
    print(f"p99 ours at saturation: {ours_result.percentile(0.99):.2f} ms")
    print(f"p99 ours steady: {ours_steady.percentile(0.99):.2f} ms")
    print(f"refreshes during the run: {refreshed}  (target = 0)")


def part_b(args) -> None:
    token_refresh.run(args)


PARTS = {"a": part_a, "b": part_b}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all")
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    part_b_options = parser.add_argument_group("part b")
    part_b_options.add_argument("--tenants", type=int, default=10_000)
    part_b_options.add_argument(
        "--ttl", type=int, default=300, help="token lifetime in the sandbox, seconds"
    )
    part_b_options.add_argument(
        "--min-remaining", type=int, default=None, help="TOKEN_MIN_REMAINING (default ttl/10)"
    )
    part_b_options.add_argument(
        "--duration", type=int, default=None, help="seconds measured after the fill (default 2 ttl)"
    )
    part_b_options.add_argument(
        "--fill-timeout",
        type=int,
        default=None,
        help="give up the fill after this (default max(600, ttl))",
    )
    part_b_options.add_argument(
        "--steady",
        action="store_true",
        help="every tenant starts with a token, ages spread over a lifetime (bench/steady.py)",
    )
    part_b_options.add_argument("--readers", type=int, default=3)
    part_b_options.add_argument(
        "--read-pause", type=float, default=0.05, help="seconds each reader waits between reads"
    )
    part_b_options.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    for name, run in PARTS.items():
        if args.part in (name, "all"):
            run(args)


if __name__ == "__main__":
    main()
