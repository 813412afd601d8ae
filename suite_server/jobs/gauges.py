"""The job queues' series on /metrics, registered from create_app."""

from __future__ import annotations

from suite_server.jobs import runner
from suite_server.ops import metrics


def register() -> None:
    metrics.gauge("suite_server_job_queue_depth", "Jobs waiting", depths, labels=["queue"])


def depths() -> list[tuple[list[str], int]]:
    return [([queue], size) for queue, size in runner.get_runner().depths().items()]
