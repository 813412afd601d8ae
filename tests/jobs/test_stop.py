"""Stopping the in-process runner (Ctrl-C in the demo): at once, whatever is waiting for its time;
a job running then may finish, and nothing starts after, not even that job's retry."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from suite_server.jobs import attempts, tasks
from suite_server.jobs.runner import enqueue

only_in_process = pytest.mark.parametrize("runner_kind", ["in_process"])


@pytest.fixture
def in_process(plain_app, recorder, harness_for):
    return harness_for(plain_app)


@pytest.fixture
def failing_slowly(recorder) -> Iterator[str]:
    def fail(key: str) -> None:
        recorder.record(f"failing:{key}", (key,), {})
        time.sleep(0.5)
        raise ValueError("receiver down")

    tasks.register("test.failing_slowly", fail)
    yield "test.failing_slowly"
    tasks.unregister("test.failing_slowly")


def wait_for(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.02)


@only_in_process
def test_shutdown_does_not_wait_for_a_retry_that_is_not_due(in_process, recorder, monkeypatch):
    monkeypatch.setattr(attempts, "BACKOFF_BASE", 2.0)  # the retry comes 1 to 2 s after a failure
    enqueue("test.flaky", "k", fail_times=10, retries=5)
    wait_for(lambda: len(recorder.calls["flaky:k"]) == 1)
    time.sleep(0.1)  # its failure is handled: the retry is scheduled

    started = time.monotonic()
    assert in_process.runner.shutdown(timeout=10) is False  # the retry was dropped
    assert time.monotonic() - started < 0.5  # it used to wait for the retry, up to `timeout`

    enqueue("test.record", "after the stop")
    time.sleep(2.5)  # past the retry's time
    assert len(recorder.calls["flaky:k"]) == 1
    assert recorder.calls["record"] == []


@only_in_process
def test_a_job_running_at_shutdown_finishes_and_its_retry_never_runs(
    in_process, recorder, failing_slowly, monkeypatch
):
    monkeypatch.setattr(attempts, "BACKOFF_BASE", 0.02)  # the retry would be due at once
    enqueue(failing_slowly, "hook", retries=3)
    wait_for(lambda: recorder.calls["failing:hook"])

    started = time.monotonic()
    in_process.runner.shutdown(timeout=10)  # waits for the running job
    assert 0.2 < time.monotonic() - started < 2
    time.sleep(0.5)
    assert len(recorder.calls["failing:hook"]) == 1
