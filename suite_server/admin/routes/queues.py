"""The job queues: /admin/queues (each queue's counts, the workers, a queue's failed jobs), one
failed job with its traceback, and retrying or deleting failed jobs, one or a queue's at once.

Our own page rather than rq-dashboard, a separate Flask app: this one is behind the admin's
sign-in and CSRF, audited, bilingual, and knows our task names (docs/admin.md#queues)."""

from __future__ import annotations

from flask import Response, abort, flash, render_template
from flask_babel import gettext as _
from flask_babel import ngettext

from suite_server import db
from suite_server.admin import queues
from suite_server.admin.forms import ActionForm
from suite_server.admin.routes.common import actor, arg, bp, done, int_arg
from suite_server.admin.tenants import ActionFailed
from suite_server.jobs import runner as job_runner
from suite_server.jobs.queues import AT_ONCE, FAILED_PAGE
from suite_server.jobs.runner import RQRunner
from suite_server.jobs.tasks import QUEUES

FAILED_JOB = "/queues/failed/<job_id>"
MAX_PAGE = 100_000  # of failed jobs: 5 million deep


def _rq_or_404() -> RQRunner:
    """The RQ runner; without Redis there are no failed jobs to show or act on."""
    runner = job_runner.get_runner()
    if not isinstance(runner, RQRunner):
        abort(404)
    return runner


def _queue_or_404(queue: str) -> str:
    if queue not in QUEUES:
        abort(404)
    return queue


@bp.get("/queues")
def queue_list():
    page = int_arg("page", maximum=MAX_PAGE) or 1
    shown = queues.view(
        job_runner.get_runner(), arg("queue", QUEUES) or QUEUES[0], (page - 1) * FAILED_PAGE
    )
    return render_template(
        "admin/queues.html",
        view=shown,
        page=page,
        form=ActionForm(),
        worker_states=queues.WORKER_STATES,
        at_once=AT_ONCE,
    )


@bp.get(FAILED_JOB)
def queue_failed_job(job_id: str):
    try:
        job = queues.failed_job(_rq_or_404(), job_id)
    except queues.NotFailed:
        abort(404)
    except ActionFailed as exc:
        return render_template("admin/error.html", message=str(exc)), 503
    return render_template("admin/failed_job.html", job=job, form=ActionForm())


@bp.post(f"{FAILED_JOB}/retry")
def queue_failed_retry(job_id: str) -> Response:
    try:
        job = queues.retry(db.session(), actor(), _rq_or_404(), job_id)
    except queues.NotFailed:
        abort(404)
    except ActionFailed as exc:
        flash(str(exc), "error")
        return done("admin.queue_list")
    flash(_("Failed job %(id)s is queued again.", id=job.id), "ok")
    return done("admin.queue_list", queue=job.queue)


@bp.post(f"{FAILED_JOB}/delete")
def queue_failed_delete(job_id: str) -> Response:
    try:
        job = queues.delete(db.session(), actor(), _rq_or_404(), job_id)
    except queues.NotFailed:
        abort(404)
    except ActionFailed as exc:
        flash(str(exc), "error")
        return done("admin.queue_list")
    flash(_("Failed job %(id)s is deleted.", id=job.id), "ok")
    return done("admin.queue_list", queue=job.queue)


@bp.post("/queues/<queue>/failed/retry")
def queue_retry_all(queue: str) -> Response:
    return _all(queue, queues.retry_all, "retried")


@bp.post("/queues/<queue>/failed/delete")
def queue_delete_all(queue: str) -> Response:
    return _all(queue, queues.delete_all, "deleted")


def _all(queue: str, act, what: str) -> Response:
    runner = _rq_or_404()
    _queue_or_404(queue)
    try:
        count, left = act(db.session(), actor(), runner, queue)
    except ActionFailed as exc:
        flash(str(exc), "error")
        return done("admin.queue_list", queue=queue)
    if what == "retried":
        message = ngettext(
            "%(num)s failed job of queue %(queue)s is queued again.",
            "%(num)s failed jobs of queue %(queue)s are queued again.",
            count,
            queue=queue,
        )
    else:
        message = ngettext(
            "%(num)s failed job of queue %(queue)s is deleted.",
            "%(num)s failed jobs of queue %(queue)s are deleted.",
            count,
            queue=queue,
        )
    if left:
        message += " " + ngettext(
            "%(num)s is still failed: press the button again to go on.",
            "%(num)s are still failed: press the button again to go on.",
            left,
        )
    flash(message, "ok")
    return done("admin.queue_list", queue=queue)
