"""Running one of the single-row commands on every failed row: `events reprocess --failed` and
`webhooks redeliver --failed` (docs/cli.md). Each row goes through the same code as the single
form, committed on its own, so an interrupted run is simply run again: what it already re-queued
is pending, no longer failed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import func, select

from suite_server import db
from suite_server.cli.progress import progress
from suite_server.jobs import runner as job_runner

# The forms click.DateTime reads; the time is UTC, like every stored time.
SINCE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"]


def bulk_options(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--failed, --app and --since, as both bulk forms take them."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(
            [
                click.option("--failed", "all_failed", is_flag=True, help=f"every failed {what}"),
                click.option("--app", "app_id", default=None, help="with --failed: only this app"),
                click.option(
                    "--since",
                    type=click.DateTime(SINCE_FORMATS),
                    default=None,
                    help="with --failed: only those since this UTC date or time",
                ),
            ]
        ):
            command = option(command)
        return command

    return decorate


def check_form(row_id: int | None, all_failed: bool, app_id: str | None, since: Any) -> None:
    """One of the two forms, whole: an id alone, or --failed with its filters."""
    if (row_id is None) == (not all_failed):
        raise click.ClickException("give either an id or --failed")
    if row_id is not None and (app_id is not None or since is not None):
        raise click.ClickException("--app and --since go with --failed")


def utc(since: datetime | None) -> datetime | None:
    return since.replace(tzinfo=UTC) if since is not None else None


class Outcome:
    """The ids listed, those queued again and those skipped."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.queued: list[int] = []
        self.skipped: list[int] = []


def run_all(ids: list[int], again: Callable[[int], object], label: str) -> Outcome:
    """`again(row_id)` for each id, with a progress bar; a row that changed since it was listed
    (gone, or no longer failed) is skipped. With the in-process job runner, waits up to a minute
    for what it queued (no worker runs it once the command exits; the server's sweep would)."""
    outcome = Outcome(ids)
    with progress(label) as on_progress:
        for done, row_id in enumerate(ids, start=1):
            try:
                again(row_id)
            except (LookupError, ValueError):
                db.session().rollback()
                outcome.skipped.append(row_id)
            else:
                outcome.queued.append(row_id)
            on_progress(done, len(ids))
    runner = job_runner.get_runner()
    if outcome.queued and isinstance(runner, job_runner.InProcessRunner):
        runner.drain(timeout=60)
    return outcome


def statuses(model: Any, ids: list[int]) -> str:
    """`delivered 3, failed 1`: where these rows are now, statuses in alphabetical order."""
    session = db.session()
    session.expire_all()
    counts: dict[str, int] = {}
    for start in range(0, len(ids), 500):  # a bounded IN list on either database
        chunk = ids[start : start + 500]
        query = select(model.status, func.count()).where(model.id.in_(chunk)).group_by(model.status)
        for status, count in session.execute(query):
            counts[status] = counts.get(status, 0) + count
    return ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))
