"""What the RQ runner's queues hold, read for the admin's Queues page, and what an operator does
to a failed job: run it again, or delete it.

Every read is bounded: counts, and ranges of a registry, never all of its ids, so a queue with a
million failed jobs costs what one with ten does. Nothing here cleans a registry on read (RQ's
`count` and `get_job_ids` do unless told not to): moving abandoned jobs out of the started
registry is the workers' business (recovery.py), not a page view's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rq.exceptions import InvalidJobOperation
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result
from rq.serializers import JSONSerializer
from rq.worker import Worker

from suite_server.jobs.rq import JOB_FUNCTION, QUEUE_PREFIX, RQ_ID, RQRunner

FAILED_PAGE = 50  # failed jobs a page shows
BATCH = 100  # failed jobs read at once by "retry all" and "delete all"
AT_ONCE = 1000  # failed jobs one "retry all" or "delete all" handles; the page says what is left
WORKERS_SHOWN = 100
VALUE_WIDTH = 40  # characters of one argument shown; the rest is cut
ARGUMENTS_WIDTH = 160


@dataclass(frozen=True)
class QueueState:
    name: str  # ours, "default" (RQ's queue suite_server.default)
    waiting: int
    oldest_enqueued_at: datetime | None  # of the job that runs next
    scheduled: int  # delayed jobs, and retries waiting for their backoff
    started: int
    deferred: int
    failed: int


@dataclass(frozen=True)
class WorkerState:
    name: str
    state: str  # RQ's: idle, busy, suspended, started
    queues: list[str]  # ours by name; another's by its RQ name
    current_job: str | None
    last_heartbeat: datetime | None
    birth: datetime | None
    successful: int
    failed: int


@dataclass(frozen=True)
class FailedJob:
    id: str  # RQ's id: our job id (rq.rq_job_id) or one RQ made up
    queue: str
    task: str | None  # our task's name; None when the job's data has expired or is not ours
    arguments: str  # a short summary, long values cut
    enqueued_at: datetime | None
    ended_at: datetime | None
    traceback: str

    @property
    def error(self) -> str:
        """The exception, as the last line of its traceback says it."""
        lines = self.traceback.strip().splitlines()
        return lines[-1] if lines else ""


# -- reading ------------------------------------------------------------------------------------


def queue_states(runner: RQRunner) -> list[QueueState]:
    """Each of our queues (tasks.QUEUES, in the order a worker serves them) and what it holds."""
    states = []
    for name, queue in runner.queues.items():
        head = queue.get_job_ids(0, 1)  # the job dequeued next, which has waited longest
        oldest = Job.fetch_many(head, runner.connection, JSONSerializer)[0] if head else None
        states.append(
            QueueState(
                name=name,
                waiting=queue.count,
                oldest_enqueued_at=oldest.enqueued_at if oldest else None,
                scheduled=queue.scheduled_job_registry.get_job_count(cleanup=False),
                started=queue.started_job_registry.get_job_count(cleanup=False),
                deferred=queue.deferred_job_registry.get_job_count(cleanup=False),
                failed=queue.failed_job_registry.get_job_count(cleanup=False),
            )
        )
    return states


def workers(runner: RQRunner) -> tuple[list[WorkerState], int]:
    """The workers serving any of our queues, by name (up to WORKERS_SHOWN), and how many there
    are. A worker whose hash has expired is left out (RQ drops it from its sets as it reads)."""
    found: dict[str, Worker] = {}
    for queue in runner.queues.values():
        for worker in Worker.all(queue=queue, serializer=JSONSerializer):
            found.setdefault(worker.name, worker)
    shown = [found[name] for name in sorted(found)[:WORKERS_SHOWN]]
    return [_worker_state(worker) for worker in shown], len(found)


def _worker_state(worker: Worker) -> WorkerState:
    return WorkerState(
        name=worker.name,
        state=worker.get_state(),
        queues=[name.removeprefix(QUEUE_PREFIX) for name in worker.queue_names()],
        current_job=worker.get_current_job_id(),
        last_heartbeat=worker.last_heartbeat,
        birth=worker.birth_date,
        successful=worker.successful_job_count,
        failed=worker.failed_job_count,
    )


def failed_jobs(runner: RQRunner, queue: str, start: int = 0) -> list[FailedJob]:
    """Up to FAILED_PAGE failed jobs of `queue` from rank `start`, newest first (the registry is
    scored by when each failed plus the same time to live)."""
    registry = runner.queues[queue].failed_job_registry
    ids = registry.get_job_ids(start, start + FAILED_PAGE - 1, desc=True, cleanup=False)
    return _described(runner, queue, ids)


def find_failed(runner: RQRunner, job_id: str) -> FailedJob | None:
    """The failed job of ours with this RQ id, or None when no failed registry of ours has it."""
    queue = _queue_of_failed(runner, job_id)
    if queue is None:
        return None
    return _described(runner, queue, [job_id])[0]


def _queue_of_failed(runner: RQRunner, job_id: str) -> str | None:
    if not RQ_ID.fullmatch(job_id):
        return None
    for name, queue in runner.queues.items():
        if job_id in queue.failed_job_registry:
            return name
    return None


def _described(runner: RQRunner, queue: str, ids: list[str]) -> list[FailedJob]:
    # Two round trips for the lot: the jobs' hashes, then each one's latest result (where RQ
    # keeps the traceback of a failure).
    jobs = Job.fetch_many(ids, runner.connection, JSONSerializer)
    with runner.connection.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.xrevrange(Result.get_key(job_id), "+", "-", count=1)
        latest = pipe.execute()
    return [
        _failed_job(runner, queue, job_id, job, entries)
        for job_id, job, entries in zip(ids, jobs, latest, strict=True)
    ]


def _failed_job(
    runner: RQRunner, queue: str, job_id: str, job: Job | None, entries: list
) -> FailedJob:
    traceback = ""
    if entries:
        result_id, payload = entries[0]
        result = Result.restore(job_id, result_id.decode(), payload, runner.connection)
        traceback = result.exc_string or ""
    if job is None:  # its hash expired before its entry in the registry
        return FailedJob(job_id, queue, None, "", None, None, traceback)
    task, arguments = _task_of(job)
    return FailedJob(job_id, queue, task, arguments, job.enqueued_at, job.ended_at, traceback)


def _task_of(job: Job) -> tuple[str | None, str]:
    """Our task's name and its arguments, summarised: every job of ours is JOB_FUNCTION called
    with (task name, args, kwargs)."""
    try:
        if job.func_name != JOB_FUNCTION:
            return None, job.func_name
        name, args, kwargs = job.args
    except Exception:  # not ours, or data no serializer of ours reads
        return None, ""
    return str(name), summarise(args, kwargs)


def summarise(args: list, kwargs: dict[str, Any]) -> str:
    """`42, "refresh", tenant=7`: each value as JSON, cut to VALUE_WIDTH characters, the whole
    to ARGUMENTS_WIDTH. Our jobs' arguments are ids and names, never secrets, but a long one
    (a payload) would drown the page."""
    parts = [_cut(json.dumps(value, ensure_ascii=False), VALUE_WIDTH) for value in args]
    parts += [
        f"{key}={_cut(json.dumps(value, ensure_ascii=False), VALUE_WIDTH)}"
        for key, value in kwargs.items()
    ]
    return _cut(", ".join(parts), ARGUMENTS_WIDTH)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- acting -------------------------------------------------------------------------------------


def retry(runner: RQRunner, job_id: str) -> FailedJob | None:
    """Queue a failed job again; returns it, or None when it is not (or no longer) failed."""
    found = find_failed(runner, job_id)
    if found is None:
        return None
    job = Job.fetch_many([job_id], runner.connection, JSONSerializer)[0]
    registry = runner.queues[found.queue].failed_job_registry
    if job is None:
        registry.remove(job_id)  # nothing left to run
        return None
    return found if _requeue(registry, job) else None


def delete(runner: RQRunner, job_id: str) -> FailedJob | None:
    """Delete a failed job (its hash, results and registry entry); returns what it was, or None
    when it is not (or no longer) failed."""
    found = find_failed(runner, job_id)
    if found is None:
        return None
    registry = runner.queues[found.queue].failed_job_registry
    return found if _delete(runner, registry, job_id) else None


def retry_all(runner: RQRunner, queue: str) -> int:
    """Queue again up to AT_ONCE failed jobs of `queue`, oldest first (so they run in the order
    they first came); returns how many."""
    registry = runner.queues[queue].failed_job_registry
    return _each_failed(registry, lambda ids: _retry_batch(runner, registry, ids))


def delete_all(runner: RQRunner, queue: str) -> int:
    """Delete up to AT_ONCE failed jobs of `queue`, oldest first; returns how many."""
    registry = runner.queues[queue].failed_job_registry
    return _each_failed(registry, lambda ids: sum(_delete(runner, registry, i) for i in ids))


def _each_failed(registry: FailedJobRegistry, handle) -> int:
    done = 0
    # Each round takes what it reads out of the registry (retried, deleted, or an entry whose
    # job is gone): the next round reads the next ones, and the rounds are counted all the same.
    for _ in range(math.ceil(AT_ONCE / BATCH)):
        ids = registry.get_job_ids(0, BATCH - 1, cleanup=False)
        if not ids:
            break
        done += handle(ids)
    return done


def _retry_batch(runner: RQRunner, registry: FailedJobRegistry, ids: list[str]) -> int:
    done = 0
    jobs = Job.fetch_many(ids, runner.connection, JSONSerializer)
    for job_id, job in zip(ids, jobs, strict=True):
        if job is None:
            registry.remove(job_id)
        else:
            done += _requeue(registry, job)
    return done


def _requeue(registry: FailedJobRegistry, job: Job) -> bool:
    """Put a failed job back on its queue as a fresh enqueue of the same task would be: its whole
    retry budget back (rq.RQRunner.enqueue gives one interval per retry) and no reschedules
    counted (run_task reads both), under the same id, so runner.enqueue of that id waits for
    it as for any pending job. False when another request took it out of the registry first."""
    if job.retry_intervals:
        job.retries_left = len(job.retry_intervals)
    job.number_of_retries = 0
    # A failed job's hash expires (RQ's failure_ttl); a queued one's does not. Before the
    # requeue, so the expiry a worker sets once it has run the job is not taken off.
    registry.connection.persist(job.key)
    try:
        registry.requeue(job)  # ZREM first: of two requests, one requeues
    except InvalidJobOperation:
        return False
    return True


def _delete(runner: RQRunner, registry: FailedJobRegistry, job_id: str) -> bool:
    # Out of the registry first: of two requests (or a retry and a delete), one wins; a retried
    # job is not deleted from its queue by a delete sent a moment later.
    if not runner.connection.zrem(registry.key, job_id):
        return False
    job = Job.fetch_many([job_id], runner.connection, JSONSerializer)[0]
    if job is not None:
        job.delete()
    return True
