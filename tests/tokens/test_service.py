"""The token service against the sandbox over HTTP, on SQLite and PostgreSQL, with the row lease
and with the Redis lock: served while fresh, one upstream call per refresh across processes,
refresh tokens never lost, dead credentials given up, faults survived."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update

from suite_server import db
from suite_server.db import utcnow
from suite_server.jobs import attempts
from suite_server.jobs import runner as job_runner
from suite_server.models import AppToken, Tenant, TenantHistory, TenantToken, Ticket
from suite_server.tokens import app_tokens, locks, policy, service, store, tenant_tokens
from suite_server.tokens.service import TokenUnavailable
from tests.authorization.conftest import drain, history, miss_pushes, tenant_of
from tests.tokens.conftest import REFRESH, child_env, expire, install, token_row


@pytest.fixture(params=["row", "redis"])
def lock_kind(request, app) -> str:
    """The refresh lock: a lease on the token row (no Redis) or a Redis lock."""
    if request.param == "redis":
        app.config["REDIS_URL"] = request.getfixturevalue("redis_url")
    return request.param


def obtained_a_minute_ago(tenant: Tenant) -> None:
    """A token obtained just now is not refreshed again on request (STALE_DEBOUNCE)."""
    row = token_row(tenant)
    db.session().execute(
        update(TenantToken.__table__)
        .where(TenantToken.id == row.id)
        .values(obtained_at=row.obtained_at - timedelta(minutes=1))
    )
    db.session().commit()


def sandbox_tenant(platform, app, tenant_id: str) -> dict:
    tenants = requests.get(f"{platform.base}/sandbox/tenants", timeout=10).json()["tenants"]
    [found] = [t for t in tenants if t["app_id"] == app.app_id and t["tenant_id"] == tenant_id]
    return found


# -- serving -----------------------------------------------------------------------------------


def test_fresh_tokens_are_served_without_upstream_calls(app, platform, either, lock_kind):
    tenant = install(platform, either, "t-fresh")
    before = platform.calls()
    first = service.serve_tenant_token(db.session(), tenant)
    again = service.serve_tenant_token(db.session(), tenant)
    assert first.access_token == again.access_token == token_row(tenant).access_token
    assert first.expires_in() > 7000
    assert platform.calls() == before

    expire(tenant)
    renewed = service.serve_tenant_token(db.session(), tenant)
    assert platform.calls()[REFRESH[either.platform]] == before.get(REFRESH[either.platform], 0) + 1
    assert renewed.expires_in() > 7000 and token_row(tenant).version == first.version + 1


def test_min_remaining_is_capped_at_half_the_lifetime(app):
    now = utcnow()
    with app.app_context():  # TOKEN_MIN_REMAINING 300
        # An Open 7200 s token is served until 300 s remain; a 60 s token until 30 s remain; a
        # WeCom token (the same one until it expires) to its last LAST_SECONDS.
        for lifetime, same, left in ((7200, False, 300), (60, False, 30), (7200, True, 5)):
            end = now + timedelta(seconds=lifetime)
            assert policy.usable_until(now, end, same) == end - timedelta(seconds=left)


def test_refresh_times_spread_before_the_serving_margin():
    start = utcnow()
    end = start + timedelta(seconds=7200)
    times = [service.refresh_time(start, end, 300) for _ in range(2000)]
    offsets = sorted((t - start).total_seconds() for t in times)
    # Due in the last quarter of the useful life (6900 s), before the 300 s serving margin.
    assert offsets[0] >= 6900 - 1725 and offsets[-1] <= 6900
    assert offsets[-1] - offsets[0] > 1500  # spread, not all in the same second


def test_wecom_tokens_are_renewed_once_per_lifetime_across_expiry(
    app, platform, suite, monkeypatch
):
    """WeCom hands back the same corp token until it expires (wecom-suite.md §4): asking
    before then only costs a call. Asked every 20 s over three lifetimes, once 3 s before an
    expiry: one get_corp_token call per lifetime, and every token served works when used."""
    platform.control("settings", token_ttl=300)
    tenant = install(platform, suite, "wwacross")
    shift = timedelta()

    def advance(seconds: float) -> None:
        nonlocal shift
        shift += timedelta(seconds=seconds)
        platform.control("clock", advance=seconds)

    for module in (store, policy, app_tokens, tenant_tokens, locks):  # the token service's clock
        monkeypatch.setattr(module, "utcnow", lambda: utcnow() + shift)
    calls = platform.calls().get("get_corp_token", 0)
    seen, left, refused = set(), [], []
    for step in [20] * 14 + [17] + [20] * 14 + [20] * 15:  # 877 s; 283 s is 3 s before expiry
        advance(step)
        served = service.serve_tenant_token(db.session(), tenant)
        seen.add(served.access_token)
        left.append(served.expires_in(store.utcnow()))
        used = requests.post(
            f"{platform.base}/cgi-bin/message/send",
            params={"access_token": served.access_token},
            json={"touser": "@all", "msgtype": "text", "text": {"content": "hi"}},
            timeout=10,
        ).json()
        if used.get("errcode", 0):
            refused.append(used)

    assert refused == []
    assert min(left) >= service.LAST_SECONDS
    assert len(seen) == 3  # the install's token and two renewals (expiry at 300 s and 600 s)
    assert platform.calls()["get_corp_token"] - calls == 2


def test_stale_token_refresh_happens_once(app, platform, either, lock_kind):
    tenant = install(platform, either, "t-stale")
    seen = service.serve_tenant_token(db.session(), tenant).access_token
    obtained_a_minute_ago(tenant)
    calls = platform.calls().get(REFRESH[either.platform], 0)
    fresh = service.refresh_tenant_token(db.session(), tenant, seen)
    assert fresh.access_token != seen or either.platform == "wecom"  # WeCom hands back the same
    # A second caller that saw the same stale token gets the new one, with no upstream call.
    again = service.refresh_tenant_token(db.session(), tenant, seen)
    assert again.access_token == fresh.access_token
    assert platform.calls()[REFRESH[either.platform]] == calls + 1


def test_fifty_callers_in_two_processes_cause_one_refresh(
    app, platform, either, lock_kind, tmp_path
):
    tenant = install(platform, either, "t-crowd")
    expire(tenant)
    calls = platform.calls().get(REFRESH[either.platform], 0)
    go = tmp_path / "go"
    env = child_env(app)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.tokens.worker", "crowd", str(tenant.id), "25", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    go.touch()
    tokens = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        tokens += json.loads(out)
    assert len(tokens) == 50
    assert set(tokens) == {token_row(tenant).access_token}
    assert platform.calls()[REFRESH[either.platform]] == calls + 1


def test_a_slow_older_answer_never_overwrites_a_newer_token(app, platform, suite, monkeypatch):
    """The first refresher's lease runs out while the platform is slow; a second one refreshes;
    the first answer, arriving last, is dropped (compare-and-set on the version)."""
    monkeypatch.setattr(locks, "LEASE", 1)
    tenant = install(platform, suite, "t-slow")
    expire(tenant)
    platform.control("faults", endpoint="get_corp_token", delay=2.5, count=1)
    platform.control("tokens/invalidate", app_id=suite.app_id, tenant_id="t-slow")
    results = {}

    def slow():
        with app.app_context():
            mine = db.session().get(Tenant, tenant.id)
            results["slow"] = service.serve_tenant_token(db.session(), mine)

    thread = threading.Thread(target=slow)
    thread.start()
    # Once the slow one's lease is over, the next caller refreshes by itself.
    fast = None
    while fast is None:
        try:
            fast = service.serve_tenant_token(db.session(), tenant)
        except TokenUnavailable:
            continue
    thread.join()
    row = token_row(tenant)
    assert row.version == fast.version and row.access_token == fast.access_token
    assert results["slow"].access_token == fast.access_token  # it was handed the newer one
    assert platform.calls()["get_corp_token"] == 2


# -- app tokens and tickets --------------------------------------------------------------------


def test_refused_app_token_is_refreshed_once(app, platform, either):
    tenant = install(platform, either, "t-40001")
    service.serve_app_token(db.session(), db.session().merge(either))
    expire(tenant)
    platform.control("tokens/invalidate", app_id=either.app_id)  # the platform kills it early
    app_calls = platform.calls()
    fresh = service.serve_tenant_token(db.session(), tenant)
    assert fresh.expires_in() > 7000
    calls = platform.calls()
    app_endpoint = "get_suite_token" if either.platform == "wecom" else "api_component_token"
    assert calls[app_endpoint] == app_calls[app_endpoint] + 1
    assert calls[REFRESH[either.platform]] == app_calls.get(REFRESH[either.platform], 0) + 2
    assert tenant_of(either, "t-40001").status == "active"


def test_a_refused_ticket_falls_back_to_the_previous_one(app, platform, suite):
    platform.control("push", app_id=suite.app_id, kind="ticket")  # a second, newer ticket
    platform.control("faults", endpoint="get_suite_token", errcode=40085, count=1)
    token = service.serve_app_token(db.session(), suite)
    assert token.access_token and platform.calls()["get_suite_token"] == 2


def test_open_without_ticket_asks_the_platform_to_push(app, platform, component):
    db.session().execute(Ticket.__table__.delete())
    db.session().commit()
    miss_pushes(platform, component, True)  # the platform's pushes do not reach us
    for _ in range(2):
        with pytest.raises(TokenUnavailable) as missing:
            service.serve_app_token(db.session(), component)
        assert missing.value.code == "no_ticket" and missing.value.retryable
    assert platform.calls()["api_start_push_ticket"] == 1  # at most every 10 minutes
    platform.join()

    miss_pushes(platform, component, False)
    db.session().execute(
        update(component.__table__).values(
            ticket_push_requested_at=utcnow() - service.TICKET_REQUEST_EVERY
        )
    )  # ten minutes later
    db.session().commit()
    with pytest.raises(TokenUnavailable):
        service.serve_app_token(db.session(), component)
    assert platform.calls()["api_start_push_ticket"] == 2
    platform.join()  # this time the ticket arrives
    assert service.serve_app_token(db.session(), component).access_token


# -- refresh tokens ----------------------------------------------------------------------------


def strict(platform) -> None:
    platform.control("settings", strict_refresh=True)


def test_strict_rotation_over_many_refreshes_never_loses_the_tenant(app, platform, component):
    tenant = install(platform, component, "wxrotating")
    strict(platform)
    before = platform.calls()
    credentials = {tenant.credential}
    for _ in range(20):
        current = service.serve_tenant_token(db.session(), tenant).access_token
        obtained_a_minute_ago(tenant)
        service.refresh_tenant_token(db.session(), tenant, current)
        db.session().expire_all()
        tenant = tenant_of(component, "wxrotating")
        assert tenant.credential == sandbox_tenant(platform, component, "wxrotating")["credential"]
        credentials.add(tenant.credential)
    assert len(credentials) == 21 and tenant.status == "active"
    assert platform.calls()["api_authorizer_token"] == 20
    # Never needed a recovery.
    assert platform.calls()["api_get_authorizer_info"] == before["api_get_authorizer_info"]


def test_worker_killed_after_the_platform_rotated_loses_nothing(
    app, platform, component, monkeypatch
):
    tenant = install(platform, component, "wxkilled")
    strict(platform)
    stored = tenant.credential
    crashed = subprocess.run(
        [sys.executable, "-m", "tests.tokens.worker", "crash", str(tenant.id)],
        capture_output=True,
        text=True,
        env=child_env(app),
        timeout=60,
    )
    assert crashed.returncode == -9, crashed.stderr
    assert platform.calls()["api_authorizer_token"] == 1  # the platform rotated...
    assert tenant_of(component, "wxkilled").credential == stored  # ...and we never stored it
    assert sandbox_tenant(platform, component, "wxkilled")["credential"] != stored

    # The dead worker's lease ends (LEASE seconds later); the next refresh recovers the live
    # refresh token from the platform instead of giving the tenant up.
    later = utcnow() + timedelta(seconds=locks.LEASE + 1)
    monkeypatch.setattr(locks, "utcnow", lambda: later)
    fresh = service.refresh_tenant_token(db.session(), tenant, stale_token=None)
    tenant = tenant_of(component, "wxkilled")
    assert tenant.status == "active" and fresh.expires_in() > 7000
    assert tenant.credential == sandbox_tenant(platform, component, "wxkilled")["credential"]
    assert history(tenant)[-1] == ("credential_recovered", "token")
    assert platform.calls()["api_get_authorizer_info"] == 2  # the install's, and the recovery
    # And it keeps working.
    obtained_a_minute_ago(tenant)
    service.refresh_tenant_token(db.session(), tenant, fresh.access_token)
    assert tenant_of(component, "wxkilled").status == "active"


# -- giving up ---------------------------------------------------------------------------------


def test_dead_credentials_mark_the_tenant_needs_reauth(app, platform, either):
    tenant = install(platform, either, "t-dead")
    miss_pushes(platform, either, True)
    cancel = "cancel_auth" if either.platform == "wecom" else "unauthorized"
    assert not platform.control("push", app_id=either.app_id, kind=cancel, tenant_id="t-dead")[
        "delivered"
    ]
    miss_pushes(platform, either, False)
    expire(tenant)
    with pytest.raises(TokenUnavailable) as gone:
        service.serve_tenant_token(db.session(), tenant)
    assert gone.value.code == "tenant_needs_reauth" and gone.value.http_status == 409
    tenant = tenant_of(either, "t-dead")
    assert tenant.status == "needs_reauth" and tenant.status_reason
    assert token_row(tenant) is None
    assert history(tenant)[-1] == ("needs_reauth", "token")
    with pytest.raises(TokenUnavailable) as again:
        service.serve_tenant_token(db.session(), tenant)
    assert again.value.code == "tenant_needs_reauth"
    # No more refreshes: the sweep skips it.
    assert service.sweep()["tenants"] == 0


def test_busy_platform_never_gives_a_tenant_up(app, platform, suite, component, monkeypatch):
    """30% of refresh calls fail with HTTP 502 for a while; the background jobs retry with
    backoff; afterwards every token is fresh and no tenant was wrongly given up."""
    monkeypatch.setattr(attempts, "BACKOFF_BASE", 0.05)
    tenants = [install(platform, suite, f"wwbusy{n}") for n in range(6)]
    tenants += [install(platform, component, f"wxbusy{n}") for n in range(6)]
    for tenant in tenants:
        expire(tenant)
    for endpoint in REFRESH.values():
        platform.control("faults", endpoint=endpoint, http_status=502, rate=0.3)
    assert service.sweep()["tenants"] == 12
    drain(app)
    requests.delete(f"{platform.base}/sandbox/faults", timeout=10)
    service.sweep()
    drain(app)

    db.session().expire_all()
    now = utcnow()
    for tenant in tenants:
        assert (
            tenant_of(
                suite if tenant.tenant_id.startswith("ww") else component, tenant.tenant_id
            ).status
            == "active"
        )
        assert token_row(tenant).expires_at > now + timedelta(seconds=7000)
    assert (
        not db.session()
        .scalars(select(TenantHistory).where(TenantHistory.action == "needs_reauth"))
        .all()
    )


def test_sweep_enqueues_due_tokens_at_their_time(app, platform, suite):
    tenant = install(platform, suite, "t-sweep")
    assert service.sweep()["tenants"] == 0  # just obtained: not due
    row = token_row(tenant)
    version = row.version
    db.session().execute(
        update(TenantToken.__table__)
        .where(TenantToken.id == row.id)
        .values(refresh_at=utcnow() - timedelta(seconds=1))
    )
    db.session().commit()
    calls = platform.calls().get("get_corp_token", 0)
    assert service.sweep()["tenants"] == 1
    drain(app)
    renewed = token_row(tenant)
    assert renewed.version == version + 1 and renewed.refresh_at > utcnow()
    assert platform.calls()["get_corp_token"] == calls + 1
    app_row = db.session().scalar(select(AppToken).where(AppToken.app_pk == suite.id))
    assert app_row.refresh_at is not None


def test_refreshed_by_an_rq_worker(app, platform, component, redis_url):
    """With Redis, the sweep (from `suite-server cron`) enqueues and `suite-server worker`
    refreshes."""
    from rq import SimpleWorker

    tenant = install(platform, component, "wxrq")
    app.config["REDIS_URL"] = redis_url
    app.extensions["suite_server.jobs"] = job_runner.RQRunner(redis_url)
    expire(tenant)
    version = token_row(tenant).version
    assert service.sweep()["tenants"] == 1
    assert token_row(tenant).version == version  # enqueued, not run: the web process never waits
    job_runner.run_worker(app, burst=True, worker_class=SimpleWorker)
    assert token_row(tenant).version == version + 1
    assert token_row(tenant).expires_at > utcnow() + timedelta(seconds=7000)
