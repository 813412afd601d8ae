"""One refresher per token across every process and machine.

The lock of record is a lease on the token's own row (`lease_until`, taken with a compare-and-set
UPDATE and committed), which works the same on PostgreSQL and SQLite and holds no transaction open
during the upstream call. With Redis configured, a Redis lock (SET NX with an expiry, released
only by its holder) sits in front of it: the crowd waiting for a refresh tries Redis, not the
database, and only the one that got the Redis lock takes the lease. Either way a holder that dies
loses both when their LEASE seconds end (longer than any upstream call with its timeouts), and the
next caller takes over.

Redis being unreachable (refused, cut, hanging) never stops a refresh: the lease alone is the
lock then, as without Redis. A process that saw Redis fail leaves it alone for REDIS_PAUSE
seconds rather than have every caller wait out a timeout; because everybody takes the lease
either way, processes on either side of an outage still never refresh the same token at once.

Both are try-locks: a caller that does not get the lock waits by re-reading the token row (the
holder's new token appears there), see store.obtain.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from suite_server import redis_client
from suite_server.db import utcnow

log = logging.getLogger(__name__)

LEASE = 30  # seconds; upstream calls time out well before (upstream/http.py)
# A lock is one small command: a Redis that takes longer than this is in trouble, and the lease
# on the row does the job meanwhile. No retries inside the client for the same reason.
REDIS_TIMEOUT = 1.0
REDIS_PAUSE = 10.0  # seconds this process uses the lease alone after Redis failed it


class RowLease:
    def __init__(self, session: Session, table, row_id: int) -> None:
        self.session, self.table, self.row_id = session, table, row_id

    def acquire(self) -> bool:
        now = utcnow()
        taken = self.session.execute(
            update(self.table)
            .where(
                self.table.c.id == self.row_id,
                or_(self.table.c.lease_until.is_(None), self.table.c.lease_until < now),
            )
            .values(lease_until=now + timedelta(seconds=LEASE))
        ).rowcount
        self.session.commit()
        return taken == 1

    def release(self) -> None:
        self.session.rollback()  # whatever the holder left unfinished
        self.session.execute(
            update(self.table).where(self.table.c.id == self.row_id).values(lease_until=None)
        )
        self.session.commit()


class RedisLock:
    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"

    def __init__(self, connection: Redis, name: str) -> None:
        self.connection, self.name, self.token = connection, name, uuid.uuid4().hex

    def acquire(self) -> bool:
        return bool(self.connection.set(self.name, self.token, nx=True, ex=LEASE))

    def release(self) -> None:
        self.connection.eval(self._RELEASE, 1, self.name, self.token)


class GuardedLease:
    """The row's lease behind a Redis lock; the lease alone while Redis is unreachable."""

    def __init__(self, redis_lock: RedisLock, lease: RowLease, health: dict) -> None:
        self.redis_lock, self.lease, self.health = redis_lock, lease, health
        self.holds_redis = False

    def acquire(self) -> bool:
        if time.monotonic() >= self.health.get("paused_until", 0.0):
            try:
                if not self.redis_lock.acquire():
                    return False  # someone else is refreshing
                self.holds_redis = True
            except RedisError as exc:
                self._failed(exc)
        if self.lease.acquire():
            return True
        self._release_redis()
        return False

    def release(self) -> None:
        try:
            self.lease.release()
        finally:
            self._release_redis()

    def _release_redis(self) -> None:
        if not self.holds_redis:
            return
        self.holds_redis = False
        try:
            self.redis_lock.release()
        except RedisError as exc:  # it expires by itself, LEASE seconds after it was taken
            self._failed(exc)

    def _failed(self, exc: RedisError) -> None:
        if time.monotonic() >= self.health.get("paused_until", 0.0):
            log.warning(
                "Redis unreachable for token locks (%s); the database lease alone for %g s",
                type(exc).__name__,
                REDIS_PAUSE,
            )
        self.health["paused_until"] = time.monotonic() + REDIS_PAUSE


def redis_connection() -> Redis | None:
    """The app's Redis client for locks, or None when no Redis is configured."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    cache = current_app.extensions.setdefault("suite_server.redis", {})
    if url not in cache:
        cache[url] = redis_client.connect(url, timeout=REDIS_TIMEOUT, retries=False)
    return cache[url]


def lock_for(session: Session, table, row_id: int):
    """The refresh lock of one token row (app_tokens or tenant_tokens)."""
    lease = RowLease(session, table, row_id)
    connection = redis_connection()
    if connection is None:
        return lease
    health = current_app.extensions.setdefault("suite_server.redis_lock_health", {})
    redis_lock = RedisLock(connection, f"suite_server:lock:{table.name}:{row_id}")
    return GuardedLease(redis_lock, lease, health)
