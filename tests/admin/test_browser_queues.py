"""End to end in headless Chromium, against the server over HTTP, a real Redis and a real RQ
worker: a job that failed for good is on the Queues page with its task and error; its page shows
the traceback; once its cause is gone, Retry queues it again and the next worker run does its
work. Skipped with the reason when Chromium or Playwright is missing here (failed under CI)."""

from __future__ import annotations

from sqlalchemy import select

from suite_server import db
from suite_server.jobs.runner import enqueue
from suite_server.models import App
from tests import factories
from tests.admin.browsing import sign_in, snap
from tests.admin.queueing import TASK, failed_ids, work


def test_see_a_failed_job_and_retry_it(app, on_rq, receiver, admin_user, page):
    row = factories.wecom_app(db.session(), name="before")
    enqueue(TASK, row.id, "after", job_id="send-name-e2e", retries=1)
    work(app)
    assert failed_ids(on_rq) == ["send-name-e2e"]

    sign_in(page)
    page.click("nav >> text=Queues")
    page.wait_for_url("**/admin/queues")
    failed = page.locator("#job-send-name-e2e")
    assert TASK in failed.inner_text()
    assert "ConnectionError: receiver down: connection refused" in failed.inner_text()
    snap(page, "queues")
    failed.locator("a:has-text('send-name-e2e')").click()
    assert page.locator("#job-task").inner_text() == TASK
    assert "Traceback (most recent call last)" in page.locator("#traceback").inner_text()

    receiver.down = False
    page.click("button:has-text('Retry')")
    page.wait_for_selector(".flash.ok")
    assert "send-name-e2e is queued again" in page.locator(".flash.ok").inner_text()
    assert page.locator("#job-send-name-e2e").count() == 0
    assert "No failed job in this queue." in page.locator("#failed-jobs").inner_text()

    work(app)
    db.session().expire_all()
    assert db.session().scalar(select(App.name).where(App.id == row.id)) == "after"
    page.click("nav >> text=Audit log")
    assert page.locator("td:has-text('job.retry')").count() == 1
