"""Benchmark: signed, encrypted suite_ticket pushes against suite-server under gunicorn
(2 gthread workers) on loopback, and the same load against a bare Flask endpoint that only verifies
and decrypts with wechatpy and stores nothing. Prints pushes/s, p50/p99 and the ratio ours/bare.

A third server, "bare+store" (bench/bare_app.py `storing`), is the bare endpoint plus the write
every push needs before it is answered, through suite-server's own store: its ratio to bare is
what any endpoint that stores first can reach on this machine. The servers take turns, round by
round, so a slow spell of a shared machine falls on all of them.

    python bench/callbacks.py [--count 3000] [--rounds 3] [--concurrency 8]
                              [--database postgresql|sqlite]

Target (issue 3): ratio >= 0.6 on PostgreSQL, p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import sqlalchemy as sa
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Result, gunicorn, load  # noqa: E402
from suite_server import create_app, db, schema  # noqa: E402
from suite_server.apps import register_app  # noqa: E402
from suite_server.crypto import msgcrypt  # noqa: E402
from suite_server.models import InboundEvent  # noqa: E402

TOKEN, AES_KEY, SUITE = "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wwbenchsuite"
POSTGRES = os.environ.get(
    "SUITE_SERVER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def pushes(count: int, tag: str) -> list:
    """`count` distinct ticket pushes, encrypted and signed up front so the client does no
    crypto while timing."""
    key = msgcrypt.decode_aes_key(AES_KEY)
    made = []
    for number in range(count):
        timestamp, nonce = str(int(time.time())), str(number)
        message = (
            f"<xml><SuiteId><![CDATA[{SUITE}]]></SuiteId><InfoType><![CDATA[suite_ticket]]>"
            f"</InfoType><TimeStamp>{timestamp}</TimeStamp>"
            f"<SuiteTicket><![CDATA[ticket-{tag}-{number}]]></SuiteTicket></xml>"
        )
        encrypted = msgcrypt.encrypt(key, message, SUITE)
        query = {
            "msg_signature": msgcrypt.sign(TOKEN, timestamp, nonce, encrypted),
            "timestamp": timestamp,
            "nonce": nonce,
        }
        body = f"<xml><ToUserName><![CDATA[{SUITE}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"  # noqa: E501
        made.append((query, body))
    return made


def calls(made: list) -> list:
    path = f"/callback/wecom/{SUITE}/command"
    headers = {"Content-Type": "text/xml"}
    return [("POST", f"{path}?{urlencode(q)}", b.encode(), headers) for q, b in made]


def prepare_database(
    kind: str, workdir: Path, prefix: str = "suite_server_bench_", postgres: str = POSTGRES
) -> tuple[str, callable]:
    """A new database (PostgreSQL: named `prefix` and 8 random hex digits, on the server of
    `postgres`); returns its URL and a function that drops it."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", lambda: None
    admin = sa.engine.make_url(postgres)
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop():
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return admin.set(database=name).render_as_string(hide_password=False), drop


def deployment(kind: str, name: str) -> tuple[Path, dict[str, str], callable]:
    """A fresh instance folder and database for a benchmark's servers: (folder, the
    SUITE_SERVER_* settings that point at them, a function that drops the database)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    url, drop = prepare_database(kind, workdir)
    env = {
        "SUITE_SERVER_INSTANCE_PATH": str(workdir),
        "SUITE_SERVER_DATABASE_URL": url,
        "SUITE_SERVER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SUITE_SERVER_SECRET_KEY": "bench",
    }
    return workdir, env, drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    args = parser.parse_args()

    workdir, env, drop = deployment(args.database, "callbacks")
    env |= {
        "BENCH_TOKEN": TOKEN,
        "BENCH_AES_KEY": AES_KEY,
        "BENCH_SUITE_ID": SUITE,
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("SUITE_SERVER_")})
    app = create_app()
    schema.upgrade(app)
    with app.app_context():
        register_app(
            db.session(), platform="wecom", app_id=SUITE, secret="s", token=TOKEN, aes_key=AES_KEY
        )
        db.session().commit()

    targets = {
        "bare": "bench.bare_app:app",
        "bare+store": "bench.bare_app:storing",
        "ours": "wsgi:app",
    }
    servers = {name: gunicorn(target, env) for name, target in targets.items()}
    warm, steady = max(50, args.count // 20), args.count // 2
    saturation: dict[str, list[Result]] = {name: [] for name in servers}
    quiet: dict[str, Result] = {}
    try:
        for name, (_, base) in servers.items():
            load(base, calls(pushes(warm, f"warm-{name}")), args.concurrency)
        for number in range(args.rounds):
            for name, (_, base) in servers.items():
                made = pushes(args.count // args.rounds, f"{name}-{number}")
                saturation[name].append(load(base, calls(made), args.concurrency))
        # Latency without a queue in front of the server: one request per worker at a time.
        for name, (_, base) in servers.items():
            quiet[name] = load(base, calls(pushes(steady, f"{name}-steady")), 2)
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait()
    busy = {name: Result.combined(results) for name, results in saturation.items()}

    with app.app_context():
        stored = db.session().scalar(sa.select(sa.func.count()).select_from(InboundEvent))
    db.dispose(app)
    drop()

    print(f"bench/callbacks.py  {time.strftime('%Y-%m-%d %H:%M')}  {platform.platform()}")
    print(
        f"database {args.database}, gunicorn 2 workers (gthread, 4 threads each), "
        f"{busy['ours'].count} pushes per server in {args.rounds} rounds taken in turn, "
        "loopback; bare = wechatpy verify+decrypt, stores nothing; bare+store = bare and "
        "suite-server's store, nothing else"
    )
    print(f"saturation, {args.concurrency} client threads:")
    for name, result in busy.items():
        print(result.line(f"  {name}"))
    print("steady, 2 client threads (one request per worker, no queue):")
    for name, result in quiet.items():
        print(result.line(f"  {name}"))
    bare, floor, ours = busy["bare"], busy["bare+store"], busy["ours"]
    # One figure per line, `label: value unit  (target ...)`: bench/run_all.py parses these.
    print(f"pushes/s bare: {bare.rate:.1f}")
    print(f"pushes/s bare+store: {floor.rate:.1f}")
    print(f"pushes/s ours: {ours.rate:.1f}")
    print(f"ratio bare+store/bare (pushes/s): {floor.rate / bare.rate:.2f}")
    print(f"ratio ours/bare (pushes/s): {ours.rate / bare.rate:.2f}  (target >= 0.6)")
    print(f"ratio ours/bare+store (pushes/s): {ours.rate / floor.rate:.2f}")
    print(f"p99 ours at saturation: {ours.percentile(0.99):.2f} ms  (target < 50 ms)")
    print(f"p99 ours steady: {quiet['ours'].percentile(0.99):.2f} ms  (target < 50 ms)")
    # bare+store and ours write to the same database, each its own distinct pushes.
    print(f"events stored: {stored}  (target = {2 * (ours.count + steady + warm)})")


if __name__ == "__main__":
    main()
