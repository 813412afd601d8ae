"""The job runner: the same rules under both runners, then what is particular to each."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from flask import g
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.utils import utcformat
from sqlalchemy import select

from suite_server import db
from suite_server.jobs import attempts, retry, runner, tasks
from suite_server.jobs import rq as rq_runner
from suite_server.jobs.runner import RQRunner, TooManyReschedules, enqueue, rq_job_id
from suite_server.models import App
from tests import factories

# -- both runners ------------------------------------------------------------------------------


def test_a_task_runs_with_its_args_in_its_own_app_context_and_session(app, harness_for):
    """On SQLite and PostgreSQL: the task writes through db.session() and the test sees it."""
    jobs = harness_for(app)
    row = factories.wecom_app(db.session(), name="before")
    seen = {}

    def rename(pk, name, *, tags):
        seen.update(args=(pk, name), tags=tags, session=db.session(), test_g=g is test_g)
        db.session().get(App, pk).name = name
        db.session().commit()

    test_g = g._get_current_object()
    tasks.register("test.rename", rename)
    try:
        assert enqueue("test.rename", row.id, "after", tags=("a", "b")) is not None
        assert jobs.finish()
    finally:
        tasks.unregister("test.rename")

    assert db.session().scalar(select(App.name).where(App.id == row.id)) == "after"
    assert seen["args"] == (row.id, "after")
    assert seen["tags"] == ["a", "b"]  # through JSON, whichever runner
    assert seen["test_g"] is False  # a fresh app context, not the enqueuer's
    assert seen["session"] is not db.session()


def test_a_delayed_task_runs_after_its_delay_and_not_before(jobs, recorder):
    enqueued_at = time.time()
    enqueue("test.record", "late", delay=1.0)
    jobs.poke()
    assert recorder.calls["record"] == []

    assert jobs.finish(timeout=5)
    [call] = recorder.calls["record"]
    assert call.args == ("late",)
    assert call.at - enqueued_at >= 1.0
    assert call.at - enqueued_at < 3.5


def test_a_job_id_is_queued_once_until_its_job_is_over(jobs, recorder):
    assert enqueue("test.record", 1, job_id="refresh tenant:42") == "refresh tenant:42"
    assert enqueue("test.record", 2, job_id="refresh tenant:42") is None
    assert enqueue("test.record", 3, job_id="refresh tenant:43", delay=0.1) is not None
    assert enqueue("test.record", 4, job_id="refresh tenant:43") is None  # scheduled counts too
    assert jobs.finish()
    assert sorted(c.args for c in recorder.calls["record"]) == [(1,), (3,)]

    # Over: the id is free again.
    assert enqueue("test.record", 5, job_id="refresh tenant:42") == "refresh tenant:42"
    assert jobs.finish()
    assert sorted(c.args for c in recorder.calls["record"]) == [(1,), (3,), (5,)]


def test_many_enqueuers_of_one_job_id_at_once_queue_it_once(jobs, recorder, redis_url_if_rq):
    def enqueuer():
        # RQ: a runner (a connection pool) of its own, as another web process would have.
        own = RQRunner(redis_url_if_rq) if redis_url_if_rq else jobs.runner
        barrier.wait()
        results.append(own.enqueue("test.record", ["once"], {}, job_id="refresh tenant:7"))

    barrier, results = threading.Barrier(8), []
    threads = [threading.Thread(target=enqueuer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r for r in results if r is not None] == ["refresh tenant:7"]
    assert results.count(None) == 7
    assert jobs.finish()
    assert [c.args for c in recorder.calls["record"]] == [("once",)]


def test_a_failing_task_is_retried_with_backoff_then_on_failure_is_called(
    jobs, recorder, monkeypatch
):
    waits = []
    monkeypatch.setattr(attempts, "backoff", lambda n: waits.append(n) or 0)

    assert enqueue("test.flaky", "k", fail_times=99, retries=2, job_id="flaky-k") == "flaky-k"
    assert jobs.finish()

    assert len(recorder.calls["flaky:k"]) == 3  # the first run and two retries
    assert waits == [1, 2]  # the backoff after the first and the second failure
    [(name, args, kwargs, exc, in_app_context)] = recorder.failures
    assert (name, args, kwargs) == ("test.flaky", ["k"], {"fail_times": 99})
    assert isinstance(exc, ValueError) and str(exc) == "boom 3"
    assert in_app_context
    if jobs.kind == "rq":
        job = Job.fetch("flaky-k", connection=jobs.runner.connection, serializer=JSONSerializer)
        assert job.get_status() == "failed"
    # Failed for good is over: the id can be queued again.
    assert enqueue("test.flaky", "k", fail_times=0, job_id="flaky-k") == "flaky-k"


def test_a_task_that_recovers_within_its_retries_never_calls_on_failure(
    jobs, recorder, monkeypatch
):
    monkeypatch.setattr(attempts, "backoff", lambda n: 0)
    enqueue("test.flaky", "k", fail_times=1, retries=1)
    assert jobs.finish()
    assert len(recorder.calls["flaky:k"]) == 2
    assert recorder.failures == []


def test_without_retries_the_first_failure_is_the_last(jobs, recorder):
    enqueue("test.flaky", "k", fail_times=5)
    assert jobs.finish()
    assert len(recorder.calls["flaky:k"]) == 1
    assert str(recorder.failures[0][3]) == "boom 1"


def test_retry_after_reschedules_without_using_the_retry_budget(jobs, recorder):
    enqueue("test.later", "k", after=1.0, job_id="later-k")  # retries=0: no budget at all
    jobs.poke()
    [first] = recorder.calls["later:k"]
    assert enqueue("test.later", "k", after=1.0, job_id="later-k") is None  # still pending

    assert jobs.finish(timeout=6)
    first, second = recorder.calls["later:k"]
    assert second.at - first.at >= 1.0
    assert recorder.failures == []


def test_rescheduling_forever_ends_as_a_failure(jobs, recorder, monkeypatch):
    monkeypatch.setattr(attempts, "MAX_RESCHEDULES", 2)
    enqueue("test.forever", "k")
    assert jobs.finish()
    assert len(recorder.calls["forever:k"]) == 3
    [(name, _, _, exc, _)] = recorder.failures
    assert name == "test.forever" and isinstance(exc, TooManyReschedules)


def test_enqueue_refuses_unknown_tasks_and_non_json_arguments(jobs, recorder):
    with pytest.raises(tasks.UnknownTask):
        enqueue("test.no-such-task")
    with pytest.raises(TypeError):
        enqueue("test.record", object())
    with pytest.raises(ValueError):
        enqueue("test.record", delay=-1)
    assert jobs.finish()
    assert recorder.calls["record"] == []


def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter(monkeypatch):
    monkeypatch.setattr(retry.random, "uniform", lambda low, high: high)
    assert [attempts.backoff(n) for n in range(1, 9)] == [10, 20, 40, 80, 160, 320, 600, 600]
    monkeypatch.setattr(retry.random, "uniform", lambda low, high: low)
    assert [attempts.backoff(n) for n in (1, 2, 8)] == [5, 10, 300]


@pytest.fixture
def redis_url_if_rq(runner_kind, request):
    return request.getfixturevalue("redis_url") if runner_kind == "rq" else None


# -- in-process --------------------------------------------------------------------------------


only_in_process = pytest.mark.parametrize("runner_kind", ["in_process"])


@pytest.fixture
def in_process(plain_app, recorder, harness_for):
    return harness_for(plain_app)


@only_in_process
def test_drain_waits_for_running_and_scheduled_jobs(in_process, recorder):
    enqueue("test.slow", "a", seconds=0.3)
    enqueue("test.record", "scheduled", delay=1.0)
    assert in_process.runner.drain(timeout=0.2) is False
    assert in_process.runner.drain(timeout=5) is True
    assert len(recorder.calls["slow:a"]) == 2
    assert [c.args for c in recorder.calls["record"]] == [("scheduled",)]


@only_in_process
def test_two_threads_run_jobs_side_by_side(in_process, recorder):
    enqueue("test.slow", "a", seconds=0.4)
    enqueue("test.slow", "b", seconds=0.4)
    assert in_process.runner.drain(timeout=5)
    a_start, a_end = recorder.calls["slow:a"]
    b_start, _ = recorder.calls["slow:b"]
    assert b_start.at < a_end.at
    assert a_start.thread != b_start.thread


@only_in_process
def test_a_job_enqueued_by_a_request_starts_after_the_request_is_done(in_process, recorder):
    app = in_process.app
    finished = []

    def view():
        enqueue("test.record", "from a request")
        time.sleep(0.3)
        finished.append(time.time())
        return "ok"

    app.add_url_rule("/enqueue-test", "enqueue_test", view)
    assert app.test_client().get("/enqueue-test").status_code == 200
    assert in_process.runner.drain(timeout=5)
    [call] = recorder.calls["record"]
    assert call.at >= finished[0]


@only_in_process
def test_backoff_really_spaces_retries(in_process, recorder, monkeypatch):
    monkeypatch.setattr(attempts, "BACKOFF_BASE", 0.4)  # first retry 0.2 to 0.4 s later
    enqueue("test.flaky", "k", fail_times=1, retries=1)
    assert in_process.runner.drain(timeout=5)
    first, second = recorder.calls["flaky:k"]
    assert 0.2 <= second.at - first.at < 1.5


@only_in_process
def test_shutdown_drops_what_is_scheduled_and_frees_its_ids(in_process, recorder):
    enqueue("test.record", "never", delay=30, job_id="far-off")
    assert in_process.runner.shutdown(timeout=0.1) is False
    assert enqueue("test.record", "now", job_id="far-off") == "far-off"
    assert in_process.runner.drain(timeout=5)
    assert recorder.calls["record"] == []  # a stopped runner starts nothing (test_stop.py)


# -- RQ ----------------------------------------------------------------------------------------


only_rq = pytest.mark.parametrize("runner_kind", ["rq"])


@pytest.fixture
def on_rq(plain_app, recorder, harness_for):
    return harness_for(plain_app)


@only_rq
def test_rq_stores_the_dispatcher_and_plain_json_never_our_callables(on_rq, recorder):
    job_id = enqueue("test.record", 1, (2, 3), x="y")
    job = Job.fetch(job_id, connection=on_rq.runner.connection, serializer=JSONSerializer)
    assert job.func_name == "suite_server.jobs.runner.run_task"
    assert job.args == ["test.record", [1, [2, 3]], {"x": "y"}]
    assert job.origin == "suite_server.default"
    on_rq.work()
    assert [c.args for c in recorder.calls["record"]] == [(1, [2, 3])]


@only_rq
def test_rq_ping_returns_pong(on_rq):
    job_id = enqueue("ping")
    on_rq.work()
    job = Job.fetch(job_id, connection=on_rq.runner.connection, serializer=JSONSerializer)
    assert job.get_status() == "finished"
    assert job.return_value() == "pong"


@only_rq
def test_rq_routes_a_task_to_its_queue(on_rq, recorder):
    enqueue("test.record_low", "low")
    assert on_rq.runner.queues["low"].count == 1
    assert on_rq.runner.queues["default"].count == 0
    on_rq.work()
    assert [c.args for c in recorder.calls["record"]] == [("low",)]


@only_rq
def test_rq_schedules_a_retry_after_the_backoff(on_rq, recorder):
    job_id = enqueue("test.flaky", "k", fail_times=99, retries=3, job_id="backoff-k")
    job = Job.fetch(
        rq_job_id(job_id), connection=on_rq.runner.connection, serializer=JSONSerializer
    )
    first, second, third = job.retry_intervals
    assert 5 <= first <= 10 and 10 <= second <= 20 and 20 <= third <= 40

    before = time.time()
    on_rq.work()
    assert len(recorder.calls["flaky:k"]) == 1
    assert recorder.failures == []
    registry = on_rq.runner.queues["default"].scheduled_job_registry
    assert registry.get_job_ids() == ["backoff-k"]
    due = registry.get_scheduled_time("backoff-k").timestamp()
    assert before + first - 1 <= due <= time.time() + first
    assert enqueue("test.flaky", "k", fail_times=99, job_id="backoff-k") is None


@only_rq
def test_rq_a_job_taken_by_a_worker_that_died_before_starting_it_is_queued_again(on_rq, recorder):
    connection = on_rq.runner.connection
    queue = on_rq.runner.queues["default"]
    long_ago = utcformat(datetime.now(UTC) - timedelta(seconds=rq_runner.POPPED_GRACE + 1))
    assert enqueue("test.record", 1, job_id="event-42") == "event-42"
    assert enqueue("test.record", 2, job_id="event-43") == "event-43"
    # A worker takes event-42 (RQ's BLPOP) and is killed before it marks it started.
    assert connection.lpop(queue.key) == b"event-42"
    assert Job.fetch("event-42", connection=connection).get_status() == "queued"
    assert enqueue("test.record", 3, job_id="event-42") is None  # just taken: a worker has it

    connection.hset(Job.key_for("event-42"), "enqueued_at", long_ago)
    connection.hset(Job.key_for("event-43"), "enqueued_at", long_ago)
    assert enqueue("test.record", 4, job_id="event-42") == "event-42"  # lost: queued again
    assert enqueue("test.record", 5, job_id="event-43") is None  # still waiting in its queue
    on_rq.work()
    assert sorted(c.args for c in recorder.calls["record"]) == [(2,), (4,)]


def test_rq_job_ids_with_any_characters_stay_distinct():
    assert rq_job_id("refresh-tenant_42") == "refresh-tenant_42"
    assert rq_job_id("refresh tenant:42").startswith("refresh-tenant-42-")
    assert rq_job_id("refresh tenant:42") != rq_job_id("refresh tenant 42")


def test_run_worker_needs_redis(plain_app):
    runner.init_app(plain_app)
    with pytest.raises(runner.NoRedisConfigured, match="SUITE_SERVER_REDIS_URL"):
        runner.run_worker(plain_app, burst=True)
