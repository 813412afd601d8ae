"""Authorization pushes processed from the stored event through the job runner, against the sandbox
over HTTP: installs by push alone, the redirect and the push racing, cancel and re-authorize,
upstream faults retried, failures visible and re-runnable, and RQ as the runner."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from rq import SimpleWorker
from sqlalchemy import select

from suite_server import db
from suite_server.authorization import flow
from suite_server.cli import cli
from suite_server.db import utcnow
from suite_server.jobs import attempts
from suite_server.jobs import runner as job_runner
from suite_server.models import App, AuthCodeClaim, InboundEvent, Tenant, TenantToken
from suite_server.processing import pipeline
from suite_server.protocol import xml
from suite_server.tokens.app_tokens import app_token
from suite_server.upstream import api_for
from tests.authorization.conftest import drain, history, push, query_of, tenant_of
from tests.callbacks import pushes as wire

EXCHANGE = {"wecom": "get_permanent_code", "open": "api_query_auth"}
INSTALL = {"wecom": "create_auth", "open": "authorized"}
CANCEL = {"wecom": "cancel_auth", "open": "unauthorized"}


@pytest.fixture(params=["wecom", "open"])
def either(request) -> App:
    """The suite or the component, each test running once per platform."""
    return request.getfixturevalue("suite" if request.param == "wecom" else "component")


@pytest.fixture
def fast_retries(monkeypatch):
    """Backoff in tenths of a second instead of tens of seconds (time, not the network)."""
    monkeypatch.setattr(attempts, "BACKOFF_BASE", 0.1)


def events_of(app: App, kind: str) -> list[InboundEvent]:
    db.session().expire_all()
    return list(
        db.session().scalars(
            select(InboundEvent)
            .where(InboundEvent.app_pk == app.id, InboundEvent.kind == kind)
            .order_by(InboundEvent.id)
        )
    )


def token_of(tenant: Tenant) -> TenantToken | None:
    return db.session().scalar(select(TenantToken).where(TenantToken.tenant_pk == tenant.id))


def test_install_by_push_only(app, platform, either):
    sent = push(platform, either, INSTALL[either.platform], tenant_id="tenant-push", name="By Push")
    drain(app)

    tenant = tenant_of(either, "tenant-push")
    assert tenant is not None and tenant.status == "active" and tenant.name == "By Push"
    assert tenant.credential and sent["auth_code"] != tenant.credential
    assert token_of(tenant).access_token
    assert history(tenant) == [("authorized", "push")]
    [event] = events_of(either, INSTALL[either.platform])
    assert (event.status, event.attempts, event.error) == ("done", 1, None)
    assert platform.calls()[EXCHANGE[either.platform]] == 1


def test_redirect_and_push_at_the_same_moment_give_one_tenant(app, platform, either):
    """The browser comes back with the code while a push with the same code is processed: one
    exchange, one tenant, one history row, whichever wins."""
    # The first exchange is slow, so the second caller surely arrives while it is in flight.
    platform.control("faults", endpoint=EXCHANGE[either.platform], delay=0.5, count=1)
    page = platform.start_install(either)
    back = platform.approve_in_browser(page, "tenant-race", "Race")
    code = query_of(back)["auth_code"]
    results: dict[str, object] = {}

    def browser():
        results["redirect"] = requests.get(back, allow_redirects=False, timeout=30)

    def push_with_same_code():
        if either.platform == "open":
            return  # the sandbox's approval pushes `authorized` with this code by itself
        message = (
            f"<xml><SuiteId><![CDATA[{either.app_id}]]></SuiteId>"
            f"<AuthCode><![CDATA[{code}]]></AuthCode><InfoType><![CDATA[create_auth]]></InfoType>"
            f"<TimeStamp>1700000000</TimeStamp></xml>"
        )
        query, body = wire.push("wecom", either.token, either.aes_key, either.app_id, message)
        results["push"] = requests.post(
            f"{platform.server}/callback/wecom/{either.app_id}/command",
            params=query,
            data=body,
            timeout=30,
        )

    threads = [threading.Thread(target=browser), threading.Thread(target=push_with_same_code)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    platform.join()  # the sandbox's background pushes (Open `authorized`)
    drain(app)

    assert results["redirect"].status_code == 200, results["redirect"].text
    if "push" in results:
        assert results["push"].text == "success"
    [tenant] = db.session().scalars(select(Tenant).where(Tenant.app_pk == either.id)).all()
    assert tenant.tenant_id == "tenant-race" and tenant.status == "active"
    assert len(history(tenant)) == 1
    [event] = events_of(either, INSTALL[either.platform])
    assert event.status == "done"
    assert platform.calls()[EXCHANGE[either.platform]] == 1


def test_cancel_then_authorize_again(app, platform, either):
    push(platform, either, INSTALL[either.platform], tenant_id="tenant-back")
    drain(app)
    first = tenant_of(either, "tenant-back")
    old_credential = first.credential

    push(platform, either, CANCEL[either.platform], tenant_id="tenant-back")
    drain(app)
    cancelled = tenant_of(either, "tenant-back")
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    assert token_of(cancelled) is None  # tokens dropped: nothing left to refresh

    push(platform, either, INSTALL[either.platform], tenant_id="tenant-back")
    drain(app)
    back = tenant_of(either, "tenant-back")
    assert back.id == first.id and back.status == "active"
    assert back.credential and back.credential != old_credential
    assert token_of(back).access_token
    assert history(back) == [
        ("authorized", "push"),
        ("cancelled", "push"),
        ("reauthorized", "push"),
    ]


def test_cancel_for_an_unknown_tenant_is_ignored(app, platform, suite):
    platform.control("push", app_id=suite.app_id, kind="create_auth", tenant_id="tenant-gone")
    drain(app)
    db.session().execute(Tenant.__table__.delete())  # as if it had been installed elsewhere
    db.session().commit()
    push(platform, suite, "cancel_auth", tenant_id="tenant-gone")
    drain(app)
    assert events_of(suite, "cancel_auth")[0].status == "ignored"


def test_change_auth_and_updateauthorized_reread_the_authorization(app, platform, either):
    push(platform, either, INSTALL[either.platform], tenant_id="tenant-change")
    drain(app)
    before = tenant_of(either, "tenant-change")
    old_credential = before.credential
    kind = "change_auth" if either.platform == "wecom" else "updateauthorized"
    push(platform, either, kind, tenant_id="tenant-change")
    drain(app)
    after = tenant_of(either, "tenant-change")
    assert after.status == "active"
    assert history(after)[-1] == ("auth_changed", "push")
    assert events_of(either, kind)[0].status == "done"
    if either.platform == "open":
        # A new authorization code: the new refresh token replaces the old, which is dead now.
        assert after.credential != old_credential
        assert platform.calls()["api_query_auth"] == 2
    else:
        assert platform.calls()["get_auth_info"] == 1


def test_upstream_fault_during_the_exchange_is_retried(app, platform, either, fast_retries):
    platform.control("faults", endpoint=EXCHANGE[either.platform], errcode=-1, count=2)
    push(platform, either, INSTALL[either.platform], tenant_id="tenant-retry")
    drain(app)

    tenant = tenant_of(either, "tenant-retry")
    assert tenant is not None and tenant.status == "active" and tenant.credential
    [event] = events_of(either, INSTALL[either.platform])
    assert (event.status, event.attempts) == ("done", 3)
    assert platform.calls()[EXCHANGE[either.platform]] == 3


def test_a_refused_code_fails_the_event_and_can_be_run_again(app, platform, either, runner):
    refused = {"wecom": 40078, "open": 61009}[either.platform]
    platform.control("faults", endpoint=EXCHANGE[either.platform], errcode=refused, count=1)
    push(platform, either, INSTALL[either.platform], tenant_id="tenant-later")
    drain(app)

    [event] = events_of(either, INSTALL[either.platform])
    assert event.status == "failed" and f"errcode {refused}" in event.error
    assert tenant_of(either, "tenant-later") is None
    listed = runner.invoke(cli, ["events", "list", "--status", "failed"])
    assert str(event.id) in listed.output

    # The fault was a one-off (in real life: an operator fixed the cause); run it again.
    result = runner.invoke(cli, ["events", "reprocess", str(event.id)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"event {event.id}: done"
    assert tenant_of(either, "tenant-later").status == "active"
    again = runner.invoke(cli, ["events", "reprocess", str(event.id + 1000)])
    assert again.exit_code == 1 and again.output.startswith("Error: no event")


def test_retries_spent_mark_the_event_failed(app, platform, suite, fast_retries, monkeypatch):
    monkeypatch.setattr(pipeline, "RETRIES", 2)
    platform.control("faults", endpoint="get_permanent_code", errcode=-1)
    push(platform, suite, "create_auth", tenant_id="tenant-down")
    drain(app)
    [event] = events_of(suite, "create_auth")
    assert event.status == "failed" and "errcode -1" in event.error
    assert event.attempts == 3
    assert tenant_of(suite, "tenant-down") is None


def test_processed_by_an_rq_worker(app, platform, component, redis_url):
    """With Redis, the web process only enqueues; `suite-server worker` does the exchange. A
    job lost with Redis is re-enqueued by the sweep."""
    app.extensions["suite_server.jobs"] = job_runner.RQRunner(redis_url)
    push(platform, component, "authorized", tenant_id="tenant-rq")
    [event] = events_of(component, "authorized")
    assert event.status == "pending"  # answered, not yet processed: no worker has run
    assert tenant_of(component, "tenant-rq") is None

    job_runner.run_worker(app, burst=True, worker_class=SimpleWorker)
    assert tenant_of(component, "tenant-rq").status == "active"
    assert events_of(component, "authorized")[0].status == "done"

    # A push whose job was lost (Redis flushed before a worker ran it) stays pending...
    push(platform, component, "authorized", tenant_id="tenant-lost")
    job_runner.RQRunner(redis_url).connection.flushdb()
    job_runner.run_worker(app, burst=True, worker_class=SimpleWorker)
    lost = events_of(component, "authorized")[-1]
    assert lost.status == "pending"
    # ...until the sweep finds it old enough and enqueues it again.
    assert pipeline.sweep() == 0  # younger than SWEEP_AFTER: maybe still on its way
    db.session().execute(
        InboundEvent.__table__.update()
        .where(InboundEvent.id == lost.id)
        .values(received_at=lost.received_at - pipeline.SWEEP_AFTER)
    )
    db.session().commit()
    assert pipeline.sweep() == 1
    job_runner.run_worker(app, burst=True, worker_class=SimpleWorker)
    assert tenant_of(component, "tenant-lost").status == "active"


def test_a_code_spent_by_a_worker_that_died_is_recovered(app, platform, component, monkeypatch):
    """A worker died after api_query_auth answered and before it stored the refresh token (the
    soak killed one there): the code is spent and its claim left behind. The push's retry takes
    the claim over, is refused 61009, and gets the refresh token back from
    api_get_authorizer_info. Before, the event failed and the account was lost until the daily
    reconcile."""
    monkeypatch.setattr(attempts, "BACKOFF_BASE", 4.0)  # the retry comes 2-4 s later
    platform.control("faults", endpoint="api_query_auth", errcode=-1, count=1)
    push(platform, component, "authorized", tenant_id="wxdied", name="Died Midway")

    # The busy try leaves its claim as a worker that died there leaves one once its lease has
    # run out: held, without a tenant or an error, takeable.
    def claimed_at():
        found = db.session().scalar(
            select(AuthCodeClaim.claimed_at).where(AuthCodeClaim.app_pk == component.id)
        )
        db.session().rollback()
        return found

    deadline = time.monotonic() + 10
    while claimed_at() is None or claimed_at() > utcnow() - flow.CLAIM_LEASE:
        assert time.monotonic() < deadline, "the first try did not leave its claim"
        time.sleep(0.05)
    [event] = events_of(component, "authorized")
    code = xml.parse(event.payload)["AuthorizationCode"]

    # What the worker did before it died: it spent the code.
    session = db.session()
    api = api_for("open", app.config)
    spent = api.query_auth(app_token(session, component, api), component.app_id, code)
    session.commit()

    drain(app)
    tenant = tenant_of(component, "wxdied")
    assert tenant is not None and tenant.status == "active" and tenant.name == "Died Midway"
    assert tenant.credential == spent["authorizer_refresh_token"]
    assert token_of(tenant) is not None and token_of(tenant).access_token
    assert [e.status for e in events_of(component, "authorized")] == ["done"]
    assert platform.calls()["api_query_auth"] == 3  # busy, the dead worker's, the refused retry


def test_a_code_spent_before_a_busy_answer_is_recovered_by_the_retry(
    app, platform, component, fast_retries
):
    """api_query_auth answered (the code spent) and api_get_authorizer_info, the exchange's
    second call, was busy: the retry is refused 61009 and recovers the refresh token. Before,
    the claim was freed, the retry made a new one and the event failed."""
    platform.control("faults", endpoint="api_get_authorizer_info", errcode=-1, count=1)
    push(platform, component, "authorized", tenant_id="wxhalf", name="Half Done")
    drain(app)
    tenant = tenant_of(component, "wxhalf")
    assert tenant is not None and tenant.status == "active" and tenant.name == "Half Done"
    assert tenant.credential and token_of(tenant) is not None
    [event] = events_of(component, "authorized")
    assert (event.status, event.attempts) == ("done", 2)
    assert platform.calls()["api_query_auth"] == 2  # the one that spent it, the refused retry
