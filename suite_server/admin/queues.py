"""The job queues in the admin UI: what the runner can tell (RQ: each queue's counts, the workers
and the failed jobs, jobs/queues.py; in-process: the jobs waiting and running), and retrying or
deleting failed jobs, one or a queue's at once, each audited (on `job:<id>` or
`queue:<name>`). Redis not answering is a line on the page, never an error page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from suite_server import audit
from suite_server.admin.tenants import ActionFailed
from suite_server.jobs import queues
from suite_server.jobs.queues import FailedJob, QueueState, WorkerState
from suite_server.jobs.runner import InProcessRunner, JobRunner, RQRunner
from suite_server.jobs.tasks import QUEUES
from suite_server.ops.failures import one_line

# RQ's worker states, as the page says them.
WORKER_STATES = {
    "idle": lazy_gettext("idle"),
    "busy": lazy_gettext("busy"),
    "started": lazy_gettext("starting"),
    "suspended": lazy_gettext("suspended"),
}


class NotFailed(LookupError):
    """No failed job of ours has this id (it never had, or it was retried or deleted since)."""


@dataclass(frozen=True)
class View:
    """The Queues page. `kind` says which runner: "rq", or "in_process" (no Redis configured)."""

    kind: str
    unreachable: str | None = None  # Redis's error, in one line
    queues: list[QueueState] = field(default_factory=list)
    workers: list[WorkerState] = field(default_factory=list)
    worker_count: int = 0
    failed_queue: str = QUEUES[0]  # the queue whose failed jobs are listed
    failed: list[FailedJob] = field(default_factory=list)
    failed_total: int = 0
    start: int = 0  # the rank of the first failed job listed
    waiting: dict[str, int] = field(default_factory=dict)  # in-process: per queue
    running: int = 0  # in-process
    threads: int = 0  # in-process

    @property
    def more(self) -> bool:
        return self.start + len(self.failed) < self.failed_total


def view(runner: JobRunner, failed_queue: str, start: int = 0) -> View:
    if isinstance(runner, InProcessRunner):
        return View(
            "in_process",
            waiting=runner.depths(),
            running=runner.running(),
            threads=runner.threads,
        )
    assert isinstance(runner, RQRunner)
    try:
        states = queues.queue_states(runner)
        shown_workers, worker_count = queues.workers(runner)
        failed = queues.failed_jobs(runner, failed_queue, start)
    except RedisError as exc:
        return View("rq", unreachable=one_line(exc))
    return View(
        "rq",
        queues=states,
        workers=shown_workers,
        worker_count=worker_count,
        failed_queue=failed_queue,
        failed=failed,
        failed_total=next(s.failed for s in states if s.name == failed_queue),
        start=start,
    )


def failed_job(runner: RQRunner, job_id: str) -> FailedJob:
    """One failed job with its traceback; NotFailed, or ActionFailed when Redis does not answer."""
    try:
        found = queues.find_failed(runner, job_id)
    except RedisError as exc:
        raise ActionFailed(unreachable(exc)) from None
    if found is None:
        raise NotFailed(job_id)
    return found


def retry(session: Session, actor: str, runner: RQRunner, job_id: str) -> FailedJob:
    """Queue a failed job again, as a fresh enqueue of its task would be."""
    return _one(session, actor, "job.retry", job_id, lambda: queues.retry(runner, job_id))


def delete(session: Session, actor: str, runner: RQRunner, job_id: str) -> FailedJob:
    return _one(session, actor, "job.delete", job_id, lambda: queues.delete(runner, job_id))


def retry_all(session: Session, actor: str, runner: RQRunner, queue: str) -> tuple[int, int]:
    """Queue again up to queues.AT_ONCE failed jobs of `queue`; returns how many, and how many
    are still failed."""
    return _all(session, actor, "queue.retry_failed", runner, queue, queues.retry_all)


def delete_all(session: Session, actor: str, runner: RQRunner, queue: str) -> tuple[int, int]:
    return _all(session, actor, "queue.delete_failed", runner, queue, queues.delete_all)


def _one(session: Session, actor: str, action: str, job_id: str, act) -> FailedJob:
    target = f"job:{job_id}"
    try:
        job = act()
    except RedisError as exc:
        _refused(session, actor, action, target, exc)
    if job is None:
        raise NotFailed(job_id)
    detail = {"queue": job.queue, "task": job.task, "arguments": job.arguments}
    audit.record(session, actor, action, target, detail)
    session.commit()
    return job


def _all(session: Session, actor: str, action: str, runner: RQRunner, queue: str, act):
    target = f"queue:{queue}"
    try:
        done = act(runner, queue)
        left = runner.queues[queue].failed_job_registry.get_job_count(cleanup=False)
    except RedisError as exc:
        _refused(session, actor, action, target, exc)
    audit.record(session, actor, action, target, {"count": done, "left": left})
    session.commit()
    return done, left


def _refused(session: Session, actor: str, action: str, target: str, exc: RedisError) -> NoReturn:
    audit.record(session, actor, action, target, {"error": one_line(exc)})
    session.commit()
    raise ActionFailed(unreachable(exc)) from None


def unreachable(exc: RedisError) -> str:
    return _("Redis is unreachable: %(error)s", error=one_line(exc))
