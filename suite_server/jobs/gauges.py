"""The job queues' series on /metrics, registered from create_app: read from Redis (or this
process's in-process runner) at scrape time, so every process shows the same counts."""

from __future__ import annotations

from suite_server.jobs import queues, runner
from suite_server.jobs.rq import RQRunner
from suite_server.ops import metrics


def register() -> None:
    metrics.gauge("suite_server_job_queue_depth", "Jobs waiting", depths, labels=["queue"])
    metrics.gauge(
        "suite_server_jobs",
        "Jobs per queue by state: waiting, scheduled (delayed jobs and retries waiting for their"
        " time), started (running now), failed (failed for good, kept by RQ for a while)",
        by_state,
        labels=["queue", "state"],
    )


def depths() -> list[tuple[list[str], int]]:
    return [([queue], size) for queue, size in runner.get_runner().depths().items()]


def by_state() -> list[tuple[list[str], int]]:
    jobs = runner.get_runner()
    if not isinstance(jobs, RQRunner):
        # The in-process runner keeps no registries: its jobs are waiting or running.
        return [([queue, "waiting"], size) for queue, size in jobs.depths().items()]
    return [
        ([state.name, name], count)
        for state in queues.queue_states(jobs)  # counts only: no registry is cleaned on read
        for name, count in (
            ("waiting", state.waiting),
            ("scheduled", state.scheduled),
            ("started", state.started),
            ("failed", state.failed),
        )
    ]
