"""Telling a busy RQ worker from a dead one (suite_server/jobs/recovery.py), on real Redis with a
real worker. A worker killed in the middle of a job is in tests/tokens/test_worker_killed.py."""

from __future__ import annotations

import threading
import time

import pytest
from rq.utils import utcparse

from suite_server.jobs import recovery
from suite_server.jobs.runner import enqueue


@pytest.fixture
def runner_kind() -> str:
    return "rq"


def test_a_busy_worker_keeps_beating_and_is_never_taken_for_dead(jobs, recorder, monkeypatch):
    """SimpleWorker runs the job in its main thread, where RQ beats only between jobs: the
    watch thread beats meanwhile, so a job running for three times DEAD_AFTER is left alone."""
    monkeypatch.setattr(recovery, "HEARTBEAT_EVERY", 0.1)
    monkeypatch.setattr(recovery, "RECOVER_EVERY", 0.1)
    monkeypatch.setattr(recovery, "DEAD_AFTER", 0.5)
    connection, queues = jobs.runner.connection, list(jobs.runner.queues.values())
    enqueue("test.slow", "busy", 1.5)
    recovered, ages, names = [], [], set()
    done = threading.Event()

    def look() -> None:
        while not done.wait(0.05):
            recovered.extend(recovery.recover(connection, queues))
            for key in connection.smembers("rq:workers"):
                last = connection.hget(key, "last_heartbeat")
                if last is not None and recorder.calls["slow:busy"]:
                    ages.append(time.time() - utcparse(last.decode()).timestamp())
                    names.add(key.decode().removeprefix("rq:worker:"))

    looker = threading.Thread(target=look)
    looker.start()
    try:
        assert jobs.finish(timeout=10)
    finally:
        done.set()
        looker.join()

    assert recovered == []
    assert [call.kwargs for call in recorder.calls["slow:busy"]] == [{"start": True}, {"end": True}]
    assert len(ages) > 10 and max(ages) < recovery.DEAD_AFTER
    assert [name.startswith(recovery.NAME_PREFIX) for name in names] == [True]  # one of ours


def test_jobs_ending_while_it_looks_are_not_taken_for_lost(jobs, recorder):
    """A job that has just ended loses its execution record a moment before its entry in the
    started registry goes: a look at that moment must not put the finished job back (it would
    run again, or be listed as failed)."""
    connection, queues = jobs.runner.connection, list(jobs.runner.queues.values())
    for n in range(150):
        enqueue("test.slow", f"short{n}", 0.0)
    recovered: list[str] = []
    done = threading.Event()

    def look() -> None:
        while not done.is_set():
            recovered.extend(recovery.recover(connection, queues))

    looker = threading.Thread(target=look)
    looker.start()
    try:
        assert jobs.finish(timeout=60)
    finally:
        done.set()
        looker.join()
    assert recovered == []
    assert len(recorder.calls["slow:short0"]) == 2  # started and ended, once
    assert sum(len(recorder.calls[f"slow:short{n}"]) for n in range(150)) == 300
