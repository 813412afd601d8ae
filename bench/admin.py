"""Benchmark: the admin tenants list with 100,000 tenants in PostgreSQL.

    python bench/admin.py [--tenants 100000] [--requests 200]

Signs in like a browser (CSRF token from the login form) and times GET /admin/tenants through
the app in this process (no network): the first page, a deep page (keyset cursor near the end),
an id-prefix search and a name search. Prints p50 / p95 per case. Target: p95 under 200 ms.
The baseline in the same run is GET /healthz through the same client (the framework's floor).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.callbacks import prepare_database  # noqa: E402
from suite_server import accounts, create_app, db, schema  # noqa: E402
from suite_server.apps import register_app  # noqa: E402
from suite_server.db import utcnow  # noqa: E402

AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
TARGET_MS = 200.0


def seed(app, count: int) -> int:
    """An app and `count` tenants, written with PostgreSQL's COPY; returns the smallest id."""
    with app.app_context():
        session = db.session()
        suite = register_app(
            session,
            platform="wecom",
            app_id="wwbenchadmin",
            secret="s",
            token="T",
            aes_key=AES_KEY,
        )
        accounts.create_admin(session, "bench", "bench password 1")
        session.commit()
        rows = io.StringIO()
        now = utcnow().replace(tzinfo=None).isoformat()
        for n in range(count):
            status = ("active", "active", "active", "cancelled", "needs_reauth")[n % 5]
            rows.write(f"{suite.id}\two{n:08d}\tCorp number {n}\t{status}\t0\t{now}\t{now}\n")
        raw = db.engine().raw_connection()
        try:
            with raw.cursor() as cursor:
                columns = (
                    "app_pk, tenant_id, name, status, credential_version, created_at, updated_at"
                )
                copy = f"COPY tenants ({columns}) FROM STDIN"
                with cursor.copy(copy) as sink:
                    sink.write(rows.getvalue())
                cursor.execute("ANALYZE tenants")
            raw.commit()
        finally:
            raw.close()
        return session.scalar(text("SELECT min(id) FROM tenants"))


def sign_in(client) -> None:
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = client.post(
        "/admin/login",
        data={"csrf_token": token, "username": "bench", "password": "bench password 1"},
    )
    if answer.status_code != 303 or answer.headers["Location"] != "/admin/":
        raise SystemExit(f"sign-in failed: {answer.status_code} {answer.headers.get('Location')}")


def timed(client, path: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code}")
    return times


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-admin-"))
    url, drop = prepare_database("postgresql", workdir)
    os.environ.update(
        SUITE_SERVER_INSTANCE_PATH=str(workdir),
        SUITE_SERVER_DATABASE_URL=url,
        SUITE_SERVER_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        SUITE_SERVER_SECRET_KEY="bench",
    )
    app = create_app()
    schema.upgrade(app)
    smallest = seed(app, args.tenants)
    deep = smallest + 50  # near the end: pages go from the newest id down
    cases = {
        "healthz (baseline)": "/healthz",
        "first page": "/admin/tenants",
        "deep page": f"/admin/tenants?before={deep}",
        "id prefix search": "/admin/tenants?q=wo0009",
        "name search": "/admin/tenants?q=number%2099999",
        "status filter": "/admin/tenants?status=needs_reauth",
    }
    results = {}
    with app.app_context():
        client = app.test_client()
        sign_in(client)
        for name, path in cases.items():
            timed(client, path, 10)  # warm
            results[name] = timed(client, path, args.requests)
        db.engine().dispose()
    drop()

    print(f"bench/admin.py  {time.strftime('%Y-%m-%d %H:%M')}  {platform.platform()}")
    print(f"PostgreSQL, {args.tenants} tenants, {args.requests} requests per case, in process")
    worst = 0.0
    for name, times in results.items():
        line = f"  {name:<20} p50 {statistics.median(times):7.2f} ms  p95 {p95(times):7.2f} ms"
        print(line)
        if name != "healthz (baseline)":
            worst = max(worst, p95(times))
    verdict = "met" if worst < TARGET_MS else "NOT met"
    target = f"target < {TARGET_MS:.0f} ms: {verdict}"
    print(f"worst p95 of the tenants list: {worst:.2f} ms  ({target})")


if __name__ == "__main__":
    main()
