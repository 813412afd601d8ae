"""What the Queues page's tests share (test_queues.py, test_browser_queues.py): the app on the RQ
runner over a real Redis database (SUITE_SERVER_TEST_REDIS_URL), a task that fails while the
receiver it sends to is down, and a real RQ worker run in burst mode."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from rq import SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer

from suite_server import db
from suite_server.jobs import attempts, runner, tasks
from suite_server.jobs.runner import RQRunner
from suite_server.models import App

TASK = "test.send_name"


@dataclass
class Receiver:
    """Stands for the receiver the test task sends an app's new name to: while it is down the
    task raises, as a webhook delivery to a refused connection does; once up, the task renames
    the app, which the test sees in the database."""

    down: bool = True
    calls: int = 0
    reason: str = "connection refused"


@pytest.fixture
def receiver(monkeypatch) -> Iterator[Receiver]:
    state = Receiver()

    def send_name(app_pk: int, name: str) -> None:
        state.calls += 1
        if state.down:
            raise ConnectionError(f"receiver down: {state.reason}")
        db.session().get(App, app_pk).name = name
        db.session().commit()

    # Retries come at once (RQ's interval 0) rather than after a backoff the test would wait for.
    monkeypatch.setattr(attempts, "backoff", lambda failures: 0)
    tasks.register(TASK, send_name)
    yield state
    tasks.unregister(TASK)


@pytest.fixture
def on_rq(app: Flask, redis_url: str) -> Iterator[RQRunner]:
    """The app's jobs on RQ, as with SUITE_SERVER_REDIS_URL set."""
    in_process = app.extensions[runner.EXTENSION]
    rq_runner = RQRunner(redis_url)
    app.extensions[runner.EXTENSION] = rq_runner
    yield rq_runner
    rq_runner.connection.close()
    app.extensions[runner.EXTENSION] = in_process  # for the app fixture to shut down


def work(app: Flask) -> None:
    """One real RQ worker (SimpleWorker, in this thread) over what is queued, then it stops."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        runner.run_worker(app, burst=True, worker_class=SimpleWorker)
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def failed_ids(rq_runner: RQRunner, queue: str = "default") -> list[str]:
    return rq_runner.queues[queue].failed_job_registry.get_job_ids(cleanup=False)


def job(rq_runner: RQRunner, job_id: str) -> Job:
    return Job.fetch(job_id, connection=rq_runner.connection, serializer=JSONSerializer)
