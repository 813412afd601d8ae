"""The fold's edges that need no platform: a push stored late in the previous hour is counted by
the next run within LATE, a run writes only the counts that changed, the first run counts the
last 30 days, and what is older than 35 days is pruned while newer counts stay.
(tests/admin/test_activity.py runs the whole path through the sandbox.)"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from suite_server import db
from suite_server.jobs import runner, schedule, tasks
from suite_server.models import ActivityCount, InboundEvent, TokenRefresh
from suite_server.ops import activity
from tests import factories

NOW = activity.hour_of(db.utcnow()) + timedelta(minutes=10)  # within LATE of the hour's start


def stored_push(app, at, n: int) -> None:
    db.session().add(
        InboundEvent(
            app_pk=app.id,
            tenant_id="wwcorp",
            channel="data",
            kind="text",
            dedupe_key=f"k{n}",
            raw="",
            payload="<xml/>",
            received_at=at,
        )
    )
    db.session().commit()


def counted(app, tenant_id: str = "") -> dict:
    rows = db.session().execute(
        select(ActivityCount.hour, ActivityCount.count).where(
            ActivityCount.app_pk == app.id,
            ActivityCount.tenant_id == tenant_id,
            ActivityCount.metric == "pushes",
        )
    )
    return {hour: n for hour, n in rows}


def test_late_pushes_backfill_and_pruning(app):
    session = db.session()
    suite = factories.wecom_app(session)
    stored_push(suite, NOW - timedelta(days=29, hours=20), 1)  # backfilled by the first run
    stored_push(suite, NOW - timedelta(days=31), 2)  # older than the 30 days: never counted
    activity.fold(session, NOW)
    month_ago = activity.hour_of(NOW - timedelta(days=29, hours=20))
    assert counted(suite) == {month_ago: 1}
    assert counted(suite, "wwcorp") == {month_ago: 1}

    # Stored after that run but stamped in the previous hour: the next run counts it.
    stored_push(suite, NOW - timedelta(minutes=50), 3)
    activity.fold(session, NOW)
    previous = activity.hour_of(NOW) - timedelta(hours=1)
    assert counted(suite) == {month_ago: 1, previous: 1}

    # Six days on: counts and refreshes older than 35 days by then go, newer ones stay.
    for days in (40, 1):
        session.add(
            TokenRefresh(app_pk=suite.id, tenant_id="", at=NOW - timedelta(days=days), ok=True)
        )
    session.commit()
    later = NOW + timedelta(days=6)
    activity.fold(session, later)
    assert counted(suite) == {previous: 1}
    assert [r.at for r in session.scalars(select(TokenRefresh))] == [NOW - timedelta(days=1)]


def test_the_fold_runs_every_minute_as_a_job(app):
    (entry,) = [e for e in schedule.SCHEDULE if e.task == "activity.fold"]
    assert entry.every == 60
    tasks.load()
    suite = factories.wecom_app(db.session())
    stored_push(suite, db.utcnow(), 1)
    runner.enqueue("activity.fold")
    assert runner.get_runner(app).drain(timeout=30)
    db.session().expire_all()
    assert sum(counted(suite).values()) == 1


def test_a_run_writes_only_what_changed_and_leaves_settled_hours_alone(app):
    session = db.session()
    suite = factories.wecom_app(session)
    for n in range(5):
        session.add(TokenRefresh(app_pk=suite.id, tenant_id=f"wwt{n}", at=NOW, ok=True))
    session.commit()
    assert activity.fold(session, NOW)["written"] == 6  # 5 tenants and the app's total
    assert activity.fold(session, NOW)["written"] == 0
    session.add(TokenRefresh(app_pk=suite.id, tenant_id="wwt0", at=NOW, ok=True))
    session.commit()
    assert activity.fold(session, NOW)["written"] == 2  # that tenant and the total
    hour = activity.hour_of(NOW)
    rows = session.execute(
        select(ActivityCount.tenant_id, ActivityCount.count).where(
            ActivityCount.metric == "refreshes", ActivityCount.hour == hour
        )
    )
    assert dict(rows.all()) == {"": 6, "wwt0": 2, "wwt1": 1, "wwt2": 1, "wwt3": 1, "wwt4": 1}

    # Later than LATE into the next hour, a row stamped in the previous one is not counted.
    later = hour + timedelta(hours=1) + activity.LATE + timedelta(minutes=1)
    stored_push(suite, hour + timedelta(minutes=59), 9)
    assert activity.fold(session, later)["written"] == 0
    assert counted(suite) == {}
