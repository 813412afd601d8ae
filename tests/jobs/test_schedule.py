"""The periodic list and the loops that enqueue it (`suite-server cron`, the in-process timer)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from redis import Redis

from suite_server.jobs import runner, schedule, tasks
from suite_server.jobs.schedule import Periodic

only_rq = pytest.mark.parametrize("runner_kind", ["rq"])
only_in_process = pytest.mark.parametrize("runner_kind", ["in_process"])


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_every_entry_names_a_registered_task_once():
    tasks.load()  # what every web, worker and cron process does at start
    names = [entry.name for entry in schedule.SCHEDULE]
    assert len(names) == len(set(names))
    for entry in schedule.SCHEDULE:
        tasks.get(entry.task)
        schedule.latest_occurrence(entry.every, time.time())


def test_occurrences_are_on_the_utc_wall_clock():
    now = at("2024-05-01T10:17:42.5")
    assert schedule.latest_occurrence(60, now) == at("2024-05-01T10:17:00")
    assert schedule.latest_occurrence(3600, now) == at("2024-05-01T10:00:00")
    assert schedule.latest_occurrence("0 3 * * *", now) == at("2024-05-01T03:00:00")
    assert schedule.latest_occurrence("*/15 * * * *", now) == at("2024-05-01T10:15:00")
    with pytest.raises(ValueError):
        schedule.latest_occurrence(0, now)


@pytest.fixture
def every_minute(monkeypatch, recorder):
    entry = Periodic("record sweep", 60, "test.record", ("sweep",))
    monkeypatch.setattr(schedule, "SCHEDULE", [entry])
    return entry


@only_rq
def test_two_cron_processes_enqueue_each_occurrence_once(jobs, every_minute, redis_url, recorder):
    first = schedule.redis_claim(Redis.from_url(redis_url))
    second = schedule.redis_claim(Redis.from_url(redis_url))
    now = time.time()

    assert schedule.tick(jobs.app, first, now) == [every_minute]
    assert schedule.tick(jobs.app, second, now) == []
    assert schedule.tick(jobs.app, second, now + 0.5) == []  # same occurrence
    assert jobs.pending() == 1
    jobs.work()
    assert schedule.tick(jobs.app, second, now + 60) == [every_minute]  # the next one
    jobs.work()
    assert [c.args for c in recorder.calls["record"]] == [("sweep",), ("sweep",)]


def test_the_in_process_claims_fire_each_occurrence_once(jobs, every_minute, recorder):
    claim = schedule.memory_claim()
    now = time.time()
    assert schedule.tick(jobs.app, claim, now) == [every_minute]
    assert schedule.tick(jobs.app, claim, now + 0.5) == []
    assert schedule.tick(jobs.app, claim, now + 60) == [every_minute]


def test_an_occurrence_missed_by_more_than_the_grace_is_skipped(jobs, monkeypatch, recorder):
    entry = Periodic("nightly", "0 3 * * *", "test.record")
    monkeypatch.setattr(schedule, "SCHEDULE", [entry])
    claim = schedule.memory_claim()
    assert schedule.tick(jobs.app, claim, at("2024-05-01T04:00:00")) == []
    assert schedule.tick(jobs.app, claim, at("2024-05-01T03:00:30")) == [entry]


@only_rq
def test_run_cron_enqueues_into_rq_until_stopped(jobs, monkeypatch, recorder):
    monkeypatch.setattr(schedule, "TICK", 0.05)
    monkeypatch.setattr(schedule, "SCHEDULE", [Periodic("each second", 1, "test.record", ("t",))])
    stop = threading.Event()
    cron = threading.Thread(target=schedule.run_cron, args=(jobs.app, stop))
    cron.start()
    try:
        deadline = time.monotonic() + 3
        while jobs.pending() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        cron.join(timeout=5)
    assert not cron.is_alive()
    jobs.work()
    assert [c.args for c in recorder.calls["record"]][:1] == [("t",)]


@only_in_process
def test_the_in_process_schedule_runs_the_same_list(jobs, monkeypatch, recorder):
    monkeypatch.setattr(schedule, "TICK", 0.05)
    monkeypatch.setattr(schedule, "SCHEDULE", [Periodic("each second", 1, "test.record", ("t",))])
    stop = schedule.start_in_process_schedule(jobs.app)
    try:
        deadline = time.monotonic() + 3
        while not recorder.calls["record"] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
    assert recorder.calls["record"][0].args == ("t",)


@only_in_process
def test_run_cron_needs_redis(jobs):
    with pytest.raises(runner.NoRedisConfigured, match="SUITE_SERVER_REDIS_URL"):
        schedule.run_cron(jobs.app, threading.Event())
