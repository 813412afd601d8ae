"""Retention: `retention.prune` deletes what is past its kind's days (RETENTION_DAYS), in small
batches, and never an unresolved event, a pending delivery, or an event one of whose
deliveries is kept; the dashboard shows each table's rows and oldest row kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from suite_server import create_app, db
from suite_server.db import utcnow
from suite_server.errors import SettingsError
from suite_server.models import AuditEntry, InboundEvent, Ticket, WebhookAttempt, WebhookDelivery
from suite_server.processing import retention
from tests import factories


def days_ago(n: float):
    return utcnow() - timedelta(days=n)


def event(app, key: str, status: str, age: float) -> int:
    session = db.session()
    row = InboundEvent(
        app_pk=app.id,
        tenant_id="wwcorp1",
        channel="data",
        kind="text",
        dedupe_key=key,
        raw="<xml/>",
        payload="<xml/>",
        status=status,
        received_at=days_ago(age),
    )
    session.add(row)
    session.commit()
    return row.id


def delivery(app, event_pk: int, status: str, age: float) -> int:
    session = db.session()
    row = WebhookDelivery(
        event_pk=event_pk,
        app_pk=app.id,
        url=f"https://hooks.example.com/{event_pk}",
        body="{}",
        status=status,
        created_at=days_ago(age),
        window_started_at=days_ago(age),
    )
    session.add(row)
    session.flush()
    session.add(WebhookAttempt(delivery_pk=row.id, attempted_at=days_ago(age), error="x"))
    session.commit()
    return row.id


def ids(model) -> set[int]:
    db.session().expire_all()
    found = set(db.session().scalars(select(model.id)))
    db.session().rollback()
    return found


@pytest.fixture
def suite(app):
    return factories.wecom_app(db.session(), app_id="wwsuite")


def test_each_kind_goes_after_its_own_days_and_unresolved_rows_stay(app, suite):
    old_done = event(suite, "a", "done", 31)
    old_ignored = event(suite, "b", "ignored", 40)
    young_done = event(suite, "c", "done", 29)
    failed_month = event(suite, "d", "failed", 60)  # failed: kept for 90 days
    pending_month = event(suite, "e", "pending", 60)
    failed_old = event(suite, "f", "failed", 91)
    # A processed event whose delivery failed: kept while its delivery is (90 days).
    with_failed_delivery = event(suite, "g", "done", 45)
    kept_delivery = delivery(suite, with_failed_delivery, "failed", 45)
    # A processed event whose old delivery was delivered: both go, in the same run.
    with_delivered = event(suite, "h", "done", 35)
    gone_delivery = delivery(suite, with_delivered, "delivered", 35)
    # A pending delivery is never pruned, nor its event, however old.
    with_pending = event(suite, "i", "done", 200)
    pending_delivery = delivery(suite, with_pending, "pending", 200)

    counts = retention.prune()

    assert ids(InboundEvent) == {
        young_done,
        failed_month,
        pending_month,
        with_failed_delivery,
        with_pending,
    }
    assert {old_done, old_ignored, failed_old, with_delivered}.isdisjoint(ids(InboundEvent))
    assert ids(WebhookDelivery) == {kept_delivery, pending_delivery}
    assert gone_delivery not in ids(WebhookDelivery)
    assert len(ids(WebhookAttempt)) == 2  # the pruned delivery's attempt went with it
    assert counts["inbound_events"] == 4 and counts["webhook_deliveries"] == 1


def test_audit_and_tickets_and_zero_for_ever(app, suite):
    session = db.session()
    session.execute(
        insert(AuditEntry),
        [
            {"actor": "ops", "action": "login", "at": days_ago(400)},
            {"actor": "ops", "action": "login", "at": days_ago(10)},
        ],
    )
    session.execute(
        insert(Ticket),
        [
            {"app_pk": suite.id, "value": "t1", "value_hash": "1", "pushed_at": days_ago(3),
             "received_at": days_ago(3)},
            {"app_pk": suite.id, "value": "t2", "value_hash": "2", "pushed_at": utcnow(),
             "received_at": utcnow()},
        ],
    )  # fmt: skip
    session.commit()
    old = event(suite, "a", "done", 3000)

    app.config["RETENTION_DAYS"] = {**app.config["RETENTION_DAYS"], "events": 0}
    counts = retention.prune()

    assert counts["audit_entries"] == 1 and counts["tickets"] == 1
    assert db.session().scalar(select(func.count()).select_from(AuditEntry)) == 1
    assert db.session().scalar(select(Ticket.value)) == "t2"
    assert old in ids(InboundEvent)  # 0: processed events are kept for ever


def test_a_backlog_goes_in_batches_and_a_second_run_finds_nothing(app, suite, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 100)
    rows = [
        {
            "app_pk": suite.id,
            "channel": "data",
            "kind": "text",
            "dedupe_key": f"k{n}",
            "raw": "<xml/>",
            "payload": "<xml/>",
            "status": "done" if n % 10 else "failed",
            "received_at": days_ago(40 - n / 1000),
        }
        for n in range(1050)
    ]
    session = db.session()
    session.execute(insert(InboundEvent), rows)
    session.commit()
    young = event(suite, "young", "done", 1)

    assert retention.prune()["inbound_events"] == 945  # the failed tenth stays
    assert len(ids(InboundEvent)) == 105 + 1 and young in ids(InboundEvent)
    assert retention.prune()["inbound_events"] == 0


def test_an_event_resolved_meanwhile_is_not_deleted_on_an_old_reading(app, suite, monkeypatch):
    """The walk reads a batch, then deletes it with the condition checked again: an event
    re-processed between the two (now pending again) stays."""
    failed = event(suite, "a", "done", 40)
    real_execute = db.session().execute

    def reprocess_in_between(statement, *args, **kwargs):
        if getattr(statement, "is_delete", False):
            real_execute(
                InboundEvent.__table__.update()
                .where(InboundEvent.id == failed)
                .values(status="pending")
            )
        return real_execute(statement, *args, **kwargs)

    monkeypatch.setattr(db.session(), "execute", reprocess_in_between)
    assert retention.prune()["inbound_events"] == 0
    monkeypatch.undo()
    assert failed in ids(InboundEvent)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"evnts": 3}, "RETENTION_DAYS has no kind 'evnts'"),
        ({"audit": -1}, "RETENTION_DAYS\\['audit'\\] must be a whole number"),
        ({"audit": "a year"}, "must be a whole number"),
        ([30], "must be a JSON object"),
    ],
)
def test_bad_retention_settings_are_refused_in_one_line(tmp_path, value, message):
    with pytest.raises(SettingsError, match=message) as raised:
        create_app({"INSTANCE_PATH": str(tmp_path), "RETENTION_DAYS": value})
    assert "\n" not in str(raised.value)


def test_a_partial_setting_changes_only_what_it_names(tmp_path, monkeypatch):
    monkeypatch.setenv("SUITE_SERVER_RETENTION_DAYS", '{"audit": 730}')
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["RETENTION_DAYS"]["audit"] == 730
    assert app.config["RETENTION_DAYS"]["events"] == 30
