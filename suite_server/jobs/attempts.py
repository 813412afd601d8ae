"""A task's attempts, the same under both runners: one attempt in a fresh app context
(`perform`), what a failure does (a warning line while retries are left; on the last one an
error, the JOB_FAILURES count and the task's on_failure hook), the wait before the next attempt
(`backoff`), and how often a task may put itself off with Retry(after=...)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from suite_server.jobs import retry
from suite_server.jobs.tasks import Retry, Task
from suite_server.ops import logs
from suite_server.ops.metrics import JOB_FAILURES

# The logger's name is the one these lines have always had (the `logger` field of JSON logs,
# which log filters and alerts may match): they are the runner's account of a job.
log = logging.getLogger("suite_server.jobs.runner")

BACKOFF_BASE = 10.0  # seconds before the first retry (before jitter); doubles with each failure
BACKOFF_CAP = 600.0
MAX_RESCHEDULES = 1000  # a job that raised Retry(after=...) this often counts as failed


class TooManyReschedules(RuntimeError):
    """A task kept raising Retry(after=...) past MAX_RESCHEDULES: treated as a failure."""


def backoff(failures: int) -> float:
    """Seconds before a job runs again after its `failures`-th failure (retry.py)."""
    return retry.backoff(failures, BACKOFF_BASE, BACKOFF_CAP)


def perform(
    app: Flask, task: Task, args: list, kwargs: dict, *, last_attempt: bool, reschedules: int
) -> Any:
    """One attempt of a task, in a fresh app context (its own session, closed at the end).
    Re-raises what the task raised; on the last failure calls its on_failure hook first."""
    context = logs.CONTEXT.set({"job": task.name})
    try:
        with app.app_context():
            return task.fn(*args, **kwargs)
    except Retry as retry_later:
        if reschedules < MAX_RESCHEDULES:
            raise
        failure = TooManyReschedules(f"task {task.name} rescheduled itself {reschedules} times")
        _failed(app, task, args, kwargs, failure, last_attempt)
        raise failure from retry_later
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
