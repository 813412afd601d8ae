"""Concurrent wrong passwords against the served app over HTTP: whether an attempt may be checked
is decided, and counted, in the database before its password is checked, so no more than five
are checked however many arrive at once, and the right password sent while they are being
checked is refused.

Password checks are slow (scrypt), and before the fix every attempt that arrived during them
read "not locked": here the wrong ones are held inside the check until the right one has been
answered, which makes that window as wide as it is on a busy server, every time."""

from __future__ import annotations

import re
import threading
import time

import requests
from sqlalchemy import select

from suite_server import db
from suite_server.admin import throttle
from suite_server.models import AdminSession, AdminUser
from tests.admin.conftest import PASSWORD, USERNAME

# With the right one, within the app's pool of 15 connections: before the fix each attempt held
# one during its check, and a burst larger than the pool made the right one wait for the others.
BURST = 10
_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class Browser:
    def __init__(self, base: str) -> None:
        self.base, self.http = base, requests.Session()
        page = self.http.get(f"{base}/admin/login", timeout=30).text
        self.token = _TOKEN.search(page).group(1)

    def sign_in(self, password: str) -> requests.Response:
        data = {"csrf_token": self.token, "username": USERNAME, "password": password}
        return self.http.post(
            f"{self.base}/admin/login", data=data, allow_redirects=False, timeout=60
        )


def accepted(response: requests.Response) -> bool:
    return response.status_code in (302, 303) and response.headers["Location"] == "/admin/"


def test_a_burst_of_wrong_passwords_gets_five_checks_and_locks_out_the_right_one(
    live_server, admin_user, monkeypatch
):
    checks: list[bool] = []
    lock = threading.Lock()
    answered = threading.Event()  # the right password has had its answer
    original = AdminUser.check_password

    def check_password(self, password: str) -> bool:
        right = original(self, password)
        with lock:
            checks.append(right)
        if not right:
            answered.wait(15)  # a slow check: still running when the right password arrives
        return right

    monkeypatch.setattr(AdminUser, "check_password", check_password)
    browsers = [Browser(live_server) for _ in range(BURST)]
    last = Browser(live_server)
    wrong: list[requests.Response] = []
    threads = [
        threading.Thread(target=lambda b=b, n=n: wrong.append(b.sign_in(f"wrong {n}")))
        for n, b in enumerate(browsers)
    ]
    for thread in threads:
        thread.start()
    # Wait until the server is busy checking wrong passwords (at most five may be), then send
    # the right one.
    deadline = time.monotonic() + 15
    while len(checks) < throttle.ADDRESS_FREE and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # any further attempt that would be checked gets the time to start
    right = last.sign_in(PASSWORD)
    answered.set()
    for thread in threads:
        thread.join()

    assert not any(accepted(response) for response in wrong)
    assert not accepted(right), "the right password got in after a burst of wrong ones"
    assert checks.count(False) <= throttle.ADDRESS_FREE, f"{checks.count(False)} wrong checked"
    db.session().expire_all()
    assert db.session().scalars(select(AdminSession)).all() == []
