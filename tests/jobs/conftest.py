"""Fixtures for the job runners: test tasks that record their calls, and a harness that drives
either runner the same way (the in-process threads, or RQ with a real burst worker on Redis)."""

from __future__ import annotations

import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, has_app_context
from rq import SimpleWorker
from sqlalchemy import text

from suite_server import db
from suite_server.jobs import runner, tasks
from suite_server.jobs.runner import InProcessRunner, Retry, RQRunner
from tests.conftest import make_app


@dataclass
class Call:
    args: tuple
    kwargs: dict
    at: float  # time.time()
    in_app_context: bool
    thread: str


@dataclass
class Recorder:
    """What the test tasks saw. Tasks run on other threads (in-process) or in this one (RQ's
    SimpleWorker), never in another process, so a plain object is shared with them."""

    calls: dict[str, list[Call]] = field(default_factory=lambda: defaultdict(list))
    failures: list[tuple] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, task: str, args: tuple, kwargs: dict) -> int:
        call = Call(args, kwargs, time.time(), has_app_context(), threading.current_thread().name)
        with self.lock:
            self.calls[task].append(call)
            return len(self.calls[task])

    def on_failure(self, name: str, args: list, kwargs: dict, exc: BaseException) -> None:
        self.failures.append((name, args, kwargs, exc, has_app_context()))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()

    def record(*args: Any, **kwargs: Any) -> int:
        # Proves the app context is there and its session works.
        assert db.session().execute(text("SELECT 1")).scalar() == 1
        return rec.record("record", args, kwargs)

    def flaky(key: str, fail_times: int) -> str:
        attempt = rec.record(f"flaky:{key}", (key,), {"fail_times": fail_times})
        if attempt <= fail_times:
            raise ValueError(f"boom {attempt}")
        return "ok"

    def later(key: str, after: float) -> str:
        if rec.record(f"later:{key}", (key,), {}) == 1:
            raise Retry(after=after)
        return "done"

    def forever(key: str) -> None:
        rec.record(f"forever:{key}", (key,), {})
        raise Retry(after=0)

    def slow(key: str, seconds: float) -> None:
        rec.record(f"slow:{key}", (key,), {"start": True})
        time.sleep(seconds)
        rec.record(f"slow:{key}", (key,), {"end": True})

    registered = {
        "test.record": (record, {}),
        "test.record_low": (record, {"queue": "low"}),
        "test.flaky": (flaky, {"on_failure": rec.on_failure}),
        "test.later": (later, {"on_failure": rec.on_failure}),
        "test.forever": (forever, {"on_failure": rec.on_failure}),
        "test.slow": (slow, {}),
    }
    for name, (fn, options) in registered.items():
        tasks.register(name, fn, **options)
    yield rec
    for name in registered:
        tasks.unregister(name)


class Harness:
    """One runner on one app, driven the same way whichever it is."""

    def __init__(self, kind: str, app: Flask, redis_url: str | None) -> None:
        self.kind, self.app = kind, app
        if kind == "rq":
            app.extensions[runner.EXTENSION] = RQRunner(redis_url)
        else:
            runner.init_app(app)
        self.runner = runner.get_runner(app)
        assert isinstance(self.runner, RQRunner if kind == "rq" else InProcessRunner)

    def work(self) -> None:
        """RQ: one real burst worker (with its scheduler) over what is due now."""
        saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            runner.run_worker(self.app, burst=True, worker_class=SimpleWorker)
        finally:
            for signum, handler in saved.items():
                signal.signal(signum, handler)

    def poke(self) -> None:
        """Give what is due now the chance to run."""
        if self.kind == "rq":
            self.work()
        else:
            time.sleep(0.3)

    def pending(self) -> int:
        queues = self.runner.queues.values()
        return sum(q.count + q.scheduled_job_registry.count for q in queues)

    def finish(self, timeout: float = 5.0) -> bool:
        """Run until nothing is queued, scheduled or running; False if that takes too long."""
        if self.kind == "in_process":
            return self.runner.drain(timeout)
        deadline = time.monotonic() + timeout
        while True:
            self.work()
            if not self.pending():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def close(self) -> None:
        if self.kind == "rq":
            self.runner.connection.close()
        else:
            self.runner.shutdown(timeout=5)


@pytest.fixture(params=["in_process", "rq"])
def runner_kind(request) -> str:
    return request.param


@pytest.fixture
def harness_for(request, runner_kind) -> Iterator:
    made: list[Harness] = []

    def make(app: Flask) -> Harness:
        url = request.getfixturevalue("redis_url") if runner_kind == "rq" else None
        made.append(Harness(runner_kind, app, url))
        return made[-1]

    yield make
    for harness in made:
        harness.close()


@pytest.fixture
def plain_app(tmp_path) -> Iterator[Flask]:
    """An app on an empty SQLite file: the runners need no tables of ours."""
    app = make_app(tmp_path / "instance", f"sqlite:///{tmp_path / 'jobs.db'}")
    with app.app_context():
        yield app
    db.dispose(app)


@pytest.fixture
def jobs(plain_app, recorder, harness_for) -> Harness:
    return harness_for(plain_app)
