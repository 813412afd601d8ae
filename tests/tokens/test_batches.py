"""The sweep hands due tenant tokens out in batches (tokens/tasks.py): each token to one batch
however many sweeps run, again once it is due again; a batch refreshes its tenants together,
each with one upstream call, so the platform's latency is waited out once, not once per tenant."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import update

from suite_server import db, invalidations
from suite_server.db import utcnow
from suite_server.models import TenantToken
from suite_server.tokens import service, store, tasks
from tests.authorization.conftest import drain
from tests.tokens.conftest import expire, install, token_row


def test_a_due_token_is_handed_to_one_batch_until_it_is_due_again(app, platform, suite):
    tenants = [install(platform, suite, f"wwbatch{n}") for n in range(3)]
    for tenant in tenants:
        expire(tenant)
    calls = platform.calls().get("get_corp_token", 0)
    # Inside a request the jobs wait for its end: the sweeps that follow find the tokens handed
    # out and their jobs not yet run.
    with app.test_request_context():
        assert service.sweep()["tenants"] == 3
        assert service.sweep()["tenants"] == 0
    drain(app)
    assert platform.calls()["get_corp_token"] == calls + 3
    assert service.sweep()["tenants"] == 0  # fresh now
    # The platform refused it (a caller said so through the token API): due again.
    row = token_row(tenants[0])
    table = TenantToken.__table__
    name = invalidations.name("tenant", tenants[0].id)
    assert store.expire(db.session(), table, table.c.id == row.id, row.version, name)
    assert service.sweep()["tenants"] == 1
    drain(app)
    assert platform.calls()["get_corp_token"] == calls + 4
    assert all(token_row(t).expires_at > utcnow() + timedelta(seconds=7000) for t in tenants)


def test_a_batch_lost_with_its_job_is_handed_out_again(app, platform, suite):
    tenant = install(platform, suite, "wwlostbatch")
    row = token_row(tenant)
    version = row.version

    def handed_out(ago: timedelta) -> None:
        """Due 10 minutes ago, handed to a batch `ago`, and that job never ran (Redis lost it)."""
        now = utcnow()
        db.session().execute(
            update(TenantToken.__table__)
            .where(TenantToken.id == row.id)
            .values(refresh_at=now - timedelta(minutes=10), queued_for=now - ago)
        )
        db.session().commit()

    handed_out(tasks.QUEUED_STALE - timedelta(minutes=1))
    assert service.sweep()["tenants"] == 0  # maybe only late
    handed_out(tasks.QUEUED_STALE + timedelta(minutes=1))
    assert service.sweep()["tenants"] == 1
    drain(app)
    assert token_row(tenant).version == version + 1


def test_sweeps_at_once_hand_each_token_out_once(app, platform, suite):
    """Two cron processes' sweeps at the same moment: the compare-and-set on `queued_for`."""
    tenants = [install(platform, suite, f"wwtwice{n}") for n in range(20)]
    for tenant in tenants:
        expire(tenant)
    handed: list[int] = []
    start = threading.Barrier(2)
    calls = platform.calls().get("get_corp_token", 0)

    def sweep() -> None:
        with app.test_request_context():  # its jobs run when both sweeps are done
            start.wait()
            handed.append(service.sweep()["tenants"])

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(handed) == 20
    drain(app)
    assert platform.calls()["get_corp_token"] == calls + 20


def test_a_batch_waits_out_the_platforms_latency_once(app, platform, suite, component):
    """At one second per call, ten tenants refreshed one after the other would take ten
    seconds; in one batch their calls are in flight together. One call each, even when a
    tenant is in the batch twice."""
    tenants = [
        install(platform, either, f"{either.app_id[:2]}slow{n}")
        for either in (suite, component)
        for n in range(5)
    ]
    for tenant in tenants:
        expire(tenant)
    app.config["REFRESH_CONCURRENCY"] = 20
    platform.control("settings", latency=1.0)
    try:
        before = platform.calls()
        pks = [t.id for t in tenants]
        outcomes = tasks.refresh_tenants(pks + pks[:3])
    finally:
        platform.control("settings", latency=0)
    assert outcomes == {"done": 13}
    after = platform.calls()
    for endpoint in ("get_corp_token", "api_authorizer_token"):
        assert after[endpoint] == before.get(endpoint, 0) + 5
    started = sorted(token_row(t).obtained_at for t in tenants)
    assert started[-1] - started[0] < timedelta(seconds=5)
    assert all(token_row(t).expires_at > utcnow() + timedelta(seconds=7000) for t in tenants)


def test_a_tenant_the_platform_refuses_for_now_is_tried_again(app, platform, suite, monkeypatch):
    from suite_server.jobs import attempts

    monkeypatch.setattr(attempts, "BACKOFF_BASE", 0.05)
    tenants = [install(platform, suite, f"wwretry{n}") for n in range(4)]
    for tenant in tenants:
        expire(tenant)
    platform.control("faults", endpoint="get_corp_token", http_status=502, count=2)
    outcomes = tasks.refresh_tenants([t.id for t in tenants])
    assert outcomes == {"done": 2, "retry": 2}
    drain(app)  # the retry job
    assert all(token_row(t).expires_at > utcnow() + timedelta(seconds=7000) for t in tenants)
