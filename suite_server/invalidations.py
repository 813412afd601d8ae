"""Telling every web process at once that a token it may hold in its cache changed
(api/token_cache.py), over Redis pub/sub.

A change is named by the owner of what changed: `app:<pk>` for an app's or provider's token,
`tenant:<pk>` for a tenant's token, its JS-SDK tickets and its state. Whoever writes the change
marks the name on its session (`after_commit`); the names are published, in one PUBLISH, once
that session commits, never before: a reader told earlier could read the old row again and
keep it. Each process that listens holds one subscriber per Redis URL: a daemon thread, started
by the first listener, that hands the names it hears to its listeners.

Redis failing never fails a commit: the PUBLISH is given up (logged once per REDIS_PAUSE, during
which this process does not try again), and what the listeners miss is bounded by their own
expiry. A subscriber whose connection drops, or that cannot subscribe, tells its listeners to
forget everything, and again each time it is subscribed (what was published in between is lost),
and keeps trying. Without Redis nothing is published and nobody listens.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Protocol

from flask import current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session

from suite_server import redis_client

log = logging.getLogger(__name__)

REDIS_TIMEOUT = 1.0  # a PUBLISH, a SUBSCRIBE or a PING: one small command
REDIS_PAUSE = 10.0  # seconds this process publishes nothing after a PUBLISH failed
PING_EVERY = 1.0  # a quiet subscription is checked this often...
DEAD_AFTER = 3.0  # ...and given up when Redis has said nothing for this long
RETRY_FIRST, RETRY_MAX = 0.1, 5.0  # seconds between attempts to subscribe, doubling

CLIENT_NAME = "suite-server-invalidations"  # and the process id: CLIENT LIST tells who listens
_PENDING = "suite_server.invalidations"  # session.info: names to publish at its commit
_PUBLISHER = "suite_server.invalidations_publisher"  # app.extensions: clients and pause


def name(owner: str, pk: int) -> str:
    """The name of a change of what `owner` (`app` or `tenant`, or a column `app_pk` /
    `tenant_pk`) number `pk` holds."""
    return f"{owner.removesuffix('_pk')}:{pk}"


def channel(connection: Redis) -> str:
    # Pub/sub ignores the database number: a server shared by several deployments (one db
    # each) must not mix their news.
    return f"suite_server:invalidations:{connection.connection_pool.connection_kwargs.get('db', 0)}"


# -- publishing ---------------------------------------------------------------------------------


def after_commit(session: Session, *names: str) -> None:
    """Publish `names` once `session` commits (a mark rolled back is published at its next
    commit, if any: one needless forget, never a missed one)."""
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = set()
        if not event.contains(session, "after_commit", _committed):
            event.listen(session, "after_commit", _committed)
    pending.update(names)


def _committed(session: Session) -> None:
    names = session.info.pop(_PENDING, None)
    if names and has_app_context():
        publish(names)


def publish(names: Iterable[str]) -> None:
    """One PUBLISH of `names`, when Redis is configured; never raises."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return
    state = current_app.extensions.setdefault(_PUBLISHER, {})
    if time.monotonic() < state.get("paused_until", 0.0):
        return
    try:
        connection = state.get(url)
        if connection is None:
            connection = state[url] = redis_client.connect(url, REDIS_TIMEOUT, retries=False)
        connection.publish(channel(connection), " ".join(sorted(names)))
    except RedisError as exc:
        log.warning(
            "Redis unreachable for token cache invalidations (%s); other processes' caches "
            "keep their copies for their few seconds; not publishing for %g s",
            type(exc).__name__,
            REDIS_PAUSE,
        )
        state["paused_until"] = time.monotonic() + REDIS_PAUSE


# -- listening ----------------------------------------------------------------------------------


class Listener(Protocol):
    def forget(self, names: list[str]) -> None: ...

    def forget_all(self) -> None: ...


_subscribers: dict[str, Subscriber] = {}
_subscribers_lock = threading.Lock()


def listen(url: str, listener: Listener) -> Subscriber:
    """Hand `listener` what this process hears on `url` from now on (held weakly: it stops with
    its owner). Starts the process's subscriber for `url` if there is none yet."""
    with _subscribers_lock:
        subscriber = _subscribers.get(url)
        if subscriber is None or subscriber.pid != os.getpid():  # none, or the parent's (fork)
            subscriber = _subscribers[url] = Subscriber(url)
            subscriber.start()
        subscriber.add(listener)
    return subscriber


class Subscriber:
    """One subscription to the channel, kept up by a daemon thread."""

    def __init__(self, url: str) -> None:
        self.url, self.pid = url, os.getpid()
        self.subscribed = False  # True from Redis's confirmation to the connection's loss
        self._trouble = False  # the loss is logged once, and the return
        self._listeners: weakref.WeakSet = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, name="suite-server token invalidations", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def add(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.add(listener)

    def _run(self) -> None:
        delay = RETRY_FIRST
        while True:
            try:
                self._listen()
            except (RedisError, OSError) as exc:  # refused, cut, killed, or silent too long
                if not self._trouble:
                    log.warning(
                        "token cache invalidations: no subscription on Redis (%s); until it is "
                        "back this process keeps each cached token for a few seconds only",
                        type(exc).__name__,
                    )
                self._trouble = True
            if self.subscribed:
                delay = RETRY_FIRST  # it worked for a while: try again at once
            self.subscribed = False
            self._tell(lambda listener: listener.forget_all())
            time.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _listen(self) -> None:
        """Subscribe and hand on what arrives, until the connection fails (raises)."""
        connection = redis_client.connect(
            self.url, REDIS_TIMEOUT, retries=False, name=f"{CLIENT_NAME}:{os.getpid()}"
        )
        pubsub = connection.pubsub()
        try:
            pubsub.subscribe(channel(connection))
            heard = pinged = time.monotonic()
            while True:
                message = pubsub.get_message(timeout=PING_EVERY)
                now = time.monotonic()
                if message is not None:
                    heard = now
                    self._received(message)
                elif now - heard > DEAD_AFTER:
                    raise TimeoutError(f"no answer from Redis for {DEAD_AFTER:g} s")
                if now - pinged >= PING_EVERY:
                    pubsub.ping()
                    pinged = now
        finally:
            try:
                pubsub.close()
                connection.close()
            except (RedisError, OSError):
                pass

    def _received(self, message: dict) -> None:
        kind = message["type"]
        if kind == "subscribe":
            if self._trouble:
                log.warning("token cache invalidations: subscribed on Redis again")
            self.subscribed, self._trouble = True, False
            # Whatever was published before this moment is lost to us: start afresh.
            self._tell(lambda listener: listener.forget_all())
        elif kind == "message":
            data = message["data"]
            names = (data.decode() if isinstance(data, bytes) else str(data)).split()
            self._tell(lambda listener: listener.forget(names))

    def _tell(self, call) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                call(listener)
            except Exception:  # one listener's bug must not stop the others' news
                log.exception("token cache invalidations: a listener failed")
