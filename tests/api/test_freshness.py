"""Cross-process freshness of the token API's cache (api/token_cache.py, invalidations.py), with
two real processes on one database and one Redis: A is `gunicorn wsgi:app` in a subprocess, B
is this test's app over HTTP. A token refreshed or a tenant cancelled in B is seen by A at once,
not CACHE_SECONDS later; and a subscription killed on Redis costs A its cache, not freshness."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import update

from suite_server import db, invalidations
from suite_server.api.token_cache import CACHE_SECONDS
from suite_server.db import utcnow
from suite_server.models import TenantToken
from tests.api.conftest import INSTALL
from tests.authorization.conftest import drain, push, tenant_of
from tests.tokens.conftest import child_env

ROOT = Path(__file__).resolve().parent.parent.parent
CANCEL = {"wecom": "cancel_auth", "open": "unauthorized"}
AT_ONCE = 1.0  # seconds: "at once", well under CACHE_SECONDS


class Process:
    """`gunicorn wsgi:app` (one worker) configured like the test's app."""

    def __init__(self, app, tmp_path: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.log = tmp_path / "gunicorn.log"
        command = [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}"]
        command += ["--workers", "1", "--threads", "4"]
        with self.log.open("w") as log:  # gunicorn's and the app's log lines
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=child_env(app), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{self.base}/healthz", timeout=10)
                return
            except (requests.ConnectionError, requests.Timeout):
                assert self.process.poll() is None, self.log.read_text()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture
def news(app, redis_url) -> redis.Redis:
    """Redis configured for the test's app (B), after its tenant is installed (its jobs keep
    running in this process); the connection to look at and kill subscriptions."""
    app.config["REDIS_URL"] = redis_url
    return redis.Redis.from_url(redis_url)


def subscriptions_of_others(news: redis.Redis) -> list[dict]:
    """The invalidation subscriptions on Redis of processes other than this one (A's)."""
    mine = f"{invalidations.CLIENT_NAME}:{os.getpid()}"
    return [
        c
        for c in news.client_list(_type="pubsub")
        if c["name"].startswith(invalidations.CLIENT_NAME) and c["name"] != mine
    ]


def wait_subscribed(news: redis.Redis, other_than: set[str] = frozenset()) -> str:
    """Wait for A's subscription (a new one, not in `other_than`); returns its client id."""
    deadline = time.monotonic() + 10
    while True:
        ids = {c["id"] for c in subscriptions_of_others(news)} - set(other_than)
        if ids:
            return ids.pop()
        assert time.monotonic() < deadline, "process A never subscribed"
        time.sleep(0.02)


def tenant_token(base: str, api_key: str, app_id: str, tenant_id: str) -> requests.Response:
    return requests.get(
        f"{base}/api/v1/apps/{app_id}/tenants/{tenant_id}/access-token",
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )


def cached_in_a(a: Process, news: redis.Redis, api_key: str, app_id: str, tenant_id: str):
    """A's first request starts its subscriber, whose confirmation empties A's cache: once it is
    subscribed, the token A serves next is the one it keeps. Returns (it, A's subscription id,
    when it was cached)."""
    token_of(a.base, api_key, app_id, tenant_id)
    subscription = wait_subscribed(news)
    return token_of(a.base, api_key, app_id, tenant_id), subscription, time.monotonic()


def token_of(base: str, api_key: str, app_id: str, tenant_id: str) -> str:
    answer = tenant_token(base, api_key, app_id, tenant_id)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def first_other(base: str, api_key: str, app_id: str, tenant_id: str, old: str) -> tuple:
    """Poll until `base` serves something other than `old` (AT_ONCE at most); returns the
    answer and how long it took."""
    started = time.monotonic()
    while True:
        answer = tenant_token(base, api_key, app_id, tenant_id)
        waited = time.monotonic() - started
        if answer.status_code != 200 or answer.json()["access_token"] != old:
            return answer, waited
        assert waited < AT_ONCE, f"still served the old token after {waited:.2f} s"
        time.sleep(0.01)


def set_token_row(tenant, value: str) -> None:
    """The row holds `value`, obtained a minute ago (so a stale-token refresh goes upstream),
    written straight to the database: no process is told."""
    session = db.session()
    session.execute(
        update(TenantToken.__table__)
        .where(TenantToken.tenant_pk == tenant.id)
        .values(access_token=value, obtained_at=utcnow() - timedelta(seconds=60))
    )
    session.commit()


def install(app, platform, owner, tenant_id: str):
    push(platform, owner, INSTALL[owner.platform], tenant_id=tenant_id, name="Fresh Corp")
    drain(app)
    return tenant_of(owner, tenant_id)


def refresh_in_b(live_server: str, api_key: str, owner, tenant_id: str, stale: str) -> str:
    answer = requests.post(
        f"{live_server}/api/v1/apps/{owner.app_id}/tenants/{tenant_id}/access-token/refresh",
        json={"stale_token": stale},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def test_a_token_refreshed_in_b_is_served_by_a_at_once(
    app, platform, either, api_key, live_server, news, tmp_path
):
    tenant = install(app, platform, either, "t-fresh")
    a = Process(app, tmp_path)
    try:
        first, _, cached_at = cached_in_a(a, news, api_key, either.app_id, "t-fresh")
        # A serves its copy: the row now says otherwise, and nobody told A.
        set_token_row(tenant, "written-behind-a")
        assert token_of(a.base, api_key, either.app_id, "t-fresh") == first

        # B refreshes the token through the token API (the platform has a new one for it).
        platform.control("tokens/invalidate", app_id=either.app_id, tenant_id="t-fresh")
        new = refresh_in_b(live_server, api_key, either, "t-fresh", "written-behind-a")
        assert new not in (first, "written-behind-a")

        answer, waited = first_other(a.base, api_key, either.app_id, "t-fresh", first)
        assert answer.json()["access_token"] == new
        assert time.monotonic() - cached_at < CACHE_SECONDS  # A's copy had not run out
        print(f"A served the token refreshed in B after {waited * 1000:.0f} ms")
    finally:
        a.stop()


def test_a_killed_subscription_costs_a_its_cache_not_freshness(
    app, platform, suite, api_key, live_server, news, tmp_path
):
    tenant = install(app, platform, suite, "t-drop")
    a = Process(app, tmp_path)
    try:
        first, old_id, cached_at = cached_in_a(a, news, api_key, suite.app_id, "t-drop")
        # A change A cannot hear about, as if it was published while A's connection was down.
        set_token_row(tenant, "changed-unheard")
        assert token_of(a.base, api_key, suite.app_id, "t-drop") == first

        assert news.client_kill_filter(_type="pubsub") >= 1
        answer, waited = first_other(a.base, api_key, suite.app_id, "t-drop", first)
        assert answer.json()["access_token"] == "changed-unheard"
        assert time.monotonic() - cached_at < CACHE_SECONDS

        # A subscribes again, and hears B's next refresh at once.
        wait_subscribed(news, other_than={old_id})
        assert token_of(a.base, api_key, suite.app_id, "t-drop") == "changed-unheard"
        platform.control("tokens/invalidate", app_id=suite.app_id, tenant_id="t-drop")
        new = refresh_in_b(live_server, api_key, suite, "t-drop", "changed-unheard")
        answer, _ = first_other(a.base, api_key, suite.app_id, "t-drop", "changed-unheard")
        assert answer.json()["access_token"] == new
        print(f"A dropped its copy {waited * 1000:.0f} ms after its subscription was killed")
    finally:
        a.stop()
    assert "no subscription on Redis" in a.log.read_text()


def test_a_tenant_cancelled_in_b_stops_being_served_by_a_at_once(
    app, platform, component, api_key, live_server, news, tmp_path
):
    install(app, platform, component, "t-gone")
    a = Process(app, tmp_path)
    try:
        first, _, cached_at = cached_in_a(a, news, api_key, component.app_id, "t-gone")

        # The platform tells B (its callback URL is this test's server) that it was cancelled.
        push(platform, component, CANCEL[component.platform], tenant_id="t-gone")
        drain(app)
        assert tenant_of(component, "t-gone").status == "cancelled"

        answer, _ = first_other(a.base, api_key, component.app_id, "t-gone", first)
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"]["code"] == "tenant_cancelled"
        assert time.monotonic() - cached_at < CACHE_SECONDS
    finally:
        a.stop()
