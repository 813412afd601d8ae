"""The task registry and the built-in tasks."""

from __future__ import annotations

import pytest

from suite_server.jobs import tasks
from suite_server.jobs.tasks import Retry, UnknownTask


def test_ping_answers_pong_from_an_app_context(plain_app):
    assert tasks.ping() == "pong"
    assert tasks.get("ping").fn is tasks.ping


def test_register_and_the_decorator_map_names_to_plain_functions():
    @tasks.task("test.decorated", queue="low")
    def decorated(x):
        return x * 2

    try:
        assert decorated(2) == 4  # still the plain function
        registered = tasks.get("test.decorated")
        assert (registered.fn, registered.queue, registered.on_failure) == (decorated, "low", None)
        assert "test.decorated" in tasks.names()
        tasks.register("test.decorated", decorated, queue="low")  # the same again: fine
        with pytest.raises(ValueError, match="already registered"):
            tasks.register("test.decorated", lambda: None)
    finally:
        tasks.unregister("test.decorated")
    with pytest.raises(UnknownTask):
        tasks.get("test.decorated")


def test_a_task_queue_must_exist():
    with pytest.raises(ValueError, match="queue"):
        tasks.register("test.nowhere", lambda: None, queue="urgent")


def test_retry_carries_when():
    assert Retry(after=2).after == 2.0
    assert "ticket" in str(Retry(30, "no ticket yet"))
    with pytest.raises(ValueError):
        Retry(after=-1)
