"""A `suite-server worker` killed with SIGKILL in the middle of a refresh, on real Redis: the job
it left "started" is put back by the next worker and the refresh happens, instead of the job id
staying taken for about 11 minutes. The workers run with their clock scaled down
(tests/tokens/worker.py FAST: a worker is dead after 2 s without a beat instead of 30)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta

from rq.job import Job
from rq.serializers import JSONSerializer

from suite_server.db import utcnow
from suite_server.jobs import attempts
from suite_server.jobs import runner as job_runner
from suite_server.tokens import service, tasks
from tests.tokens.conftest import child_env, expire, install, token_row


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.1)


def test_the_refresh_of_a_killed_worker_is_queued_again_and_happens(
    app, platform, suite, redis_url, monkeypatch, tmp_path
):
    tenant = install(platform, suite, "t-sigkill")
    app.config["REDIS_URL"] = redis_url
    jobs = app.extensions[job_runner.EXTENSION] = job_runner.RQRunner(redis_url)
    monkeypatch.setattr(attempts, "BACKOFF_BASE", 0.05)  # its retries 1 s apart
    expire(tenant)
    version = token_row(tenant).version
    calls = platform.calls().get("get_corp_token", 0)
    platform.control("faults", endpoint="get_corp_token", delay=15, count=1)  # the first one hangs
    assert service.sweep()["tenants"] == 1
    (job,) = [
        job
        for job in (
            Job.fetch(job_id, connection=jobs.connection, serializer=JSONSerializer)
            for queue in jobs.queues.values()
            for job_id in queue.job_ids + queue.scheduled_job_registry.get_job_ids()
        )
        if list(job.args[:2]) == ["tokens.refresh_tenants", [[tenant.id]]]
    ]

    def status() -> str:
        return job.get_status(refresh=True).value

    workers: list[subprocess.Popen] = []

    def start_worker() -> subprocess.Popen:
        log = open(tmp_path / f"worker{len(workers)}.log", "w")  # noqa: SIM115
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.tokens.worker", "rq"],
                env=child_env(app),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )
        return workers[-1]

    try:
        first = start_worker()
        wait_for(lambda: status() == "started", 60, "the first worker took the job")
        wait_for(lambda: platform.calls().get("get_corp_token", 0) > calls, 10, "it asked")
        os.kill(first.pid, signal.SIGKILL)  # just the worker, as the kernel's OOM killer does
        first.wait(timeout=10)

        # Killed while waiting for the platform: its job is "started", and the token is not
        # handed out again by the next sweep (it waits QUEUED_STALE for a lost job).
        assert status() == "started"
        assert service.sweep()["tenants"] == 0

        start_worker()
        wait_for(lambda: status() == "finished", 60, "the second worker ran it")
    finally:
        for worker in workers:  # each worker's process group: the worker and its scheduler
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)

    row = token_row(tenant)
    assert row.version == version + 1
    assert row.expires_at > utcnow() + timedelta(seconds=7000)
    assert platform.calls()["get_corp_token"] == calls + 2
    job.refresh()
    assert job.retries_left == tasks.BATCH_RETRIES - 1  # the same job, put back once
