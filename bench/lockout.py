"""Benchmark: bursts of concurrent wrong passwords against the admin sign-in, then the right one.

    python bench/lockout.py [--bursts 5] [--size 40] [--workers 2] [--database postgresql]

Serves the app with gunicorn (`--workers` processes, 4 threads each) on a fresh database. Each
burst signs in as its own admin from its own loopback address (127.0.0.2, 127.0.0.3, ...), so
one burst's throttling does not carry into the next: `--size` browsers each fetch the login form
(session cookie and CSRF token), then all post a wrong password at the same moment, and as soon
as every one of those is sent, one more browser posts the right password.

Printed per burst: how many wrong passwords were checked against the stored hash while the
account was not locked (counted in the server processes: each check is appended to a file, with
whether the process had read a lock), and whether the right password was accepted. Sign-in
decides, atomically in the database, whether an attempt may be checked at all, so at most 5 are
checked per burst (docs/admin.md "Throttling") and the right password sent after them is
refused. The baseline in the same run is one lone wrong attempt: what one check costs.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import sys
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.callbacks import deployment  # noqa: E402
from bench.common import gunicorn  # noqa: E402

PASSWORD = "the right password 1"
_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def counted_app():
    """The gunicorn target (`bench.lockout:counted_app()`): the app of wsgi.py, with every
    password check appended to BENCH_CHECKS as `username right locked`: whether the password was
    right, and whether the row the process read was locked (before 0008 the check ran even on a
    locked account, to take the same time). One write() per line on a file opened for
    appending, so lines from both workers do not mix."""
    from suite_server.db import utcnow
    from suite_server.models import AdminUser

    original = AdminUser.check_password
    checks = os.open(os.environ["BENCH_CHECKS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def check_password(self, password: str) -> bool:
        right = original(self, password)
        until = getattr(self, "locked_until", None)
        locked = until is not None and until > utcnow()
        os.write(checks, f"{self.username} {int(right)} {int(locked)}\n".encode())
        return right

    AdminUser.check_password = check_password
    from wsgi import app

    return app


class Browser:
    """One browser: its own connection from `address`, its session cookie and CSRF token."""

    def __init__(self, base: str, address: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(
            host, int(port), timeout=60, source_address=(address, 0)
        )
        self.connection.request("GET", "/admin/login")
        response = self.connection.getresponse()
        body = response.read().decode()
        cookie = SimpleCookie(response.headers["Set-Cookie"])
        self.cookie = "; ".join(f"{k}={v.value}" for k, v in cookie.items())
        self.token = _TOKEN.search(body).group(1)

    def send(self, username: str, password: str) -> None:
        body = urlencode({"csrf_token": self.token, "username": username, "password": password})
        headers = {"Cookie": self.cookie, "Content-Type": "application/x-www-form-urlencoded"}
        self.connection.request("POST", "/admin/login", body=body, headers=headers)

    def answer(self) -> tuple[int, str]:
        """Status and Location of the answer to the login form."""
        response = self.connection.getresponse()
        response.read()
        self.connection.close()
        return response.status, response.headers.get("Location", "")


def accepted(answer: tuple[int, str]) -> bool:
    status, location = answer
    return status in (302, 303) and location.rstrip("/").endswith("/admin")


def burst(base: str, username: str, address: str, size: int) -> tuple[bool, float]:
    """`size` wrong passwords at once, then the right one: was it accepted, and the seconds the
    burst took."""
    browsers = [Browser(base, address) for _ in range(size)]
    last = Browser(base, address)
    start, sent = threading.Barrier(size), threading.Barrier(size + 1)
    answers: list[tuple[int, str]] = []

    def attempt(browser: Browser, n: int) -> None:
        start.wait()
        browser.send(username, f"wrong password {n}")
        sent.wait()
        answers.append(browser.answer())

    began = time.perf_counter()
    threads = [threading.Thread(target=attempt, args=(b, n)) for n, b in enumerate(browsers)]
    for thread in threads:
        thread.start()
    sent.wait()  # every wrong password is on its way: now the right one
    last.send(username, PASSWORD)
    right = accepted(last.answer())
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    assert not any(accepted(a) for a in answers), "a wrong password was accepted"
    return right, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    args = parser.parse_args()

    workdir, env, drop = deployment(args.database, "lockout")
    checks = workdir / "checks"
    env |= {
        "SUITE_SERVER_LOG_LEVEL": "WARNING",
        "BENCH_CHECKS": str(checks),
    }
    os.environ.update(env)
    from suite_server import accounts, create_app, db, schema

    app = create_app()
    schema.upgrade(app)  # before the workers start: they would otherwise race to migrate
    with app.app_context(), db.transaction() as session:
        for n in range(args.bursts + 1):
            accounts.create_admin(session, f"burst{n}", PASSWORD)
    db.dispose(app)

    output = open(workdir / "gunicorn.log", "w")  # noqa: SIM115 - open while gunicorn runs
    server, base = gunicorn("bench.lockout:counted_app()", env, workers=args.workers, output=output)
    try:
        began = time.perf_counter()
        lone_browser = Browser(base, "127.0.0.2")
        lone_browser.send("burst0", "a lone wrong password")
        lone_browser.answer()
        lone = time.perf_counter() - began
        results = [
            burst(base, f"burst{n}", f"127.0.0.{n + 2}", args.size)
            for n in range(1, args.bursts + 1)
        ]
    finally:
        server.terminate()
        server.wait()
        output.close()
        drop()
    lines = [line.split() for line in checks.read_text().splitlines()]
    print(
        f"{args.bursts} bursts of {args.size} concurrent wrong passwords, then the right one; "
        f"gunicorn {args.workers} workers x 4 threads on {args.database}"
    )
    print(f"baseline: one lone wrong attempt {lone * 1000:.0f} ms (login form included)")

    def checked(n: int) -> int:
        """Wrong passwords of burst n checked while the account was not locked."""
        return sum(1 for line in lines if line == [f"burst{n}", "0", "0"])

    for n, (right, seconds) in enumerate(results, start=1):
        print(
            f"burst {n}: {checked(n):2d} of {args.size} wrong passwords checked before the lock, "
            f"right password {'ACCEPTED' if right else 'refused'}  ({seconds:.2f} s)"
        )
    taken = sum(1 for right, _ in results if right)
    print(f"right password accepted after a burst in {taken} of {args.bursts} bursts")
    # The figures, in bench/run_all.py's "label: value (target ...)" form.
    most = max(checked(n) for n in range(1, args.bursts + 1))
    print(f"most wrong passwords checked in a burst: {most} (target <= 5)")
    print(f"bursts after which the right password got in: {taken} (target = 0)")


if __name__ == "__main__":
    main()
