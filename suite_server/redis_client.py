"""The one way the server opens a Redis client (the job runner, the token locks, the token cache's
invalidations, /readyz): from the URL of SUITE_SERVER_REDIS_URL, always with timeouts, so no
caller hangs on a Redis that does not answer. Each caller says how long it will wait: a web
request's enqueue longer than a lock that has the database lease to fall back on."""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def connect(url: str, timeout: float, *, retries: bool = True, name: str | None = None) -> Redis:
    """A client for `url` whose connecting and every command give up after `timeout` seconds.
    `retries=False`: no retry inside the client either, for callers that have a fallback and
    would rather use it at once. `name`: its CLIENT SETNAME, shown by CLIENT LIST."""
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if name:
        options["client_name"] = name
    if not retries:
        options["retry"] = Retry(NoBackoff(), 0)
    return Redis.from_url(url, **options)
