"""What runs when: the periodic jobs as one list, and the loops that enqueue them.

`suite-server cron` (with Redis) and `start_in_process_schedule` (without) walk the same list.
Each entry fires once per occurrence however many cron processes run: an occurrence is claimed
with a Redis SET NX before it is enqueued, and only the process that won the claim enqueues it.
rq 3.0 ships a CronScheduler, but it keeps the schedule in each process's memory (an interval
counts from that process's start) and nothing stops two of them enqueueing the same run; the
contract wants no process to be special, so the loop here is ours.

Occurrences are on the wall clock in UTC (an interval of 60 fires at every whole minute, a cron
expression is read in UTC), so every process computes the same ones. An occurrence missed by
more than MISFIRE_GRACE seconds (no cron process was up) is skipped, not run late.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import croniter
from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from suite_server.jobs import runner
from suite_server.ops.failures import one_line

log = logging.getLogger(__name__)

MISFIRE_GRACE = 300.0
TICK = 1.0
RETRY_FIRST, RETRY_CAP = 1.0, 60.0  # seconds between attempts while ticks fail


@dataclass(frozen=True)
class Periodic:
    name: str  # stable: it names the claims and the job id
    every: int | str  # seconds, or a cron expression in UTC ("0 3 * * *")
    task: str  # a name registered in tasks.py
    args: tuple = ()


SCHEDULE: list[Periodic] = [
    Periodic("event sweep", 60, "events.sweep"),
    Periodic("token sweep", 60, "tokens.sweep"),  # tokens/tasks.py SWEEP_EVERY
    Periodic("webhook sweep", 60, "webhooks.sweep"),  # pending deliveries whose job was lost
    Periodic("reconcile tenants", "0 3 * * *", "tenants.reconcile"),
    Periodic("prune install states", 600, "installs.prune"),  # authorization/housekeeping.py
    Periodic("prune stored rows", 600, "retention.prune"),  # processing/retention.py
    Periodic("license sync", 3600, "licenses.sync"),  # billing/licenses.py: each corp daily
    Periodic("order catch-up", "30 3 * * *", "orders.catch_up"),  # billing/orders.py
    Periodic("capabilities sync", 3600, "capabilities.sync"),  # each tenant weekly
    Periodic("release sweep", 60, "releases.sweep"),  # releases/steps.py: lost jobs, quiet audits
    Periodic("activity fold", 60, "activity.fold"),  # ops/activity.py: the admin's charts
]


def latest_occurrence(every: int | str, now: float) -> float:
    """The most recent time (epoch seconds, <= now) this schedule fires at."""
    if isinstance(every, str):
        return croniter(every, datetime.fromtimestamp(now, UTC)).get_prev(float)
    if every <= 0:
        raise ValueError("a periodic interval must be positive")
    return now - now % every


Claim = Callable[[Periodic, float], bool]


def tick(app: Flask, claim: Claim, now: float) -> list[Periodic]:
    """Enqueue every entry whose latest occurrence is recent and not yet claimed. Returns the
    entries enqueued."""
    fired = []
    for entry in SCHEDULE:
        due = latest_occurrence(entry.every, now)
        if now - due > MISFIRE_GRACE or not claim(entry, due):
            continue
        with app.app_context():
            # One job id per entry as well: while the last run is still queued or running (a
            # backlog), a new occurrence does not pile a second one behind it.
            runner.enqueue(entry.task, *entry.args, job_id=_job_id(entry))
        fired.append(entry)
    return fired


def _job_id(entry: Periodic) -> str:
    return "periodic-" + re.sub(r"[^A-Za-z0-9_-]+", "-", entry.name)


def run_cron(app: Flask, stop: threading.Event | None = None) -> None:
    """`suite-server cron`: enqueue the periodic jobs into RQ until SIGINT/SIGTERM or `stop`."""
    jobs = runner.get_runner(app)
    if not isinstance(jobs, runner.RQRunner):
        raise runner.NoRedisConfigured(
            "no Redis configured: set SUITE_SERVER_REDIS_URL to run cron"
        )
    log.info("cron: %d periodic jobs", len(SCHEDULE))
    _loop(app, redis_claim(jobs.connection), stop or _stop_on_signals())


def start_in_process_schedule(app: Flask) -> threading.Event:
    """Without Redis (dev server, demo): the same list on a timer thread of this process.
    Returns the event that stops it."""
    stop = threading.Event()
    threading.Thread(
        target=_loop, args=(app, memory_claim(), stop), name="suite-server-schedule", daemon=True
    ).start()
    return stop


def redis_claim(connection: Redis) -> Claim:
    """Claims shared by every cron process: the first SET NX of an occurrence wins."""

    def claim(entry: Periodic, due: float) -> bool:
        # Kept until no process could still fire this occurrence (MISFIRE_GRACE, plus skew).
        key = f"suite_server:cron:{entry.name}:{int(due)}"
        return bool(connection.set(key, "1", nx=True, ex=int(MISFIRE_GRACE) + 120))

    return claim


def memory_claim() -> Claim:
    """Claims of this process alone (the in-process schedule: there is only one)."""
    fired: dict[str, float] = {}

    def claim(entry: Periodic, due: float) -> bool:
        if fired.get(entry.name) == due:
            return False
        fired[entry.name] = due
        return True

    return claim


def _loop(app: Flask, claim: Claim, stop: threading.Event) -> None:
    """Tick every TICK seconds until `stop`. While ticks fail (Redis or the database away), wait
    longer after each failure (RETRY_FIRST doubling up to RETRY_CAP, as an RQ worker does when
    it loses Redis) and say so in one line each time; a traceback only for the unexpected."""
    failed = 0
    while not stop.is_set():
        try:
            tick(app, claim, time.time())
        except Exception as exc:
            failed += 1
            wait = min(RETRY_CAP, RETRY_FIRST * 2 ** (failed - 1))
            if isinstance(exc, RedisError | SQLAlchemyError):
                log.warning("cron: cannot enqueue, retrying in %g s: %s", wait, one_line(exc))
            else:
                log.exception("cron: enqueueing periodic jobs failed; retrying in %g s", wait)
            stop.wait(wait)
            continue
        if failed:
            log.info("cron: enqueueing again after %d failed attempts", failed)
            failed = 0
        stop.wait(TICK)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    return stop
