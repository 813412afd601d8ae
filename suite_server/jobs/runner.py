"""The job runner: one interface, two implementations, chosen by SUITE_SERVER_REDIS_URL.

- `RQRunner` (rq.py; Redis set): jobs go to the RQ queues `suite_server.default` and
  `suite_server.low` and are run by `suite-server worker` processes; the web process only writes
  to Redis.
- `InProcessRunner` (inprocess.py; no Redis: a fresh checkout, the demo, tests): two threads of
  this process run the jobs, each after the request that enqueued it is done.

Code that starts background work calls `enqueue("task name", *args, ...)` and never learns which
runner it got; the task functions (tasks.py) never learn it either. Both runners keep these rules:

- `delay`: the job runs no sooner than `delay` seconds from now.
- `job_id`: while a job with this id is queued, scheduled, waiting for a retry or running,
  enqueueing the same id again does nothing and returns None, so "refresh tenant 42" asked for by
  many processes at once runs once. When that job has finished or failed, the id is free again.
- `retries`: a task that raises runs again, up to `retries` more times, `backoff(n)` seconds
  after its n-th failure; after the last failure its `on_failure` hook is called (attempts.py).
- a task that raises `Retry(after=s)` runs again in `s` seconds; that uses up no retries.
- args and kwargs go through JSON (the queue holds a task name and plain values), so a task sees
  lists where the caller passed tuples, under either runner.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from flask import Flask, current_app
from rq.worker import BaseWorker, SimpleWorker

from suite_server.errors import NoRedisConfigured
from suite_server.jobs import rq, tasks
from suite_server.jobs.attempts import TooManyReschedules
from suite_server.jobs.inprocess import InProcessRunner
from suite_server.jobs.rq import QUEUE_PREFIX, RQRunner, rq_job_id, run_task
from suite_server.jobs.tasks import Retry

__all__ = [
    "QUEUE_PREFIX",
    "InProcessRunner",
    "JobRunner",
    "NoRedisConfigured",
    "RQRunner",
    "Retry",
    "TooManyReschedules",
    "enqueue",
    "get_runner",
    "init_app",
    "rq_job_id",
    "run_task",
    "run_worker",
]

EXTENSION = "suite_server.jobs"


class JobRunner(Protocol):
    """What both runners do. Callers use the module-level `enqueue`, which checks the task name
    and turns the arguments into plain JSON values first."""

    def depths(self) -> dict[str, int]:
        """Jobs waiting per queue (for /metrics)."""
        ...

    def enqueue(
        self,
        name: str,
        args: list,
        kwargs: dict,
        *,
        delay: float = 0,
        job_id: str | None = None,
        retries: int = 0,
    ) -> str | None: ...


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


def run_worker(
    app: Flask, burst: bool = False, worker_class: type[BaseWorker] = SimpleWorker
) -> bool:
    """`suite-server worker` (rq.work): it serves the RQ runner's queues, so it needs Redis."""
    runner = get_runner(app)
    if not isinstance(runner, RQRunner):
        raise NoRedisConfigured("no Redis configured: set SUITE_SERVER_REDIS_URL to run a worker")
    return rq.work(app, runner, burst=burst, worker_class=worker_class)
