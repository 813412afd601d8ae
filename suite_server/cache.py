"""A per-process cache with expiring entries, kept in `app.extensions[name]` (one per app, shared
by the process's threads; a race costs at most one extra query, never a wrong answer).

Used where a hot read would otherwise cost a query per request: callback keys
(callbacks/keys.py), API keys (api/auth.py), served tokens (api/token_cache.py), an app's
synchronous webhook receiver (dispatch/webhooks/receivers.py). Each caller
keeps its own CACHE_SECONDS and its own clock (`now` and `until` are whatever it compares:
time.monotonic() or a datetime), and says when an entry is forgotten early.
"""

from __future__ import annotations

from typing import Any

from flask import current_app


class Cache:
    def __init__(self, name: str) -> None:
        self.name = name  # the app.extensions key

    def entries(self) -> dict[Any, tuple[Any, Any]]:
        """{key: (until, value)} of the current app."""
        return current_app.extensions.setdefault(self.name, {})

    def get(self, key: Any, now: Any) -> Any | None:
        """The value put under `key`, or None when there is none or it ran out by `now`."""
        hit = self.entries().get(key)
        if hit is None or hit[0] < now:
            return None
        return hit[1]

    def put(self, key: Any, value: Any, until: Any) -> None:
        self.entries()[key] = (until, value)

    def forget(self, key: Any) -> None:
        self.entries().pop(key, None)

    def prune(self, now: Any) -> int:
        """Drop the entries that ran out by `now`; returns how many are left."""
        entries = self.entries()
        for old in [k for k, (until, _) in list(entries.items()) if until < now]:
            entries.pop(old, None)
        return len(entries)
