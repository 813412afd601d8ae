"""Lost jobs put back: the jobs of dead workers, within a minute instead of RQ's 4 to 14; and the
pending rows whose job never ran, by the sweeps (`enqueue_lost`).

What RQ (3.0) does by itself: a job being run has an entry in its queue's StartedJobRegistry,
scored with the moment its execution expires (SimpleWorker: the job's timeout + 60 s, 240 s by
default), and a worker cleans that registry in its maintenance, every 10 minutes. A worker killed
with SIGKILL (out of memory, its machine lost) so leaves its job "started" for 4 to 14 minutes,
and while it is, the job's id is taken: `runner.enqueue` refuses that id, so the token sweep
cannot queue that tenant's refresh again.

What runs here, in every `suite-server worker` (`watch`, a thread beside RQ's loop):

- every HEARTBEAT_EVERY seconds it writes RQ's own `last_heartbeat` on the worker's hash. RQ
  beats only between jobs, and SimpleWorker runs a job in its main thread, so without this a busy
  worker and a dead one look the same.
- every RECOVER_EVERY seconds, in one worker at a time (a Redis claim), `recover` reads every
  queue's StartedJobRegistry: an execution whose worker's hash is gone or records its death, or
  whose worker is one of ours (named NAME_PREFIX...) and has not beaten for DEAD_AFTER seconds,
  is abandoned. RQ's own cleanup of abandoned jobs (StartedJobRegistry.cleanup) then takes it:
  retried after its backoff while it has retries left, else failed, which frees its id for the
  sweeps to enqueue it again.

Our workers are known by their name, given before they start, so one killed right after it took
its first job is judged like any other. A worker of another name (an older version, during an
upgrade) does not beat while busy: it is judged only by its hash, and otherwise left to RQ.
DEAD_AFTER is at least tokens/locks.LEASE: when the refresh a dead worker was running is retried,
the locks it held have expired.

`worker_options` also has RQ's maintenance run every minute rather than every 10 (an idle worker
looks up from its blocking dequeue at least that often): it is what takes over the scheduler of a
dead worker, whose lock lapses 61 s after its last beat, and the scheduler moves retries and
delayed jobs to their queue.

A job can also be lost before any worker has it: its enqueue failed (Redis away), the process
holding in-process jobs exited, a worker died between its commit and the enqueue of the next job.
That is why work lives in the database as rows that stay pending until done, and a job only says
"do row 42 now". Each kind of row has a periodic sweep that enqueues again those pending longer
than any job could take to start (`enqueue_lost`), under the job id that keeps a row to one job,
so a job that was only late is not run twice: events (the processing sweep), webhook deliveries
(`webhooks.sweep`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from rq import Queue
from rq.executions import Execution
from rq.utils import now, parse_composite_key, utcformat, utcparse
from rq.worker import BaseWorker

from suite_server.db import utcnow

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 5.0  # seconds
DEAD_AFTER = 30.0  # seconds without a beat: the worker is gone (>= tokens/locks.LEASE)
RECOVER_EVERY = 10.0  # seconds between looks at the registries, across all workers
FINISHING = 1.0  # seconds a job that has just ended may still be listed as running
CLAIM_KEY = "suite_server:jobs:recovery"
NAME_PREFIX = "suite-server-"  # the workers that beat while busy


def worker_options() -> dict[str, Any]:
    """Arguments for a new RQ worker of ours: its name, and RQ's maintenance every minute (an
    idle worker blocks in its dequeue for worker_ttl - 15 s)."""
    return {"name": NAME_PREFIX + uuid.uuid4().hex, "maintenance_interval": 60, "worker_ttl": 75}


# RQ's worker hash, written only while it exists and has not recorded its death: a beat must not
# bring back the hash of a worker that has just stopped.
_BEAT = """
if redis.call('exists', KEYS[1]) == 1 and redis.call('hexists', KEYS[1], 'death') == 0 then
  return redis.call('hset', KEYS[1], 'last_heartbeat', ARGV[1])
end
return -1
"""


@contextmanager
def watch(worker: BaseWorker) -> Iterator[None]:
    """Beat for `worker` and recover dead workers' jobs while the block runs."""
    stop = threading.Event()
    thread = threading.Thread(
        target=_watch, args=(worker, stop), name="suite-server-heartbeat", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _watch(worker: BaseWorker, stop: threading.Event) -> None:
    next_look = 0.0
    while True:
        try:
            worker.connection.eval(_BEAT, 1, worker.key, utcformat(now()))
            if time.monotonic() >= next_look:
                next_look = time.monotonic() + RECOVER_EVERY
                claim = int(RECOVER_EVERY * 1000)
                if worker.connection.set(CLAIM_KEY, worker.name, nx=True, px=claim):
                    recover(worker.connection, worker.queues)
        except Exception:  # Redis away for a moment: the next round tries again
            log.warning("worker %s: heartbeat or recovery failed", worker.name, exc_info=True)
        if stop.wait(HEARTBEAT_EVERY):
            return


def recover(connection: Redis, queues: Iterable[Queue], at: float | None = None) -> list[str]:
    """Hand the jobs of dead workers to RQ's cleanup of abandoned jobs; returns their ids.
    `at`: the time to judge the beats by (time.time())."""
    at = time.time() if at is None else at
    recovered: list[str] = []
    for queue in queues:
        registry = queue.started_job_registry
        entries = registry.get_job_and_execution_ids(cleanup=False)
        verdicts = {tuple(entry): _abandoned(connection, *entry, at) for entry in entries}
        unsure = [entry for entry, verdict in verdicts.items() if verdict is None]
        if unsure:
            # A job that has just ended loses its execution record a moment before its entry
            # here: only an entry still here, still without a record, a moment later is lost.
            time.sleep(FINISHING)
            for entry in unsure:
                verdicts[entry] = connection.zscore(
                    registry.key, ":".join(entry)
                ) is not None and not _has_execution(connection, *entry)
        abandoned = [":".join(entry) for entry, verdict in verdicts.items() if verdict]
        if not abandoned:
            continue
        # Scored as expired at the epoch, they are exactly what cleanup(timestamp=0) takes.
        connection.zadd(registry.key, dict.fromkeys(abandoned, 0), xx=True)
        registry.cleanup(timestamp=0)
        ids = [parse_composite_key(entry)[0] for entry in abandoned]
        log.warning("jobs of dead workers put back (retried or failed): %s", ", ".join(ids))
        recovered += ids
    return recovered


def _abandoned(connection: Redis, job_id: str, execution_id: str, at: float) -> bool | None:
    """Whether the job's worker is gone; None: it has no execution record (lost, or ending)."""
    try:
        worker_name = Execution.fetch(execution_id, job_id, connection).worker_name
    except ValueError:
        return None  # listed as running, with no execution record
    last, death = connection.hmget(
        BaseWorker.redis_worker_namespace_prefix + worker_name, ["last_heartbeat", "death"]
    )
    if last is None or death is not None:
        return True  # its worker's hash has expired, or says it stopped
    if not worker_name.startswith(NAME_PREFIX):
        return False  # a worker that does not beat while busy: left to RQ's own cleanup
    return at - utcparse(last.decode()).timestamp() > DEAD_AFTER


def _has_execution(connection: Redis, job_id: str, execution_id: str) -> bool:
    try:
        Execution.fetch(execution_id, job_id, connection)
    except ValueError:
        return False
    return True


# -- rows whose job was lost ---------------------------------------------------------------------


def enqueue_lost(
    what: str,
    overdue: Callable[[datetime, int], list[int]],
    enqueue: Callable[[int], object],
    *,
    after: timedelta,
    batch: int,
) -> int:
    """The body of a sweep task: enqueue again the pending rows whose job was lost, those pending
    for longer than `after`. `overdue(before, batch)` returns the ids of up to `batch` rows
    pending (and ready to run) since before `before`; `enqueue(id)` enqueues one under its
    deduplicating job id and never raises (a failure waits for the next sweep). Returns how many
    were enqueued."""
    ids = overdue(utcnow() - after, batch)
    for row_id in ids:
        enqueue(row_id)
    if ids:
        log.info("sweep: %d pending %s enqueued again", len(ids), what)
    return len(ids)
