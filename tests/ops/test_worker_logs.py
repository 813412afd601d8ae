"""What a worker logs for a job that fails in an expected way and will run again (no ticket yet):
one WARNING line naming the app, no ERROR, no traceback; under RQ and in-process alike."""

from __future__ import annotations

import logging
import signal

import pytest

from suite_server import db
from suite_server.jobs import runner as job_runner
from suite_server.tokens import service
from tests import factories


def run_rq_worker(app) -> None:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        job_runner.run_worker(app, burst=True)  # the worker class `suite-server worker` runs
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@pytest.mark.parametrize("kind", ["rq", "in_process"])
def test_no_ticket_yet_is_one_warning_line(app, kind, request, caplog):
    if kind == "rq":
        app.extensions[job_runner.EXTENSION] = job_runner.RQRunner(
            request.getfixturevalue("redis_url")
        )
    suite = factories.wecom_app(db.session(), app_id="wwnoticketyet")  # WeCom has not pushed
    caplog.set_level(logging.INFO)
    job_runner.enqueue("tokens.refresh_app", suite.id, retries=service.JOB_RETRIES)
    if kind == "rq":
        run_rq_worker(app)  # burst: the one attempt due now; its retry is 5 s or more away
    else:
        assert not job_runner.get_runner(app).drain(timeout=2)  # the retry is still waiting
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelname for r in loud] == ["WARNING"], [r.getMessage() for r in loud]
    [line] = loud
    assert line.exc_info is None and "\n" not in line.getMessage()
    assert line.getMessage() == (
        "task tokens.refresh_app failed, will retry: "
        "TokenUnavailable: no unexpired ticket received yet"
    )
    assert (line.job, line.app_id) == ("tokens.refresh_app", "wwnoticketyet")


def test_the_last_failure_is_still_an_error_with_its_traceback(app, redis_url, caplog):
    app.extensions[job_runner.EXTENSION] = job_runner.RQRunner(redis_url)
    suite = factories.wecom_app(db.session(), app_id="wwnoticketever")
    caplog.set_level(logging.INFO)
    job_runner.enqueue("tokens.refresh_app", suite.id)  # no retries: the first failure is final
    run_rq_worker(app)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and all(r.exc_info or "Traceback" in r.getMessage() for r in errors)
    assert any(r.name == "suite_server.jobs.runner" for r in errors)
