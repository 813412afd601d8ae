"""The bulk forms: `webhooks redeliver --failed` and `events reprocess --failed` send every failed
row again through the single form's code, filtered by app and time, and end with one line; the
two forms do not mix."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from suite_server import db
from suite_server.cli import cli
from suite_server.db import utcnow
from suite_server.dispatch import webhooks
from suite_server.models import InboundEvent, WebhookDelivery
from tests.authorization.conftest import drain, push, tenant_of
from tests.dispatch.test_webhooks import configured, stored_message


def run(runner, *args: str):
    return runner.invoke(cli, list(args))


def fail(*ids: int, days_ago: int = 0) -> None:
    """As the retry window's end leaves them (made `days_ago` days ago)."""
    values = {"status": "failed", "last_error": "HTTP 503", "next_attempt_at": None}
    if days_ago:
        values["created_at"] = utcnow() - timedelta(days=days_ago)
    db.session().execute(
        WebhookDelivery.__table__.update().where(WebhookDelivery.id.in_(ids)).values(**values)
    )
    db.session().commit()


def statuses(*ids: int) -> list[str]:
    db.session().expire_all()
    rows = db.session().scalars(
        select(WebhookDelivery.status)
        .where(WebhookDelivery.id.in_(ids))
        .order_by(WebhookDelivery.id)
    )
    return list(rows)


def test_failed_deliveries_are_sent_again_by_app_and_time(app, runner, receivers):
    ours, theirs = receivers(200), receivers(200)
    suite, other = configured(ours, app_id="wwbulksuite"), configured(theirs, app_id="wwother")
    recent = [webhooks.schedule(db.session(), stored_message(suite))[0] for _ in range(3)]
    old = webhooks.schedule(db.session(), stored_message(suite))[0]
    elsewhere = webhooks.schedule(db.session(), stored_message(other))[0]
    drain(app)
    fail(*recent[:2], elsewhere)
    fail(old, days_ago=3)
    since = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")

    result = run(
        runner, "webhooks", "redeliver", "--failed", "--app", suite.app_id, "--since", since
    )
    assert result.exit_code == 0, result.output
    assert result.output == "webhook deliveries redelivered: 2 of 2 failed; now delivered 2\n"
    assert statuses(*recent, old, elsewhere) == ["delivered"] * 3 + ["failed", "failed"]
    for delivery_id in recent[:2]:  # the same body again, under the same id
        sent = ours.bodies("X-Suite-Server-Delivery", delivery_id)
        assert len(sent) == 2 and sent[0] == sent[1]
    assert len(ours.bodies("X-Suite-Server-Delivery", recent[2])) == 1

    result = run(runner, "webhooks", "redeliver", "--failed")
    assert result.output == "webhook deliveries redelivered: 2 of 2 failed; now delivered 2\n"
    assert statuses(old, elsewhere) == ["delivered", "delivered"]
    assert len(theirs.bodies("X-Suite-Server-Delivery", elsewhere)) == 2

    result = run(runner, "webhooks", "redeliver", "--failed")
    assert (
        result.exit_code == 0 and result.output == "webhook deliveries redelivered: 0 of 0 failed\n"
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ([], "give either an id or --failed"),
        (["7", "--failed"], "give either an id or --failed"),
        (["7", "--app", "wwx"], "--app and --since go with --failed"),
        (["7", "--since", "2026-12-01"], "--app and --since go with --failed"),
        (["--failed", "--app", "nope"], "no app 'nope'"),
    ],
)
@pytest.mark.parametrize("command", [("webhooks", "redeliver"), ("events", "reprocess")])
def test_the_two_forms_do_not_mix(app, runner, command, args, error):
    result = run(runner, *command, *args)
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {error}"


def test_a_since_that_is_not_a_time_is_a_usage_error(app, runner):
    result = run(runner, "webhooks", "redeliver", "--failed", "--since", "yesterday")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "'yesterday' does not match the formats" in result.output


def test_failed_events_are_processed_again(app, platform, suite, runner):
    # The platform refuses the first two exchanges (in real life: fixed by an operator since).
    platform.control("faults", endpoint="get_permanent_code", errcode=40078, count=2)
    push(platform, suite, "create_auth", tenant_id="wwlater1")
    push(platform, suite, "create_auth", tenant_id="wwlater2")
    drain(app)
    failed = db.session().scalars(select(InboundEvent).where(InboundEvent.status == "failed"))
    assert len(list(failed)) == 2 and tenant_of(suite, "wwlater1") is None

    result = run(runner, "events", "reprocess", "--failed", "--app", suite.app_id)
    assert result.exit_code == 0, result.output
    assert result.output == "events reprocessed: 2 of 2 failed; now done 2\n"
    assert tenant_of(suite, "wwlater1").status == "active"
    assert tenant_of(suite, "wwlater2").status == "active"
    assert run(runner, "events", "reprocess", "--failed").output == (
        "events reprocessed: 0 of 0 failed\n"
    )
