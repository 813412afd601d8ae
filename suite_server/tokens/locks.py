"""One refresher per token across every process and machine.

With Redis configured: a Redis lock (SET NX with an expiry, released only by its holder). Without:
a lease on the token's own row (`lease_until`, taken with a compare-and-set UPDATE and committed),
which works the same on PostgreSQL and SQLite and holds no transaction open during the upstream
call. Either way a holder that dies loses the lock when its lease ends (LEASE seconds, longer than
any upstream call with its timeouts), and the next caller takes over.

Both are try-locks: a caller that does not get the lock waits by re-reading the token row (the
holder's new token appears there), see service._obtain.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import current_app
from redis import Redis
from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from suite_server.db import utcnow

LEASE = 30  # seconds; upstream calls time out well before (upstream/http.py)


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


def redis_connection() -> Redis | None:
    """The app's Redis client for locks, or None when no Redis is configured."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    cache = current_app.extensions.setdefault("suite_server.redis", {})
    if url not in cache:
        cache[url] = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return cache[url]


def lock_for(session: Session, table, row_id: int):
    """The refresh lock of one token row (app_tokens or tenant_tokens)."""
    connection = redis_connection()
    if connection is None:
        return RowLease(session, table, row_id)
    return RedisLock(connection, f"suite_server:lock:{table.name}:{row_id}")
