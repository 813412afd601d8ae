"""The RQ runner: jobs in Redis, run by `suite-server worker` processes (run_worker). The web
process only writes to Redis. See runner.py for the rules every runner keeps."""

from __future__ import annotations

import hashlib
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app
from redis.exceptions import WatchError
from rq import Queue, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.job import Retry as RQRetry
from rq.serializers import JSONSerializer
from rq.utils import utcparse
from rq.worker import BaseWorker, SimpleWorker

from suite_server import db, redis_client
from suite_server.jobs import attempts, recovery, tasks
from suite_server.jobs.tasks import Retry

QUEUE_PREFIX = "suite_server."
# The one job function RQ stores, by this path: stored jobs keep it across versions (a job queued
# before an upgrade runs after it), so it is the path run_task has always had; runner.py
# re-exports run_task under it.
JOB_FUNCTION = "suite_server.jobs.runner.run_task"

# A job in one of these states is over: its id may be used for a new job.
_ENDED = {
    status.value
    for status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
}
# A worker serving several queues takes a job with BLPOP and marks it started a moment later: one
# killed in between (SIGKILL, out of memory) leaves the job in no queue and no registry, its
# status still "queued", where nothing would run it and its id would refuse every enqueue (the
# sweeps' too: bench/soak.py lost events so). A queued job this many seconds old that is not in
# its queue is taken as lost, and its id is free; a live worker marks its job started within
# milliseconds of taking it.
POPPED_GRACE = 30.0
# What RQ takes for a job id (and so what an id RQ made up, a uuid4, looks like).
RQ_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


def rq_job_id(job_id: str) -> str:
    """The RQ id for one of our job ids. RQ allows only letters, digits, "_" and "-"; ours may
    read "refresh tenant:42", so those keep a readable part plus a hash that keeps them apart."""
    if RQ_ID.fullmatch(job_id):
        return job_id
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", job_id)[:60]
    return f"{readable}-{hashlib.sha256(job_id.encode()).hexdigest()[:16]}"


class RQRunner:
    """Jobs in Redis, run by `suite-server worker` (an RQ worker with its scheduler, which moves
    delayed jobs and retries to their queue when due). The stored job function is always
    `run_task`, given the task's name: RQ never pickles our callables, and JSON keeps the args."""

    def __init__(self, redis_url: str) -> None:
        # Timeouts so a web request never hangs on Redis; a worker raises its own socket
        # timeout above its blocking dequeue (rq.Worker._set_connection).
        self.connection = redis_client.connect(redis_url, timeout=5)
        self.queues = {
            name: Queue(QUEUE_PREFIX + name, connection=self.connection, serializer=JSONSerializer)
            for name in tasks.QUEUES
        }

    def depths(self) -> dict[str, int]:
        return {name: queue.count for name, queue in self.queues.items()}

    def enqueue(self, name, args, kwargs, *, delay=0, job_id=None, retries=0):
        queue = self.queues[tasks.get(name).queue]
        options: dict[str, Any] = {"args": (name, args, kwargs), "description": name}
        if retries:
            # RQ's own retry: the worker reschedules a job that raised while retries_left > 0.
            intervals = [math.ceil(attempts.backoff(n)) for n in range(1, retries + 1)]
            options["retry"] = RQRetry(max=retries, interval=intervals)
        if job_id is None:
            return self._put(queue, delay, options).id
        options["meta"] = {"job_id": job_id}
        rq_id = rq_job_id(job_id)
        key = Job.key_for(rq_id)
        # Check and enqueue in one transaction: WATCH the job's hash, so when several processes
        # enqueue the same id at once, all but one see their transaction refused and look again.
        with self.connection.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    status = pipe.hget(key, "status")
                    taken = status is not None and status.decode() not in _ENDED
                    if taken and not _popped_and_lost(pipe, key, rq_id, status):
                        return None
                    pipe.multi()
                    if status is not None:
                        self._forget(rq_id, pipe)  # the ended job that last had this id
                    self._put(queue, delay, options, job_id=rq_id, pipeline=pipe)
                    pipe.execute()
                    return job_id
                except WatchError:
                    continue

    @staticmethod
    def _put(queue: Queue, delay: float, options: dict, **extra: Any) -> Job:
        if delay > 0:
            # RQ's scheduler keeps whole seconds; rounding up keeps "not before" true.
            at = datetime.fromtimestamp(math.ceil(time.time() + delay), UTC)
            return queue.enqueue_at(at, JOB_FUNCTION, **options, **extra)
        return queue.enqueue_call(JOB_FUNCTION, **options, **extra)

    def _forget(self, rq_id: str, pipe) -> None:
        try:
            job = Job.fetch(rq_id, connection=self.connection, serializer=JSONSerializer)
        except NoSuchJobError:
            return
        job.delete(pipeline=pipe)  # its hash, results and registry entries


def _popped_and_lost(pipe, key: str, rq_id: str, status: bytes) -> bool:
    """Whether the job under `key` was taken from its queue by a worker that died before it
    marked the job started (see POPPED_GRACE). Read inside the caller's WATCH."""
    if status.decode() != JobStatus.QUEUED.value:
        return False
    origin, enqueued_at = pipe.hmget(key, "origin", "enqueued_at")
    if not origin or not enqueued_at:
        return False
    queued = utcparse(enqueued_at.decode())
    if queued.tzinfo is None:  # RQ writes UTC without saying so
        queued = queued.replace(tzinfo=UTC)
    age = time.time() - queued.timestamp()
    if age < POPPED_GRACE:
        return False
    return pipe.lpos(Queue.redis_queue_namespace_prefix + origin.decode(), rq_id) is None


def run_task(name: str, args: list, kwargs: dict) -> Any:
    """The one job function RQ stores (as JOB_FUNCTION): run task `name`. The worker pushed the
    app context once (run_worker); each job gets a fresh context, and so a fresh session, inside
    it."""
    job = get_current_job()
    try:
        return attempts.perform(
            current_app._get_current_object(),
            tasks.get(name),
            args,
            kwargs,
            # RQ decrements retries_left after this attempt; 0 or None: nothing left after it.
            last_attempt=not (job and job.retries_left),
            reschedules=(job.number_of_retries or 0) if job else 0,
        )
    except Retry as retry:
        # A job that *returns* an RQ Retry is rescheduled under the same id (so job_id still
        # dedupes) and its retries_left, the budget for exceptions, is left alone.
        return RQRetry(max=attempts.MAX_RESCHEDULES, interval=_scheduler_seconds(retry.after))


def _scheduler_seconds(after: float) -> int:
    # RQ schedules now + interval and truncates to the second: "in 1 s" asked at 12:00:00.95
    # would be due at 12:00:01, 0.05 s later. One more second keeps "not before" true.
    return 0 if after <= 0 else math.ceil(after) + 1


def work(
    app: Flask, runner: RQRunner, burst: bool = False, worker_class: type[BaseWorker] = SimpleWorker
) -> bool:
    """`suite-server worker` (runner.run_worker): serve the queues (default first, then low), with
    RQ's scheduler. The app context is pushed here, once, for the life of the worker. Returns
    whether any job ran (burst mode stops when the queues are empty).

    Jobs run in the worker process itself (SimpleWorker): most of ours are one short upstream
    call and a few queries, and forking a work horse for each, which must then open its own
    database connection, cost more than the job (bench/tokens.py part b, the fill's refreshes/s).
    RQ's job timeout still applies (SIGALRM in the main thread). Beside it a thread beats for the
    busy worker and puts back the jobs of dead ones (recovery.py)."""
    queues = [runner.queues[name] for name in tasks.QUEUES]
    worker_class = type(worker_class.__name__, (_LoggedOnce, worker_class), {})
    options = {"connection": runner.connection, "serializer": JSONSerializer}
    worker = worker_class(queues, **options, **recovery.worker_options())
    with app.app_context(), recovery.watch(worker):
        # Forked horses (rq.Worker) must not share pooled connections: the pool starts empty.
        db.dispose(app)
        return worker.work(burst=burst, with_scheduler=True)


class _LoggedOnce:
    """Mixed into the RQ worker class. RQ logs every exception a job raises as an ERROR with its
    traceback, even when the job is to run again; attempts.perform has logged such a failure
    already, in one WARNING line. Failures with no retry left are RQ's to log (with the
    traceback) as before."""

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        if not job.should_retry:  # retries_left, before RQ counts this failure
            super().handle_exception(job, *exc_info)  # type: ignore[misc]
