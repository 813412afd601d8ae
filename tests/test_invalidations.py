"""The news of a changed token (invalidations.py) and what the token cache does with it
(api/token_cache.py), in one process: published only once the change is committed, never at the
cost of a refresh when Redis fails, and never letting a reader that began before the news keep
what it read. tests/api/test_freshness.py runs it across real processes."""

from __future__ import annotations

import logging
import socket
import threading
from datetime import timedelta

from sqlalchemy import select

from suite_server import db, invalidations
from suite_server.api import token_cache
from suite_server.db import utcnow
from suite_server.models import TenantToken
from suite_server.tokens import service
from suite_server.tokens.rows import Served
from tests.authorization.conftest import platform, suite
from tests.tokens.conftest import expire, install, token_row

__all__ = ["platform", "suite"]  # the sandbox fixtures


def committed_version(engine, tenant_pk: int) -> int | None:
    """The tenant's token row version as another connection sees it: what is committed."""
    with engine.connect() as connection:
        return connection.scalar(
            select(TenantToken.version).where(TenantToken.tenant_pk == tenant_pk)
        )


class Recorder:
    """A listener that reads the tenant's token row as the news arrives."""

    def __init__(self, engine, tenant_pk: int) -> None:
        self.engine, self.tenant_pk = engine, tenant_pk
        self.seen: list[tuple[list[str], int | None]] = []
        self.arrived = threading.Event()

    def forget(self, names: list[str]) -> None:
        self.seen.append((names, committed_version(self.engine, self.tenant_pk)))
        self.arrived.set()

    def forget_all(self) -> None:
        pass


def test_a_refresh_is_announced_once_it_is_committed(app, platform, suite, redis_url, monkeypatch):
    tenant = install(platform, suite, "t-news")
    app.config["REDIS_URL"] = redis_url
    engine = db.engine()
    recorder = Recorder(engine, tenant.id)
    subscriber = invalidations.listen(redis_url, recorder)
    for _ in range(500):
        if subscriber.subscribed:
            break
        threading.Event().wait(0.01)
    assert subscriber.subscribed
    expire(tenant)
    before = token_row(tenant).version
    # What another process would read at the moment of the PUBLISH.
    at_publish = []
    publish = invalidations.publish

    def publish_and_look(names):
        at_publish.append(committed_version(engine, tenant.id))
        publish(names)

    monkeypatch.setattr(invalidations, "publish", publish_and_look)

    served = service.serve_tenant_token(db.session(), tenant)

    assert recorder.arrived.wait(5)
    name = invalidations.name("tenant", tenant.id)
    assert served.owner == name and served.version == before + 1
    assert at_publish == [before + 1]  # published once, after the commit
    assert recorder.seen == [([name], before + 1)]  # and heard by the subscriber


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_redis_gone_never_fails_a_refresh_and_is_logged_once(app, platform, suite, caplog):
    tenant = install(platform, suite, "t-quiet")
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{closed_port()}/0"
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        expire(tenant)
        platform.control("tokens/invalidate", app_id=suite.app_id, tenant_id="t-quiet")
        served = service.serve_tenant_token(db.session(), tenant)
        assert served.access_token == token_row(tenant).access_token
    # The publisher's line; another test's subscriber thread may log its own trouble meanwhile.
    unreachable = [
        r
        for r in caplog.records
        if r.name == invalidations.__name__ and "not publishing" in r.getMessage()
    ]
    assert len(unreachable) == 1  # then paused for REDIS_PAUSE
    assert "ConnectionError" in unreachable[0].getMessage()


def served(owner: str, token: str = "t") -> Served:
    now = utcnow()
    return Served(token, now + timedelta(hours=2), 1, now + timedelta(hours=1), owner)


def test_a_reader_that_began_before_the_news_keeps_nothing(app):
    with app.test_request_context():
        news = token_cache._news()
        began = token_cache.mark()
        assert news.url is None  # no Redis: nobody listens, the cache is as it always was
        news.forget(["tenant:1"])  # heard while the reader read
        token_cache.put(("a", "one"), served("tenant:1"), began)
        token_cache.put(("a", "two"), served("tenant:2"), began)
        assert token_cache.get(("a", "one")) is None
        assert token_cache.get(("a", "two")) is not None  # another owner's news

        token_cache.put(("a", "one"), served("tenant:1"), token_cache.mark())
        assert token_cache.get(("a", "one")) is not None
        news.forget(["tenant:1"])
        assert token_cache.get(("a", "one")) is None
        assert token_cache.get(("a", "two")) is not None

        # The subscription dropped (or came back): everything goes, and nothing read before.
        began = token_cache.mark()
        news.forget_all()
        assert token_cache.get(("a", "two")) is None
        token_cache.put(("a", "two"), served("tenant:2"), began)
        assert token_cache.get(("a", "two")) is None
        token_cache.put(("a", "two"), served("tenant:2"), token_cache.mark())
        assert token_cache.get(("a", "two")) is not None


def test_old_news_is_let_go_and_older_readers_with_it(app, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(token_cache.time, "monotonic", lambda: clock[0])
    with app.test_request_context():
        news = token_cache._news()
        slow_reader = token_cache.mark()
        news.forget(["tenant:1"])
        reader = token_cache.mark()
        clock[0] += token_cache.NEWS_KEPT + 1
        news.forget(["tenant:2"])
        assert list(news.changed) == ["tenant:2"]  # what is held stays small
        token_cache.put(("a", "three"), served("tenant:3"), slow_reader)
        assert token_cache.get(("a", "three")) is None  # began before news it can't check now
        token_cache.put(("a", "three"), served("tenant:3"), reader)
        assert token_cache.get(("a", "three")) is not None
