"""Tokens this process served in the last few seconds, so that reading a hot token through the
token API costs no query.

A served token is remembered for CACHE_SECONDS at most, and never past the moment the token
service would stop serving it (`Served.usable_until`: TOKEN_MIN_REMAINING before its expiry, or
a WeCom token's last seconds), so the cache never hands out a token the database would not.
The price, as for API keys (auth.py): a change made by another process shows here up to
CACHE_SECONDS late. A tenant cancelled elsewhere keeps its last token served for that long, and
the platform refuses it anyway; a token refreshed elsewhere stays the answer for that long, and
the old one is still valid (WeCom hands back the same token, an Open token lives 5 minutes past
its replacement: open-platform.md §4). This process's own refresh replaces its entry at once.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from suite_server.cache import Cache
from suite_server.db import utcnow
from suite_server.tokens.service import Served

CACHE_SECONDS = 5.0
Key = tuple[str, ...]  # (app_id,) for an app token, (app_id, tenant_id) for a tenant's


_served = Cache("suite_server.token_cache")


def get(key: Key) -> Served | None:
    return _served.get(key, utcnow())


def put(key: Key, served: Served) -> None:
    """Remember `served` for this process's next readers of `key`."""
    until = utcnow() + timedelta(seconds=CACHE_SECONDS)
    if served.usable_until is not None:
        until = min(until, served.usable_until)
    _served.put(key, served, until)
    # Forget what has run out once the cache has doubled since the last time: a process that
    # serves 100,000 tenants keeps only those asked for in the last few seconds.
    kept = current_app.extensions.setdefault("suite_server.token_cache_kept", 64)
    if len(_served.entries()) > 2 * kept:
        left = _served.prune(utcnow())
        current_app.extensions["suite_server.token_cache_kept"] = max(64, left)


def forget(key: Key) -> None:
    _served.forget(key)
