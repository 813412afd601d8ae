"""`suite-server events` and `suite-server webhooks`: what came in and what went out, newest
first, and running one of them again."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import click
from flask.cli import AppGroup

from suite_server import db
from suite_server.admin.events import event_page
from suite_server.cli import bulk
from suite_server.cli.common import find_app, needs_schema, table
from suite_server.dispatch import webhooks
from suite_server.jobs import runner as job_runner
from suite_server.models import InboundEvent, WebhookDelivery
from suite_server.models.events import STATUSES as EVENT_STATUSES
from suite_server.models.webhooks import STATUSES as WEBHOOK_STATUSES
from suite_server.ops import logs
from suite_server.processing import pipeline

Row = TypeVar("Row", InboundEvent, WebhookDelivery)


@click.group("events", cls=AppGroup)
def events_group() -> None:
    """Inbound events: every push as stored, newest first."""


@events_group.command("list")
@click.option("--app", "app_id", default=None, help="only this app's events")
@click.option("--status", type=click.Choice(EVENT_STATUSES), default=None)
@click.option("--kind", default=None, help="InfoType, MsgType or event:<Event>")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@needs_schema
def events_list(
    app_id: str | None, status: str | None, kind: str | None, limit: int, as_json: bool
) -> None:
    """List inbound events (never their payloads)."""
    page = event_page(db.session(), app_id=app_id, status=status, kind=kind, limit=limit)
    rows = [
        {
            "id": event.id,
            "app_id": owner,
            "tenant_id": event.tenant_id,
            "channel": event.channel,
            "kind": event.kind,
            "status": event.status,
            "attempts": event.attempts,
            "error": event.error,
            "received_at": db.iso(event.received_at),
        }
        for event, owner in page.rows
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table(
        ["ID", "APP ID", "TENANT", "CHANNEL", "KIND", "STATUS", "RECEIVED"],
        [
            [
                r["id"],
                r["app_id"],
                r["tenant_id"] or "-",
                r["channel"],
                r["kind"],
                r["status"],
                r["received_at"][:19],
            ]
            for r in rows
        ],
    )


@events_group.command("reprocess")
@click.argument("event_id", type=int, required=False)
@bulk.bulk_options("event")
@needs_schema
def events_reprocess(
    event_id: int | None, all_failed: bool, app_id: str | None, since: datetime | None
) -> None:
    """Run a failed event's processing again (in the background); --failed: every failed one."""
    bulk.check_form(event_id, all_failed, app_id, since)
    if event_id is None:
        if app_id is not None:
            find_app(db.session(), app_id)
        ids = pipeline.failed_ids(db.session(), app_id=app_id, since=bulk.utc(since))
        done = bulk.run_all(ids, pipeline.reprocess, "reprocessing events")
        _summary("events reprocessed", InboundEvent, done)
        return
    event = _run_again(lambda: pipeline.reprocess(event_id), InboundEvent, event_id, timeout=60)
    error = f" ({logs.printable(event.error)})" if event.error else ""
    click.echo(f"event {event_id}: {event.status}{error}")


@click.group("webhooks", cls=AppGroup)
def webhooks_group() -> None:
    """Webhook deliveries of tenant messages, newest first."""


@webhooks_group.command("list")
@click.option("--app", "app_id", default=None, help="only this app's deliveries")
@click.option("--status", type=click.Choice(WEBHOOK_STATUSES), default=None)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@needs_schema
def webhooks_list(app_id: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """List webhook deliveries (never their bodies)."""
    rows = webhooks.overview(db.session(), app_id=app_id, status=status, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table(
        [
            "ID",
            "APP ID",
            "TENANT",
            "EVENT",
            "STATUS",
            "ATTEMPTS",
            "CREATED",
            "RECEIVER",
            "URL",
            "LAST ERROR",
        ],
        [
            [
                r["id"],
                r["app_id"],
                r["tenant_id"] or "-",
                r["event_id"],
                r["status"],
                r["attempts"],
                r["created_at"][:19],
                r["receiver"] or "-",
                r["url"][:60],
                (r["last_error"] or "")[:40],
            ]
            for r in rows
        ],
    )


@webhooks_group.command("redeliver")
@click.argument("delivery_id", type=int, required=False)
@bulk.bulk_options("delivery")
@needs_schema
def webhooks_redeliver(
    delivery_id: int | None, all_failed: bool, app_id: str | None, since: datetime | None
) -> None:
    """Send a delivery again (same body, a new round of retries); --failed: every failed one."""
    bulk.check_form(delivery_id, all_failed, app_id, since)
    if delivery_id is None:
        if app_id is not None:
            find_app(db.session(), app_id)
        ids = webhooks.failed_ids(db.session(), app_id=app_id, since=bulk.utc(since))
        done = bulk.run_all(
            ids, lambda row_id: webhooks.redeliver(db.session(), row_id), "redelivering"
        )
        _summary("webhook deliveries redelivered", WebhookDelivery, done)
        return
    delivery = _run_again(
        lambda: webhooks.redeliver(db.session(), delivery_id),
        WebhookDelivery,
        delivery_id,
        timeout=30,
    )
    error = f" ({logs.printable(delivery.last_error)})" if delivery.last_error else ""
    click.echo(f"webhook delivery {delivery_id}: {delivery.status}{error}")


def _summary(what: str, model: type[Row], done: bulk.Outcome) -> None:
    """One line: how many went again (and were skipped), and where they are now."""
    skipped = f" ({len(done.skipped)} skipped)" if done.skipped else ""
    now = f"; now {bulk.statuses(model, done.queued)}" if done.queued else ""
    click.echo(f"{what}: {len(done.queued)} of {len(done.ids)} failed{skipped}{now}")


def _run_again(again: Callable[[], object], model: type[Row], row_id: int, timeout: float) -> Row:
    """Do `again` (which enqueues the job that runs the row again), wait for that job when it
    runs in this process, and return the row as the job left it."""
    try:
        again()
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    runner = job_runner.get_runner()
    if isinstance(runner, job_runner.InProcessRunner):
        runner.drain(timeout=timeout)  # no worker will run it once this command exits
    row = db.session().get(model, row_id)
    db.session().refresh(row)
    return row
