"""The token API with Redis configured but unreachable: refused (nothing listens on its port), cut
in the middle of a refresh, or hanging (connections accepted, never answered). Refreshes go on
through the lease on the token's row, one upstream call for a crowd of callers; when no refresh
can happen the answer is 503 with Retry-After, never 500."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import update

from suite_server import db
from suite_server.accounts import create_api_key
from suite_server.db import utcnow
from suite_server.models import TenantToken
from suite_server.tokens import locks, store
from tests.tokens.conftest import REFRESH, expire, install, token_row


class RedisProxy:
    """A TCP proxy in front of the test Redis, to make it unreachable on demand: `hang()` drops
    every open connection and from then on accepts new ones without ever answering."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname, parts.port or 6379)
        self.db = parts.path or "/0"
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.sockets: list[socket.socket] = []
        self.hanging = False
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.listener.getsockname()[1]}{self.db}"

    def hang(self) -> None:
        with self.lock:
            self.hanging = True
            for sock in self.sockets:
                sock.close()
            self.sockets.clear()

    def close(self) -> None:
        self.hang()
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if self.hanging:
                    self.sockets.append(client)  # held open, never read: the caller times out
                    continue
                upstream = socket.create_connection(self.target)
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            source.close()  # closing a closed socket is harmless
            sink.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free again once closed: nothing listens there


@pytest.fixture
def proxy(redis_url):
    made = RedisProxy(redis_url)
    yield made
    made.close()


@pytest.fixture
def bearer(app) -> dict[str, str]:
    key = create_api_key(db.session(), "outage")
    db.session().commit()
    return {"Authorization": f"Bearer {key}"}


def token_url(live_server: str, either, tenant_id: str) -> str:
    return f"{live_server}/api/v1/apps/{either.app_id}/tenants/{tenant_id}/access-token"


def crowd(url: str, headers: dict, count: int) -> list[requests.Response]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: requests.get(url, headers=headers, timeout=60), [0] * count))


def test_redis_refused_refreshes_through_the_row_lease(app, platform, either, live_server, bearer):
    tenant = install(platform, either, "t-noredis")
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{closed_port()}/0"
    expire(tenant)
    calls = platform.calls().get(REFRESH[either.platform], 0)

    answers = crowd(token_url(live_server, either, "t-noredis"), bearer, 8)

    assert [a.status_code for a in answers] == [200] * 8, answers[0].text
    row = token_row(tenant)
    assert {a.json()["access_token"] for a in answers} == {row.access_token}
    assert row.expires_at > utcnow() + timedelta(seconds=7000)
    assert row.lease_until is None  # the lease was taken, and given back
    # The eight callers took turns on the row's lease: one of them asked the platform.
    assert platform.calls()[REFRESH[either.platform]] == calls + 1


def test_redis_lost_mid_refresh_and_then_hanging(
    app, platform, suite, live_server, bearer, proxy, monkeypatch
):
    tenant = install(platform, suite, "t-cut")
    app.config["REDIS_URL"] = proxy.url
    url = token_url(live_server, suite, "t-cut")
    calls = platform.calls().get("get_corp_token", 0)

    # Redis answers when the lock is taken and is gone when it is released: the new token is
    # stored by then, and served.
    expire(tenant)
    platform.control("tokens/invalidate", app_id=suite.app_id, tenant_id="t-cut")
    platform.control("faults", endpoint="get_corp_token", delay=1.0, count=1)
    threading.Timer(0.5, proxy.hang).start()
    answer = requests.get(url, headers=bearer, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["access_token"] == token_row(tenant).access_token
    assert platform.calls()["get_corp_token"] == calls + 1

    # Redis accepts connections and never answers: the lease on the row takes over after a
    # short timeout rather than each caller waiting on Redis.
    expire(tenant)
    app.extensions.pop("suite_server.token_cache")  # this process served it a moment ago
    started = time.monotonic()
    answers = crowd(url, bearer, 4)
    assert [a.status_code for a in answers] == [200] * 4, answers[0].text
    assert time.monotonic() - started < 5 * locks.REDIS_TIMEOUT + 3
    assert {a.json()["access_token"] for a in answers} == {token_row(tenant).access_token}
    assert platform.calls()["get_corp_token"] == calls + 2


@pytest.mark.parametrize("trouble", ["lease_held", "platform_busy"])
def test_no_refresh_possible_is_503_with_retry_after(
    app, platform, suite, live_server, bearer, monkeypatch, trouble
):
    tenant = install(platform, suite, "t-stuck")
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{closed_port()}/0"
    expire(tenant)
    if trouble == "lease_held":
        # A process that died while refreshing, during the Redis outage: its lease still runs.
        monkeypatch.setattr(store, "LOCK_WAIT", 0.5)
        db.session().execute(
            update(TenantToken.__table__)
            .where(TenantToken.tenant_pk == tenant.id)
            .values(lease_until=utcnow() + timedelta(seconds=locks.LEASE))
        )
        db.session().commit()
    else:
        platform.control("faults", endpoint="get_corp_token", errcode=-1, count=1)

    answer = requests.get(token_url(live_server, suite, "t-stuck"), headers=bearer, timeout=60)

    assert answer.status_code == 503, answer.text
    assert int(answer.headers["Retry-After"]) >= 1
    code = answer.json()["error"]["code"]
    assert code == ("refresh_in_progress" if trouble == "lease_held" else "upstream_busy")
