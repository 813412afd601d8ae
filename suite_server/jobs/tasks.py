"""Job functions, by name: the only things a job runner may run.

A task is a plain function `fn(*args, **kwargs)` registered under a stable name. The runner calls it
inside a fresh app context, so it uses `db.session()` like a request does, and it never knows
whether RQ or the in-process runner is calling it. Its arguments come through JSON: ids and
strings, not rows or objects.

A task says how it ended by how it returns:
- returns: done.
- raises `Retry(after=seconds)`: not now (e.g. a lock is held, a ticket has not arrived yet);
  run it again later without using up its retry budget.
- raises anything else: a failure. The runner retries it with backoff while the `retries` given
  at enqueue last; after the last failure it calls the task's `on_failure(name, args, kwargs,
  exc)` hook (in its own app context) so the caller can mark its row failed with the reason.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from suite_server import db

OnFailure = Callable[[str, list, dict, BaseException], None]
QUEUES = ("default", "low")  # RQ queue suite_server.<queue>; a worker serves them in this order
# The modules whose @task functions make up the product's jobs: imported by load(), so a web
# process, a worker and cron all know the same names.
MODULES = (
    "suite_server.processing.pipeline",
    "suite_server.processing.retention",
    "suite_server.authorization.reconcile",
    "suite_server.authorization.housekeeping",
    "suite_server.tokens.tasks",
    "suite_server.dispatch.release_check",
    "suite_server.dispatch.webhooks.delivery",
    "suite_server.billing.licenses",
    "suite_server.billing.orders",
    "suite_server.authorization.capabilities",
    "suite_server.releases.steps",
    "suite_server.jobs.activity",
)


class Retry(Exception):
    """Raised by a task: run me again in `after` seconds. Not a failure: no retry budget used."""

    def __init__(self, after: float, reason: str = "") -> None:
        if after < 0:
            raise ValueError("Retry(after=...) must not be negative")
        super().__init__(reason or f"retry in {after:g}s")
        self.after = float(after)


class UnknownTask(LookupError):
    """No task is registered under this name (a typo, or its module was not imported)."""


@dataclass(frozen=True)
class Task:
    name: str
    fn: Callable[..., Any]
    on_failure: OnFailure | None = None
    queue: str = "default"


_registry: dict[str, Task] = {}


def register(
    name: str,
    fn: Callable[..., Any],
    *,
    on_failure: OnFailure | None = None,
    queue: str = "default",
) -> Task:
    """Make `fn` runnable as `name`. Names are stored in queues, so keep them stable."""
    if queue not in QUEUES:
        raise ValueError(f"queue must be one of {', '.join(QUEUES)}, not {queue!r}")
    existing = _registry.get(name)
    if existing is not None and existing.fn is not fn:
        raise ValueError(f"task {name!r} is already registered to {existing.fn.__qualname__}")
    _registry[name] = Task(name, fn, on_failure, queue)
    return _registry[name]


def task(
    name: str, *, on_failure: OnFailure | None = None, queue: str = "default"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator form of `register`; returns the function unchanged."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        register(name, fn, on_failure=on_failure, queue=queue)
        return fn

    return decorate


def unregister(name: str) -> None:
    _registry.pop(name, None)


def get(name: str) -> Task:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownTask(f"no task named {name!r}") from None


def load() -> None:
    for module in MODULES:
        importlib.import_module(module)


def names() -> list[str]:
    return sorted(_registry)


# -- the tasks ---------------------------------------------------------------------------------


@task("ping")
def ping() -> str:
    """Proves the wiring end to end: runs in a job's app context and reaches the database."""
    db.session().execute(text("SELECT 1"))
    return "pong"
