"""The job runner: one interface, two implementations, chosen by SUITE_SERVER_REDIS_URL.

- `RQRunner` (Redis set): jobs go to the RQ queues `suite_server.default` and `suite_server.low`
  and are run by `suite-server worker` processes; the web process only writes to Redis.
- `InProcessRunner` (no Redis: a fresh checkout, the demo, tests): two threads of this process
  run the jobs, each after the request that enqueued it is done.

Code that starts background work calls `enqueue("task name", *args, ...)` and never learns which
runner it got; the task functions (tasks.py) never learn it either. Both runners keep these rules:

- `delay`: the job runs no sooner than `delay` seconds from now.
- `job_id`: while a job with this id is queued, scheduled, waiting for a retry or running,
  enqueueing the same id again does nothing and returns None, so "refresh tenant 42" asked for by
  many processes at once runs once. When that job has finished or failed, the id is free again.
- `retries`: a task that raises runs again, up to `retries` more times, `backoff(n)` seconds
  after its n-th failure; after the last failure its `on_failure` hook is called.
- a task that raises `Retry(after=s)` runs again in `s` seconds; that uses up no retries.
- args and kwargs go through JSON (the queue holds a task name and plain values), so a task sees
  lists where the caller passed tuples, under either runner.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import math
import os
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app, g, has_request_context
from redis import Redis
from redis.exceptions import WatchError
from rq import Queue, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.job import Retry as RQRetry
from rq.serializers import JSONSerializer
from rq.worker import BaseWorker, SimpleWorker

from suite_server import db
from suite_server.jobs import recovery, tasks
from suite_server.jobs.tasks import Retry, Task
from suite_server.ops import logs
from suite_server.ops.metrics import JOB_FAILURES

__all__ = [
    "NoRedisConfigured",
    "Retry",
    "enqueue",
    "get_runner",
    "init_app",
    "run_task",
    "run_worker",
]

EXTENSION = "suite_server.jobs"
QUEUE_PREFIX = "suite_server."
BACKOFF_BASE = 10.0  # seconds before the first retry (before jitter); doubles with each failure
BACKOFF_CAP = 600.0
MAX_RESCHEDULES = 1000  # a job that raised Retry(after=...) this often counts as failed

log = logging.getLogger(__name__)


class TooManyReschedules(RuntimeError):
    """A task kept raising Retry(after=...) past MAX_RESCHEDULES: treated as a failure."""


class NoRedisConfigured(RuntimeError):
    """A worker or cron process was started without SUITE_SERVER_REDIS_URL."""


# -- the interface -----------------------------------------------------------------------------


def init_app(app: Flask) -> JobRunner:
    """Put the runner that fits the settings on the app (once; later calls return it)."""
    if EXTENSION in app.extensions:
        return app.extensions[EXTENSION]
    tasks.load()
    url = app.config.get("REDIS_URL")
    runner: JobRunner = RQRunner(url) if url else InProcessRunner(app)
    if isinstance(runner, InProcessRunner):
        app.teardown_request(runner.release_held)
    app.extensions[EXTENSION] = runner
    return runner


def get_runner(app: Flask | None = None) -> JobRunner:
    app = app or current_app._get_current_object()
    try:
        return app.extensions[EXTENSION]
    except KeyError:
        raise RuntimeError("no job runner on this app: call jobs.runner.init_app(app)") from None


def enqueue(
    name: str,
    *args: Any,
    delay: float = 0,
    job_id: str | None = None,
    retries: int = 0,
    **kwargs: Any,
) -> str | None:
    """Run task `name` in the background with these arguments (see the module docstring).
    Returns the job's id, or None when a job with this `job_id` is already pending."""
    if delay < 0 or retries < 0:
        raise ValueError("delay and retries must not be negative")
    tasks.get(name)  # an unknown name fails here, in the caller, not later in a worker
    plain_args, plain_kwargs = json.loads(json.dumps([list(args), kwargs]))
    return get_runner().enqueue(
        name, plain_args, plain_kwargs, delay=delay, job_id=job_id, retries=retries
    )


def backoff(failures: int) -> float:
    """Seconds to wait after the `failures`-th failure: BACKOFF_BASE doubling, capped at
    BACKOFF_CAP, half of it random ("equal jitter") so jobs that failed together, say during an
    upstream outage, do not all come back in the same second."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (failures - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class JobRunner:
    """What both runners do. Callers use the module-level `enqueue`, which checks the task name
    and turns the arguments into plain JSON values first."""

    def depths(self) -> dict[str, int]:
        """Jobs waiting per queue (for /metrics)."""
        raise NotImplementedError

    def enqueue(
        self,
        name: str,
        args: list,
        kwargs: dict,
        *,
        delay: float = 0,
        job_id: str | None = None,
        retries: int = 0,
    ) -> str | None:
        raise NotImplementedError


def _perform(
    app: Flask, task: Task, args: list, kwargs: dict, *, last_attempt: bool, reschedules: int
) -> Any:
    """One attempt of a task, in a fresh app context (its own session, closed at the end).
    Re-raises what the task raised; on the last failure calls its on_failure hook first."""
    context = logs.CONTEXT.set({"job": task.name})
    try:
        with app.app_context():
            return task.fn(*args, **kwargs)
    except Retry as retry:
        if reschedules < MAX_RESCHEDULES:
            raise
        failure = TooManyReschedules(f"task {task.name} rescheduled itself {reschedules} times")
        _failed(app, task, args, kwargs, failure, last_attempt)
        raise failure from retry
    except Exception as exc:
        _failed(app, task, args, kwargs, exc, last_attempt)
        raise
    finally:
        logs.CONTEXT.reset(context)


def _failed(
    app: Flask, task: Task, args: list, kwargs: dict, exc: Exception, last_attempt: bool
) -> None:
    if not last_attempt:
        # Expected now and then (no ticket yet, a platform busy): one line, no traceback.
        log.warning("task %s failed, will retry: %s: %s", task.name, type(exc).__name__, exc)
        return
    log.error("task %s failed for good", task.name, exc_info=exc)
    JOB_FAILURES.labels(task.name).inc()
    if task.on_failure is None:
        return
    try:
        # Its own context: the failed attempt's session may be unusable (a failed flush).
        with app.app_context():
            task.on_failure(task.name, args, kwargs, exc)
    except Exception:
        log.exception("the on_failure hook of task %s failed", task.name)


# -- RQ ----------------------------------------------------------------------------------------

# A job in one of these states is over: its id may be used for a new job.
_ENDED = {
    status.value
    for status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
}
_RQ_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


def rq_job_id(job_id: str) -> str:
    """The RQ id for one of our job ids. RQ allows only letters, digits, "_" and "-"; ours may
    read "refresh tenant:42", so those keep a readable part plus a hash that keeps them apart."""
    if _RQ_ID.fullmatch(job_id):
        return job_id
    readable = re.sub(r"[^A-Za-z0-9_-]+", "-", job_id)[:60]
    return f"{readable}-{hashlib.sha256(job_id.encode()).hexdigest()[:16]}"


class RQRunner(JobRunner):
    """Jobs in Redis, run by `suite-server worker` (an RQ worker with its scheduler, which moves
    delayed jobs and retries to their queue when due). The stored job function is always
    `run_task`, given the task's name: RQ never pickles our callables, and JSON keeps the args."""

    def __init__(self, redis_url: str) -> None:
        # Timeouts so a web request never hangs on Redis; a worker raises its own socket
        # timeout above its blocking dequeue (rq.Worker._set_connection).
        self.connection = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
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
            intervals = [math.ceil(backoff(n)) for n in range(1, retries + 1)]
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
                    if status is not None and status.decode() not in _ENDED:
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
            return queue.enqueue_at(at, run_task, **options, **extra)
        return queue.enqueue_call(run_task, **options, **extra)

    def _forget(self, rq_id: str, pipe) -> None:
        try:
            job = Job.fetch(rq_id, connection=self.connection, serializer=JSONSerializer)
        except NoSuchJobError:
            return
        job.delete(pipeline=pipe)  # its hash, results and registry entries


def run_task(name: str, args: list, kwargs: dict) -> Any:
    """The one job function RQ stores: run task `name`. The worker pushed the app context once
    (run_worker); each job gets a fresh context, and so a fresh session, inside it."""
    job = get_current_job()
    try:
        return _perform(
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
        return RQRetry(max=MAX_RESCHEDULES, interval=_scheduler_seconds(retry.after))


def _scheduler_seconds(after: float) -> int:
    # RQ schedules now + interval and truncates to the second: "in 1 s" asked at 12:00:00.95
    # would be due at 12:00:01, 0.05 s later. One more second keeps "not before" true.
    return 0 if after <= 0 else math.ceil(after) + 1


def run_worker(
    app: Flask, burst: bool = False, worker_class: type[BaseWorker] = SimpleWorker
) -> bool:
    """`suite-server worker`: serve the queues (default first, then low), with RQ's scheduler.
    The app context is pushed here, once, for the life of the worker. Returns whether any job
    ran (burst mode stops when the queues are empty).

    Jobs run in the worker process itself (SimpleWorker): most of ours are one short upstream
    call and a few queries, and forking a work horse for each, which must then open its own
    database connection, cost more than the job (13-20 jobs/s for 2 workers in bench/tokens.py
    part b). RQ's job timeout still applies (SIGALRM in the main thread). Beside it a thread
    beats for the busy worker and puts back the jobs of dead ones (recovery.py)."""
    runner = get_runner(app)
    if not isinstance(runner, RQRunner):
        raise NoRedisConfigured("no Redis configured: set SUITE_SERVER_REDIS_URL to run a worker")
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
    traceback, even when the job is to run again; _perform has logged such a failure already, in
    one WARNING line. Failures with no retry left are RQ's to log (with the traceback) as before."""

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        if not job.should_retry:  # retries_left, before RQ counts this failure
            super().handle_exception(job, *exc_info)  # type: ignore[misc]


# -- in-process --------------------------------------------------------------------------------

_HELD = "_suite_server_held_jobs"


@dataclass(order=True)
class _Job:
    due: float  # time.monotonic()
    seq: int  # first come, first served among jobs due at the same time
    task: Task = field(compare=False)
    args: list = field(compare=False)
    kwargs: dict = field(compare=False)
    job_id: str = field(compare=False)
    retries: int = field(compare=False)
    failures: int = field(default=0, compare=False)
    reschedules: int = field(default=0, compare=False)


class InProcessRunner(JobRunner):
    """Jobs on a few threads of this process, for running with no services. Pending jobs are
    lost when the process exits; the job functions are the same ones RQ runs."""

    def __init__(self, app: Flask, threads: int = 2) -> None:
        self.app = app
        self.threads = threads
        self._cond = threading.Condition()
        self._heap: list[_Job] = []  # queued and scheduled jobs, soonest due first
        self._live: set[str] = set()  # ids of jobs held, queued, scheduled or running
        self._running = 0
        self._workers: list[threading.Thread] = []
        self._pid: int | None = None
        self._stopped = False
        self._seq = itertools.count()

    def enqueue(self, name, args, kwargs, *, delay=0, job_id=None, retries=0):
        task = tasks.get(name)
        with self._cond:
            if job_id is not None and job_id in self._live:
                return None
            job = _Job(0.0, 0, task, args, kwargs, job_id or uuid.uuid4().hex, retries)
            self._live.add(job.job_id)
        job.due = time.monotonic() + delay
        if has_request_context() and current_app._get_current_object() is self.app:
            # Hold it until the request is over (release_held): the request's own work, its
            # commit and its response, comes first, as it would with a separate worker.
            g.setdefault(_HELD, []).append(job)
        else:
            self._push(job)
        return job.job_id

    def depths(self) -> dict[str, int]:
        with self._cond:
            waiting = [job.task.queue for job in self._heap]
        return {name: waiting.count(name) for name in tasks.QUEUES}

    def release_held(self, _exc: BaseException | None = None) -> None:
        """teardown_request: hand the jobs this request enqueued to the threads."""
        for job in g.pop(_HELD, []):
            self._push(job)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued, scheduled or running. False if that did not happen
        within `timeout` seconds (say, a retry is due later than that)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Stop now: no job starts from here on, not a queued one, not a retry that comes due, not
        one enqueued later; those are dropped (their work is still pending in the database, where
        the sweeps find it on the next start). Waits up to `timeout` for the jobs running now.
        Returns whether nothing was dropped or left running."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._stopped = True
            dropped = bool(self._heap)
            for job in self._heap:
                self._live.discard(job.job_id)
            self._heap.clear()
            self._cond.notify_all()
            workers, self._workers = self._workers, []
            while self._running and deadline > time.monotonic():
                self._cond.wait(deadline - time.monotonic())
            idle = not self._running
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return idle and not dropped

    def _push(self, job: _Job) -> None:
        with self._cond:
            if self._stopped:  # enqueued, released by a request or retried after shutdown()
                self._live.discard(job.job_id)
                return
            if self._pid != os.getpid():  # first use, or a forked child: threads do not fork
                self._pid, self._workers = os.getpid(), []
            if not self._workers:
                for number in range(self.threads):
                    worker = threading.Thread(
                        target=self._work, name=f"suite-server-job-{number}", daemon=True
                    )
                    worker.start()
                    self._workers.append(worker)
            job.seq = next(self._seq)
            heapq.heappush(self._heap, job)
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopped:
                        return
                    wait = self._heap[0].due - time.monotonic() if self._heap else None
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                job = heapq.heappop(self._heap)
                self._running += 1
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

    def _run(self, job: _Job) -> None:
        try:
            _perform(
                self.app,
                job.task,
                job.args,
                job.kwargs,
                last_attempt=job.failures >= job.retries,
                reschedules=job.reschedules,
            )
        except Retry as retry:
            job.reschedules += 1
            return self._later(job, retry.after)
        except Exception:
            job.failures += 1
            if job.failures <= job.retries:
                return self._later(job, backoff(job.failures))
        with self._cond:
            self._live.discard(job.job_id)

    def _later(self, job: _Job, seconds: float) -> None:
        # Pushed back while still counted as running, so drain() never sees a gap.
        job.due = time.monotonic() + seconds
        self._push(job)
