"""Tokens this process served in the last few seconds, so that reading a hot token through the
token API costs no query.

A served token is remembered for CACHE_SECONDS at most, and never past the moment the token
service would stop serving it (`Served.usable_until`: TOKEN_MIN_REMAINING before its expiry, or
a WeCom token's last seconds), so the cache never hands out a token the database would not.

With Redis configured, a token refreshed or expired in any process, or a tenant that stops being
active, is forgotten here as soon as the news arrives (invalidations.py: published after the
commit, heard by this process's subscriber thread; a few milliseconds on one network). A reader
that began before the news and finishes after it does not keep what it read (`mark`). While the
subscription is down (Redis gone, the connection killed), the cache is emptied, then again once
it is back, and in between each entry lives its CACHE_SECONDS, as without Redis: a change made by
another process shows here up to CACHE_SECONDS late. Then a tenant cancelled elsewhere keeps its
last token served for that long, and the platform refuses it anyway; a token refreshed elsewhere
stays the answer for that long, and the old one is still valid (WeCom hands back the same
token, an Open token lives 5 minutes past its replacement: open-platform.md §4).
"""

from __future__ import annotations

import threading
import time
import weakref
from datetime import timedelta

from flask import Flask, current_app

from suite_server import invalidations
from suite_server.cache import Cache
from suite_server.db import utcnow
from suite_server.tokens.service import Served

CACHE_SECONDS = 5.0
NEWS_KEPT = 60.0  # seconds a change heard is held against readers that began before it
Key = tuple[str, ...]  # (app_id,) for an app token, (app_id, tenant_id) for a tenant's


_served = Cache("suite_server.token_cache")


def get(key: Key) -> Served | None:
    return _served.get(key, utcnow())


def mark() -> int:
    """Where the news stands: taken before a request reads a token or its tenant, and handed to
    put(), which keeps nothing read before a change heard since. Starts listening, with Redis."""
    news = _news()
    url = current_app.config.get("REDIS_URL")
    if url and news.url != url:
        news.url = url
        invalidations.listen(url, news)
    return news.count


def put(key: Key, served: Served, since: int | None = None) -> None:
    """Remember `served` for this process's next readers of `key`, unless what it was read from
    changed after `since` (a mark())."""
    until = utcnow() + timedelta(seconds=CACHE_SECONDS)
    if served.usable_until is not None:
        until = min(until, served.usable_until)
    news = _news()
    with news.lock:
        if since is not None and not news.unchanged_since(served.owner, since):
            return
        _served.put(key, served, until)
        if served.owner:
            news.keys.setdefault(served.owner, set()).add(key)
    # Forget what has run out once the cache has doubled since the last time: a process that
    # serves 100,000 tenants keeps only those asked for in the last few seconds.
    kept = current_app.extensions.setdefault("suite_server.token_cache_kept", 64)
    if len(_served.entries()) > 2 * kept:
        with news.lock:
            left = _served.prune(utcnow())
            news.keep_keys(_served.entries())
        current_app.extensions["suite_server.token_cache_kept"] = max(64, left)


def forget(key: Key) -> None:
    _served.forget(key)


def _news() -> _News:
    app = current_app._get_current_object()
    news = app.extensions.get("suite_server.token_cache_news")
    if news is None:
        news = app.extensions.setdefault("suite_server.token_cache_news", _News(app))
    return news


class _News:
    """What this app's cache heard (invalidations.Listener): the entries it forgets by owner,
    and when each owner last changed, counted in news heard."""

    def __init__(self, app: Flask) -> None:
        self.app = weakref.ref(app)
        self.url: str | None = None
        self.lock = threading.Lock()
        self.count = 0  # news heard so far (a change, or "forget everything")
        self.floor = 0  # nothing read before this count is kept
        self.changed: dict[str, tuple[int, float]] = {}  # owner -> (count, monotonic), oldest first
        self.keys: dict[str, set[Key]] = {}  # owner -> its keys in the cache

    def unchanged_since(self, owner: str, since: int) -> bool:
        return since >= self.floor and self.changed.get(owner, (0, 0.0))[0] <= since

    def forget(self, names: list[str]) -> None:
        entries = self._entries()
        now = time.monotonic()
        with self.lock:
            self.count += 1
            for owner in names:
                self.changed.pop(owner, None)  # re-added last: the dict stays oldest first
                self.changed[owner] = (self.count, now)
                for key in self.keys.pop(owner, ()):
                    entries.pop(key, None)
            # Readers that began before the oldest news still held are not kept at all.
            while self.changed:
                owner, (count, heard) = next(iter(self.changed.items()))
                if now - heard <= NEWS_KEPT:
                    break
                del self.changed[owner]
                self.floor = max(self.floor, count)

    def forget_all(self) -> None:
        entries = self._entries()
        with self.lock:
            self.count += 1
            self.floor = self.count
            self.changed.clear()
            self.keys.clear()
            entries.clear()

    def keep_keys(self, entries: dict) -> None:
        """Drop the keys the cache no longer holds (with the lock held)."""
        for owner in list(self.keys):
            self.keys[owner].intersection_update(entries)
            if not self.keys[owner]:
                del self.keys[owner]

    def _entries(self) -> dict:
        app = self.app()
        return {} if app is None else app.extensions.setdefault(_served.name, {})
