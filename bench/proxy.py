"""Benchmark: the tenant gateway's proxy (docs/gateway.md "Proxy") under gunicorn (2 gthread
workers) on loopback, against the same calls made directly to the platform and through a bare
forwarder, all in the same run.

    python bench/proxy.py [--count 3000] [--concurrency 8] [--database postgresql|sqlite]

The platform is the sandbox under gunicorn (1 worker, its state in memory), with one suite and
one corp; the call is WeCom `cgi-bin/user/get` with the corp token:
- direct: to the sandbox, the token in hand (the client holds it);
- bare: through bench/bare_proxy.py, a Flask endpoint forwarding with requests and the token
  from memory: the floor any proxy in Python pays;
- ours: through /api/v1/apps/<suite>/tenants/<corp>/proxy/cgi-bin/user/get.
Then the dead token: the sandbox invalidates the corp token and 50 callers proxy at once.

Targets: ours >= 0.8 of bare's calls/s; added latency over direct, at steady load (2 client
threads, one call per worker at a time), < 2 ms p50 and < 5 ms p99; one upstream refresh
(get_corp_token) for the 50 calls on the dead token, each answered errcode 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.callbacks import prepare_database  # noqa: E402
from bench.common import Result, gunicorn, load  # noqa: E402
from suite_server import create_app, db, schema  # noqa: E402
from suite_server.accounts import create_api_key  # noqa: E402
from suite_server.apps import register_app  # noqa: E402
from suite_server.models import Tenant, TenantToken  # noqa: E402

SUITE, SECRET, TOKEN = "wwbenchproxy", "bench-suite-secret", "BenchT0ken"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
USER_GET = "cgi-bin/user/get?userid=zhangsan"
CROWD = 50


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sandbox_calls(sandbox: str) -> dict:
    return requests.get(f"{sandbox}/sandbox/calls", timeout=10).json()["by_endpoint"]


def seed(app, corp: dict) -> str:
    """Our suite and its corp (the sandbox's permanent code), an empty token row; an API key."""
    with app.app_context():
        session = db.session()
        suite = register_app(
            session, platform="wecom", app_id=SUITE, secret=SECRET, token=TOKEN, aes_key=AES_KEY
        )
        session.flush()
        tenant = Tenant(
            app_pk=suite.id,
            tenant_id=corp["tenant_id"],
            name="Bench",
            credential=corp["credential"],
        )
        session.add(tenant)
        session.flush()
        session.add(TenantToken(tenant_pk=tenant.id, version=0))
        key = create_api_key(session, "bench-proxy")
        session.commit()
    return key


def register(sandbox: str, server_url: str) -> None:
    body = {
        "platform": "wecom",
        "app_id": SUITE,
        "secret": SECRET,
        "token": TOKEN,
        "aes_key": AES_KEY,
        "server_url": server_url,
        "push_ticket": False,
    }
    requests.post(f"{sandbox}/sandbox/apps", json=body, timeout=30).raise_for_status()


def age_token(app) -> None:
    """The stored corp token looks obtained a minute ago: a stale-token refresh may renew it."""
    with app.app_context():
        session = db.session()
        row = session.scalar(sa.select(TenantToken))
        row.obtained_at -= timedelta(minutes=1)
        session.commit()


def crowd(url: str, headers: dict) -> list[requests.Response]:
    go, answers = threading.Event(), []

    def caller():
        go.wait()
        answers.append(requests.get(url, headers=headers, timeout=60))

    threads = [threading.Thread(target=caller) for _ in range(CROWD)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(120)
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    url, drop = prepare_database(args.database, workdir)
    processes = []
    try:
        sandbox_process, sandbox = gunicorn(
            'suite_server.sandbox.app:create_sandbox_app({"ticket_interval": 3600})',
            {},
            workers=1,
        )
        processes.append(sandbox_process)
        register(sandbox, "http://127.0.0.1:9")
        bulk = {"app_id": SUITE, "count": 1, "prefix": "wwbenchcorp"}
        requests.post(f"{sandbox}/sandbox/tenants/bulk", json=bulk, timeout=30).raise_for_status()
        corp = requests.get(f"{sandbox}/sandbox/tenants", params={"app_id": SUITE}, timeout=30)
        corp = corp.json()["tenants"][0]

        env = {
            "SUITE_SERVER_INSTANCE_PATH": str(workdir),
            "SUITE_SERVER_DATABASE_URL": url,
            "SUITE_SERVER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "SUITE_SERVER_SECRET_KEY": "bench",
            "SUITE_SERVER_WECOM_API_BASE": sandbox,
            "SUITE_SERVER_WECHAT_API_BASE": sandbox,
        }
        os.environ.update(env)
        app = create_app()
        schema.upgrade(app)
        key = seed(app, corp)
        headers = {"Authorization": f"Bearer {key}"}
        ours_process, ours = gunicorn("wsgi:app", env)
        processes.append(ours_process)
        register(sandbox, ours)  # the suite's ticket goes to our server now
        pushed = requests.post(
            f"{sandbox}/sandbox/push", json={"app_id": SUITE, "kind": "ticket"}, timeout=30
        )
        if pushed.json().get("status") != 200:
            raise SystemExit(f"the ticket push was not stored: {pushed.text[:300]}")
        token_path = f"/api/v1/apps/{SUITE}/tenants/{corp['tenant_id']}/access-token"
        token = requests.get(ours + token_path, headers=headers, timeout=30).json()["access_token"]
        bare_process, bare = gunicorn(
            "bench.bare_proxy:app",
            {"BENCH_PROXY_UPSTREAM": sandbox, "BENCH_PROXY_TOKEN": token},
        )
        processes.append(bare_process)

        proxied = f"/api/v1/apps/{SUITE}/tenants/{corp['tenant_id']}/proxy/{USER_GET}"
        direct_call = [("GET", f"/{USER_GET}&access_token={token}", None, {})]
        bare_call = [("GET", proxied, None, {})]
        ours_call = [("GET", proxied, None, headers)]
        for base, call in ((sandbox, direct_call), (bare, bare_call), (ours, ours_call)):
            answer = requests.get(base + call[0][1], headers=call[0][3], timeout=30)
            if answer.status_code != 200 or answer.json().get("errcode") != 0:
                raise SystemExit(f"{base}: {answer.status_code} {answer.text[:300]}")
        say("warming up")
        warm = max(100, args.count // 20)
        for base, call in ((sandbox, direct_call), (bare, bare_call), (ours, ours_call)):
            load(base, call * warm, args.concurrency)
        say("saturation")
        saturated: dict[str, list[Result]] = {"direct": [], "bare": [], "ours": []}
        steady: dict[str, list[Result]] = {"direct": [], "bare": [], "ours": []}
        rounds = 3  # the servers take turns, so a slow spell of the machine falls on all
        for _ in range(rounds):
            saturated["direct"].append(
                load(sandbox, direct_call * (args.count // rounds), args.concurrency)
            )
            saturated["bare"].append(
                load(bare, bare_call * (args.count // rounds), args.concurrency)
            )
            saturated["ours"].append(
                load(ours, ours_call * (args.count // rounds), args.concurrency)
            )
        say("steady")
        for _ in range(rounds):
            steady["direct"].append(load(sandbox, direct_call * (args.count // (2 * rounds)), 2))
            steady["bare"].append(load(bare, bare_call * (args.count // (2 * rounds)), 2))
            steady["ours"].append(load(ours, ours_call * (args.count // (2 * rounds)), 2))
        sat = {name: Result.combined(results) for name, results in saturated.items()}
        calm = {name: Result.combined(results) for name, results in steady.items()}

        say("the dead token")
        age_token(app)
        invalidate = {"app_id": SUITE, "tenant_id": corp["tenant_id"]}
        requests.post(f"{sandbox}/sandbox/tokens/invalidate", json=invalidate, timeout=30)
        before = sandbox_calls(sandbox)
        answers = crowd(ours + proxied, headers)
        after = sandbox_calls(sandbox)
        refreshes = after.get("get_corp_token", 0) - before.get("get_corp_token", 0)
        good = sum(a.status_code == 200 and a.json().get("errcode") == 0 for a in answers)
        retried = sum(a.headers.get("X-Suite-Server-Retried") == "1" for a in answers)
        sent = after.get("user_get", 0) - before.get("user_get", 0)
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait()
    db.dispose(app)
    drop()

    print(f"bench/proxy.py  {time.strftime('%Y-%m-%d %H:%M')}  {platform.platform()}")
    print(
        f"database {args.database}; ours and bare: gunicorn 2 workers (gthread, 4 threads each);"
        f" the sandbox: gunicorn 1 worker; {args.count} calls of GET {USER_GET.split('?')[0]}"
        f" per server, {rounds} rounds taken in turn; loopback, {os.cpu_count()} cores shared"
    )
    print(f"saturation, {args.concurrency} client threads:")
    for name, result in sat.items():
        print(result.line(f"  {name}"))
    print("steady, 2 client threads:")
    for name, result in calm.items():
        print(result.line(f"  {name}"))
    print(f"calls/s direct: {sat['direct'].rate:.1f}")
    print(f"calls/s bare: {sat['bare'].rate:.1f}")
    print(f"calls/s ours: {sat['ours'].rate:.1f}")
    print(f"ratio ours/bare (calls/s): {sat['ours'].rate / sat['bare'].rate:.2f}  (target >= 0.8)")
    added_p50 = calm["ours"].percentile(0.5) - calm["direct"].percentile(0.5)
    added_p99 = calm["ours"].percentile(0.99) - calm["direct"].percentile(0.99)
    floor_p50 = calm["bare"].percentile(0.5) - calm["direct"].percentile(0.5)
    floor_p99 = calm["bare"].percentile(0.99) - calm["direct"].percentile(0.99)
    print(f"added latency p50, ours over direct: {added_p50:.2f} ms  (target < 2 ms)")
    print(f"added latency p99, ours over direct: {added_p99:.2f} ms  (target < 5 ms)")
    print(f"added latency p50, bare over direct: {floor_p50:.2f} ms")
    print(f"added latency p99, bare over direct: {floor_p99:.2f} ms")
    print(f"dead token, {CROWD} callers: answered errcode 0: {good}  (target = {CROWD})")
    print(f"dead token, {CROWD} callers: sent again: {retried}")
    print(f"dead token, {CROWD} callers: calls the platform saw: {sent}")
    print(f"dead token, {CROWD} callers: upstream refreshes: {refreshes}  (target = 1)")


if __name__ == "__main__":
    main()
