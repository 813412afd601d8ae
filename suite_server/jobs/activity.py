"""The periodic job that keeps the admin's charts current (ops/activity.py): every minute it
recounts the last two hours of activity, so a chart is at most a minute behind."""

from __future__ import annotations

from suite_server import db
from suite_server.jobs.tasks import task
from suite_server.ops import activity


@task("activity.fold", queue="low")
def fold() -> dict[str, int]:
    return activity.fold(db.session())
