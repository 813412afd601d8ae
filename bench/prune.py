"""Benchmark: pruning a backlog of old inbound events in PostgreSQL while pushes are stored.

    python bench/prune.py [--events 1000000]

Seeds `--events` processed events 40 days old (one in ten with a delivered webhook delivery and
its attempt, also old), then runs the job `retention.prune` until nothing is left to prune,
while a thread stores a new event every 5 ms as a push does (INSERT, COMMIT on its own
connection) and times each. Prints rows pruned per second, and the longest and p99 time a
store took during the pruning against the same thread's figures on the idle database just
before (the baseline in the same run). The floor of what a lock held by the pruning could cost a
push is the difference.
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.callbacks import prepare_database  # noqa: E402
from suite_server import create_app, db, schema  # noqa: E402
from suite_server.apps import register_app  # noqa: E402
from suite_server.crypto.secrets import current_keyring  # noqa: E402
from suite_server.db import utcnow  # noqa: E402
from suite_server.processing import retention  # noqa: E402

AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
TARGET_WAIT_MS = 1000.0


def seed(app, count: int) -> int:
    """An app and `count` old processed events (COPY); returns the app's pk."""
    with app.app_context():
        session = db.session()
        suite = register_app(
            session, platform="wecom", app_id="wwbenchprune", secret="s", token="T", aes_key=AES_KEY
        )
        session.commit()
        # The payload and body columns are encrypted: one ciphertext, reused for every row.
        ciphertext = current_keyring().encrypt("<xml/>")
        old = (utcnow() - timedelta(days=40)).replace(tzinfo=None)
        events, deliveries, attempts = io.StringIO(), io.StringIO(), io.StringIO()
        for n in range(1, count + 1):
            at = (old + timedelta(milliseconds=n)).isoformat()
            events.write(
                f"{n}\t{suite.id}\twwcorp{n % 1000}\tdata\ttext\tk{n}\t\t<xml/>\t{ciphertext}"
                f"\tdone\t1\t{at}\t{at}\n"
            )
            if n % 10 == 0:
                deliveries.write(
                    f"{n}\t{n}\t{suite.id}\thttps://hooks.example.com/\t{ciphertext}\tdelivered"
                    f"\t1\t{at}\t{at}\t{at}\n"
                )
                attempts.write(f"{n}\t{n}\t{at}\t200\t5\n")
        raw = db.engine().raw_connection()
        try:
            with raw.cursor() as cursor:
                for table, columns, rows in (
                    (
                        "inbound_events",
                        "id, app_pk, tenant_id, channel, kind, dedupe_key, receive_id, raw, "
                        "payload, status, attempts, received_at, processed_at",
                        events,
                    ),
                    (
                        "webhook_deliveries",
                        "id, event_pk, app_pk, url, body, status, attempts, created_at, "
                        "window_started_at, delivered_at",
                        deliveries,
                    ),
                    (
                        "webhook_attempts",
                        "id, delivery_pk, attempted_at, status_code, latency_ms",
                        attempts,
                    ),
                ):
                    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        copy.write(rows.getvalue())
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                cursor.execute("ANALYZE")
            raw.commit()
        finally:
            raw.close()
        return suite.id


class Pusher(threading.Thread):
    """Stores an event every 5 ms on its own connection and keeps how long each took."""

    def __init__(self, url: str, app_pk: int) -> None:
        super().__init__(daemon=True)
        self.engine = create_engine(url)
        self.app_pk, self.times, self.stop = app_pk, [], threading.Event()
        self.n = 0

    def run(self) -> None:
        with self.engine.connect() as connection:
            while not self.stop.is_set():
                self.n += 1
                started = time.perf_counter()
                connection.execute(
                    text(
                        "INSERT INTO inbound_events (app_pk, tenant_id, channel, kind, "
                        "dedupe_key, receive_id, raw, payload, status, attempts, received_at) "
                        "VALUES (:app, 'wwcorp1', 'data', 'text', :key, '', '<xml/>', 'x', "
                        "'pending', 0, now() AT TIME ZONE 'utc')"
                    ),
                    {"app": self.app_pk, "key": f"live-{self.ident}-{self.n}"},
                )
                connection.commit()
                self.times.append((time.perf_counter() - started) * 1000)
                time.sleep(0.005)

    def take(self) -> list[float]:
        times, self.times = self.times, []
        return times


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 100 else max(values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-prune-"))
    url, drop = prepare_database("postgresql", workdir)
    try:
        app = create_app(
            {
                "INSTANCE_PATH": str(workdir),
                "DATABASE_URL": url,
                "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "SECRET_KEY": "bench",
            }
        )
        schema.upgrade(app)
        started = time.perf_counter()
        app_pk = seed(app, args.events)
        seeded = time.perf_counter() - started
        pusher = Pusher(app.config["SQLALCHEMY_URL"], app_pk)
        pusher.start()
        time.sleep(5)
        idle = pusher.take()
        retention.RUN_SECONDS = 3600.0
        started = time.perf_counter()
        pruned = {}
        with app.app_context():
            while True:
                counts = retention.prune()
                for table, n in counts.items():
                    pruned[table] = pruned.get(table, 0) + n
                if not any(counts.values()):
                    break
        took = time.perf_counter() - started
        busy = pusher.take()
        pusher.stop.set()
        pusher.join()
    finally:
        drop()
    print(f"bench/prune.py  {time.strftime('%Y-%m-%d %H:%M')}  {platform.platform()}")
    print(
        f"PostgreSQL, {args.events} processed events 40 days old (seeded in {seeded:.0f} s), "
        f"one in ten with a delivered webhook; a push stored every 5 ms meanwhile"
    )
    print(f"events pruned: {pruned.get('inbound_events', 0)}")
    print(f"deliveries pruned: {pruned.get('webhook_deliveries', 0)}")
    print(f"pruning time: {took:.1f} s")
    print(f"events pruned per second: {pruned.get('inbound_events', 0) / took:.0f}")
    print(f"pushes stored while pruning: {len(busy)}")
    print(f"push store p99, idle (baseline): {p99(idle):.1f} ms")
    print(f"push store p99 while pruning: {p99(busy):.1f} ms")
    print(f"push store longest, idle (baseline): {max(idle):.1f} ms")
    print(
        f"longest a push store waited while pruning: {max(busy):.1f} ms "
        f"(target <= {TARGET_WAIT_MS:.0f} ms)"
    )


if __name__ == "__main__":
    main()
