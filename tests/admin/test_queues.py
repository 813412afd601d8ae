"""The Queues page on SQLite and PostgreSQL, against a real Redis and a real RQ worker: a job
that failed for good is listed with its task and error; retrying it from the admin runs its task
again as a fresh enqueue would (retries included) and deleting it removes it, each audited;
"retry all" and "delete all" go in bounded batches. Without Redis the page says jobs run
in-process; with Redis down it says so in one line."""

from __future__ import annotations

import pytest
from rq import Worker
from rq.job import Job
from sqlalchemy import select

from suite_server import db
from suite_server.jobs import queues as job_queues
from suite_server.jobs.runner import RQRunner, enqueue
from suite_server.models import App, AuditEntry
from tests import factories
from tests.admin.conftest import USERNAME, post
from tests.admin.queueing import TASK, failed_ids, job, work
from tests.admin.untranslated import untranslated

PAGE = "/admin/queues"


def fail_one(app, rq_runner, job_id="send-name-1", name="after", retries=1) -> App:
    """A row, and a job on it that fails for good: its first run and each retry are refused."""
    row = factories.wecom_app(db.session(), name="before")
    assert enqueue(TASK, row.id, name, job_id=job_id, retries=retries) == job_id
    work(app)
    assert failed_ids(rq_runner) == [job_id]
    return row


def name_of(row: App) -> str:
    db.session().expire_all()
    return db.session().scalar(select(App.name).where(App.id == row.id))


def audits(action: str) -> list[AuditEntry]:
    db.session().expire_all()
    query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    return list(db.session().scalars(query))


def test_a_failed_job_is_listed_with_its_task_and_error(app, on_rq, receiver, signed_in):
    row = fail_one(app, on_rq)
    assert receiver.calls == 2  # the first run and its one retry

    body = signed_in.get(PAGE).get_data(as_text=True)
    assert 'href="/admin/queues"' in body and 'aria-current="page">Queues<' in body
    row_html = body[body.index('id="job-send-name-1"') :]
    assert f"<code>{TASK}</code>" in row_html
    assert f"<code>{row.id}, &#34;after&#34;</code>" in row_html
    assert "ConnectionError: receiver down: connection refused" in row_html
    assert "No worker is running" in body  # the burst worker has stopped

    detail = signed_in.get("/admin/queues/failed/send-name-1").get_data(as_text=True)
    assert "Traceback (most recent call last)" in detail
    assert "raise ConnectionError(f&#34;receiver down: {state.reason}&#34;)" in detail


def test_retry_runs_the_task_again_once_the_cause_is_gone(app, on_rq, receiver, signed_in):
    row = fail_one(app, on_rq)
    receiver.down = False

    response = post(signed_in, PAGE, "/admin/queues/failed/send-name-1/retry")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/queues?queue=default"
    assert "Failed job send-name-1 is queued again." in signed_in.get(PAGE).get_data(as_text=True)
    assert failed_ids(on_rq) == []
    # Our job id stays taken while it waits, as for a fresh enqueue of it.
    assert enqueue(TASK, row.id, "other", job_id="send-name-1") is None

    work(app)
    assert name_of(row) == "after"
    assert job(on_rq, "send-name-1").get_status() == "finished"
    [entry] = audits("job.retry")
    assert (entry.actor, entry.target) == (USERNAME, "job:send-name-1")
    assert entry.detail == {"queue": "default", "task": TASK, "arguments": f'{row.id}, "after"'}
    assert "No failed job in this queue." in signed_in.get(PAGE).get_data(as_text=True)


def test_a_retried_job_has_its_retries_back(app, on_rq, receiver, signed_in):
    """Still failing, it runs as often as a fresh enqueue with retries=2 would: 3 times."""
    fail_one(app, on_rq, retries=2)
    assert receiver.calls == 3
    post(signed_in, PAGE, "/admin/queues/failed/send-name-1/retry")
    work(app)
    assert receiver.calls == 6
    assert failed_ids(on_rq) == ["send-name-1"]


def test_delete_removes_the_job_and_frees_its_id(app, on_rq, receiver, signed_in):
    row = fail_one(app, on_rq)
    response = post(signed_in, PAGE, "/admin/queues/failed/send-name-1/delete")
    assert response.status_code == 303
    assert "Failed job send-name-1 is deleted." in signed_in.get(PAGE).get_data(as_text=True)
    assert failed_ids(on_rq) == []
    assert not Job.exists("send-name-1", connection=on_rq.connection)
    [entry] = audits("job.delete")
    assert entry.target == "job:send-name-1" and entry.detail["task"] == TASK
    assert enqueue(TASK, row.id, "again", job_id="send-name-1") == "send-name-1"


def test_a_second_retry_or_a_late_delete_finds_nothing(app, on_rq, receiver, signed_in):
    """Two admins, or a double click: the job is retried once, and a delete sent after the
    retry does not take the retried job off its queue."""
    fail_one(app, on_rq)
    assert post(signed_in, PAGE, "/admin/queues/failed/send-name-1/retry").status_code == 303
    assert post(signed_in, PAGE, "/admin/queues/failed/send-name-1/retry").status_code == 404
    assert post(signed_in, PAGE, "/admin/queues/failed/send-name-1/delete").status_code == 404
    assert on_rq.queues["default"].get_job_ids() == ["send-name-1"]
    assert len(audits("job.retry")) == 1 and audits("job.delete") == []


def test_an_unknown_job_is_a_404(on_rq, signed_in):
    for path in ("no-such-job", "not%20an%20id", "x" * 101):
        url = f"/admin/queues/failed/{path}"
        assert signed_in.get(url).status_code == 404
        assert post(signed_in, PAGE, f"{url}/retry").status_code == 404
        assert post(signed_in, PAGE, f"{url}/delete").status_code == 404
    assert post(signed_in, PAGE, "/admin/queues/nosuchqueue/failed/retry").status_code == 404
    assert audits("job.retry") == audits("job.delete") == []


def test_signed_out_the_pages_lead_to_sign_in(client, on_rq):
    for url in (PAGE, "/admin/queues/failed/send-name-1"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/admin/login?next=/admin/queues")


def test_retry_all_and_delete_all_go_in_bounded_batches(
    app, on_rq, receiver, signed_in, monkeypatch
):
    monkeypatch.setattr(job_queues, "BATCH", 2)
    monkeypatch.setattr(job_queues, "AT_ONCE", 4)
    row = factories.wecom_app(db.session(), name="before")
    for number in range(5):
        enqueue(TASK, row.id, f"name {number}", job_id=f"send-{number}")
    work(app)
    assert len(failed_ids(on_rq)) == 5

    response = post(signed_in, PAGE, "/admin/queues/default/failed/retry")
    assert response.headers["Location"] == "/admin/queues?queue=default"
    body = signed_in.get(PAGE).get_data(as_text=True)
    assert "4 failed jobs of queue default are queued again. 1 is still failed" in body
    assert failed_ids(on_rq) == ["send-4"]  # the oldest went first
    assert on_rq.queues["default"].get_job_ids() == [f"send-{n}" for n in range(4)]
    [entry] = audits("queue.retry_failed")
    assert (entry.target, entry.detail) == ("queue:default", {"count": 4, "left": 1})

    post(signed_in, PAGE, "/admin/queues/default/failed/delete")
    assert "1 failed job of queue default is deleted." in signed_in.get(PAGE).get_data(as_text=True)
    assert failed_ids(on_rq) == []
    assert [e.detail for e in audits("queue.delete_failed")] == [{"count": 1, "left": 0}]


def test_the_page_counts_each_queue_and_lists_the_workers(app, on_rq, receiver, signed_in):
    row = factories.wecom_app(db.session(), name="before")
    enqueue(TASK, row.id, "now")
    enqueue(TASK, row.id, "later", delay=600)
    worker = Worker(list(on_rq.queues.values()), connection=on_rq.connection, name="w-test-1")
    worker.register_birth()
    try:
        body = signed_in.get(PAGE).get_data(as_text=True)
    finally:
        worker.register_death()
    queues_table = body[body.index('id="queues"') : body.index('id="workers"')]
    default_row = queues_table[queues_table.index("<code>default</code>") :].split("</tr>")[0]
    cells = [cell.split("</td>")[0] for cell in default_row.split("<td>")[1:]]
    assert cells[0] == "1"  # waiting
    assert "<time" in cells[1]  # the oldest waiting job's time, and how long ago
    assert cells[2:5] == ["1", "0", "0"]  # scheduled, running, deferred
    workers_table = body[body.index('id="workers"') :]
    assert "<code>w-test-1</code>" in workers_table
    assert "<code>default</code>, <code>low</code>" in workers_table


def test_the_traceback_is_escaped(app, on_rq, receiver, signed_in):
    receiver.reason = "<script>alert(1)</script>"
    fail_one(app, on_rq)
    for url in (PAGE, "/admin/queues/failed/send-name-1"):
        body = signed_in.get(url).get_data(as_text=True)
        assert "<script>alert" not in body and "&lt;script&gt;alert(1)" in body


def test_in_chinese_no_english_is_left(app, on_rq, receiver, signed_in):
    fail_one(app, on_rq)
    chinese = {"Accept-Language": "zh-CN,zh;q=0.9"}
    for url in (PAGE, "/admin/queues/failed/send-name-1"):
        body = signed_in.get(url, headers=chinese).get_data(as_text=True)
        assert untranslated(body) == [], url


def test_without_redis_the_page_says_jobs_run_in_process(signed_in):
    body = signed_in.get(PAGE).get_data(as_text=True)
    assert "No Redis is configured: jobs run in-process, on 2 threads" in body
    assert "<button" not in body.split("<main>")[1]  # no action offered
    assert signed_in.get("/admin/queues/failed/any-job").status_code == 404
    assert post(signed_in, PAGE, "/admin/queues/failed/any-job/retry").status_code == 404
    assert post(signed_in, PAGE, "/admin/queues/default/failed/delete").status_code == 404


@pytest.fixture
def redis_down(app):
    """Jobs on a Redis that does not answer: nothing listens on port 1."""
    in_process = app.extensions["suite_server.jobs"]
    app.extensions["suite_server.jobs"] = RQRunner("redis://127.0.0.1:1/0")
    yield
    app.extensions["suite_server.jobs"] = in_process


def test_with_redis_down_the_page_says_so_in_one_line(redis_down, signed_in):
    body = signed_in.get(PAGE).get_data(as_text=True)
    assert body.count("Redis is unreachable:") == 1 and 'id="failed-jobs"' not in body
    response = signed_in.get("/admin/queues/failed/send-name-1")
    assert response.status_code == 503
    assert "Redis is unreachable: redis: " in response.get_data(as_text=True)
    response = post(signed_in, PAGE, "/admin/queues/failed/send-name-1/retry")
    assert response.status_code == 303
    assert "Redis is unreachable" in signed_in.get(PAGE).get_data(as_text=True)
    [entry] = audits("job.retry")
    assert entry.detail["error"].startswith("redis: ")


def test_arguments_are_summarised_and_cut():
    summary = job_queues.summarise([42, "x" * 100], {"tenant": "wwcorp1"})
    assert summary == f'42, "{"x" * 38}…, tenant="wwcorp1"'
    assert len(job_queues.summarise(["y" * 30] * 20, {})) == job_queues.ARGUMENTS_WIDTH
