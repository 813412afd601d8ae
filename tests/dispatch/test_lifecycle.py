"""Tenant lifecycle events through the sandbox over HTTP: every change of a tenant reaches the
Python handlers and the webhooks once, with the tenant as the token API shows it; written in the
change's transaction (a rolled-back change leaves none, a lost enqueue is swept), in order with
the tenant's messages, never carrying its credential."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from suite_server import db
from suite_server.admin import tenants as admin_tenants
from suite_server.db import utcnow
from suite_server.dispatch import webhooks
from suite_server.dispatch.webhooks import delivery as webhook_delivery
from suite_server.jobs import recovery
from suite_server.jobs import runner as job_runner
from suite_server.models import App, InboundEvent, Tenant, WebhookDelivery
from suite_server.processing import pipeline
from suite_server.tenants import events, lifecycle
from suite_server.tokens import service
from suite_server.tokens.service import TokenUnavailable
from tests.authorization.conftest import drain, push, query_of, tenant_of, wait_until
from tests.callbacks import pushes as wire
from tests.dispatch.conftest import Receiver
from tests.tokens.conftest import expire

INSTALL = {"wecom": "create_auth", "open": "authorized"}
CANCEL = {"wecom": "cancel_auth", "open": "unauthorized"}
CHANGE = {"wecom": "change_auth", "open": "updateauthorized"}


def lifecycle_events(app: App, tenant_id: str | None = None) -> list[InboundEvent]:
    db.session().expire_all()
    query = select(InboundEvent).where(
        InboundEvent.app_pk == app.id, InboundEvent.channel == events.CHANNEL
    )
    if tenant_id:
        query = query.where(InboundEvent.tenant_id == tenant_id)
    return list(db.session().scalars(query.order_by(InboundEvent.id)))


def kinds(app: App, tenant_id: str | None = None) -> list[str]:
    return [event.kind for event in lifecycle_events(app, tenant_id)]


def hooked(app: App, receiver: Receiver) -> None:
    receiver.secret = webhooks.configure_app(db.session(), app, url=receiver.url)
    db.session().commit()


def received(receiver: Receiver) -> list[dict]:
    """What the receiver got, in the order the deliveries were made (one chain per tenant)."""
    bodies = sorted(receiver.requests, key=lambda r: int(r.headers["X-Suite-Server-Delivery"]))
    assert all(r.verify_ok for r in bodies)
    return [json.loads(r.body) for r in bodies]


@pytest.fixture
def seen(handlers):
    """What a Python lifecycle handler was given, by kind."""
    calls: list = []

    @handlers.lifecycle()
    def every_change(message):
        calls.append(message)

    return calls


def test_an_install_by_push_reaches_handler_and_webhook_once(
    app, platform, either, receivers, seen
):
    receiver = receivers(200)
    hooked(either, receiver)
    push(platform, either, INSTALL[either.platform], tenant_id="t-life", name="Life Corp")
    drain(app)

    assert kinds(either) == ["tenant.authorized"]
    [event] = lifecycle_events(either)
    assert (event.status, event.tenant_id) == ("done", "t-life")
    [body] = received(receiver)
    assert body["kind"] == "tenant.authorized" and body["id"] == f"evt_{event.id}"
    assert (body["platform"], body["app_id"], body["tenant_id"]) == (
        either.platform,
        either.app_id,
        "t-life",
    )
    tenant = body["tenant"]
    assert tenant["tenant_id"] == "t-life" and tenant["name"] == "Life Corp"
    assert tenant["status"] == "active" and tenant["credential"] == "present"
    assert tenant["token_expires_at"] and "ref" in tenant and "auth_info" in tenant
    assert body["change"] == {"action": "authorized", "source": "push", "detail": {}}
    credential = tenant_of(either, "t-life").credential
    assert credential not in receiver.requests[0].body.decode()
    [message] = seen
    assert message.kind == "tenant.authorized" and message.tenant_id == "t-life"
    assert message.lifecycle["tenant"]["status"] == "active"


def test_page_and_push_of_one_install_make_one_authorized(app, platform, either, seen):
    """The push with the install's code arrives before the browser comes back (Open sends it by
    itself; WeCom's market push is sent here with the same code): one exchange, one
    tenant.authorized."""
    back = platform.approve_in_browser(platform.start_install(either), "t-both", "Both Ways")
    if either.platform == "wecom":
        code = query_of(back)["auth_code"]
        message = (
            f"<xml><SuiteId><![CDATA[{either.app_id}]]></SuiteId>"
            f"<AuthCode><![CDATA[{code}]]></AuthCode><InfoType><![CDATA[create_auth]]></InfoType>"
            f"<TimeStamp>1700000000</TimeStamp></xml>"
        )
        query, body = wire.push("wecom", either.token, either.aes_key, either.app_id, message)
        answer = requests.post(
            f"{platform.server}/callback/wecom/{either.app_id}/command",
            params=query,
            data=body,
            timeout=30,
        )
        assert answer.text == "success"
    platform.join()
    drain(app)
    response = requests.get(back, allow_redirects=False, timeout=30)
    assert response.status_code == 200, response.text
    drain(app)

    assert kinds(either, "t-both") == ["tenant.authorized"]
    assert [m.kind for m in seen] == ["tenant.authorized"]


def test_cancel_change_and_come_back(app, platform, either, receivers, seen):
    receiver = receivers(200)
    hooked(either, receiver)
    push(platform, either, INSTALL[either.platform], tenant_id="t-cycle")
    drain(app)
    if either.platform == "wecom":
        push(platform, either, "change_auth", tenant_id="t-cycle")
    else:
        push(platform, either, "updateauthorized", tenant_id="t-cycle")
    drain(app)
    push(platform, either, CANCEL[either.platform], tenant_id="t-cycle")
    drain(app)
    push(platform, either, INSTALL[either.platform], tenant_id="t-cycle")
    drain(app)

    assert kinds(either, "t-cycle") == [
        "tenant.authorized",
        "tenant.updated",
        "tenant.cancelled",
        "tenant.authorized",
    ]
    bodies = received(receiver)
    assert [b["kind"] for b in bodies] == kinds(either, "t-cycle")  # in order, per tenant
    cancelled = bodies[2]
    assert cancelled["tenant"]["status"] == "cancelled"
    assert cancelled["tenant"]["token_expires_at"] is None  # tokens dropped with it
    assert cancelled["change"]["source"] == "push"
    assert CANCEL[either.platform] in cancelled["change"]["detail"]["reason"]
    assert bodies[3]["change"]["action"] == "reauthorized"
    assert bodies[3]["change"]["detail"] == {"from": "cancelled"}
    # The cancellation reached the handler although the tenant is no longer active.
    assert [m.kind for m in seen][2] == "tenant.cancelled"


def test_needs_reauth_and_reactivation(app, platform, suite, seen):
    push(platform, suite, "create_auth", tenant_id="t-dead")
    drain(app)
    tenant = tenant_of(suite, "t-dead")
    expire(tenant)
    platform.control("faults", endpoint="get_corp_token", errcode=40084, count=1)
    with pytest.raises(TokenUnavailable):
        service.serve_tenant_token(db.session(), tenant)
    drain(app)
    admin_tenants.reactivate(db.session(), "alice", suite, tenant_of(suite, "t-dead"))
    db.session().commit()
    drain(app)

    assert kinds(suite, "t-dead") == [
        "tenant.authorized",
        "tenant.needs_reauth",
        "tenant.reactivated",
    ]
    dead, back = seen[1], seen[2]
    assert dead.lifecycle["tenant"]["status"] == "needs_reauth"
    assert "40084" in dead.lifecycle["change"]["detail"]["reason"]
    assert back.lifecycle["tenant"]["status"] == "active"
    assert back.lifecycle["change"] == {
        "action": "reactivated",
        "source": "admin",
        "detail": {"from": "needs_reauth", "by": "alice"},
    }


def test_a_rolled_back_change_leaves_no_event(app, either):
    session = db.session()
    tenant = Tenant(app_pk=either.id, tenant_id="t-undone", credential="c", status="active")
    session.add(tenant)
    session.commit()
    lifecycle.cancel_tenant(session, tenant, "admin", "changed my mind")
    session.rollback()
    session.commit()  # a later commit of the session enqueues nothing of the rolled-back one
    drain(app)
    assert kinds(either) == []
    assert tenant_of(either, "t-undone").status == "active"


def test_a_lost_enqueue_is_swept(app, either, seen, monkeypatch):
    """The change committed but its job never reached the queue (Redis away, the process killed
    after the commit): the event waits as pending and the sweep hands it over."""
    session = db.session()
    tenant = Tenant(app_pk=either.id, tenant_id="t-swept", credential="c", status="active")
    session.add(tenant)
    session.commit()

    def lost(*args, **kwargs):
        raise ConnectionError("redis away")

    monkeypatch.setattr(job_runner, "enqueue", lost)
    lifecycle.cancel_tenant(session, tenant, "admin", "gone")
    session.commit()
    monkeypatch.undo()
    drain(app)
    [event] = lifecycle_events(either)
    assert (event.kind, event.status) == ("tenant.cancelled", "pending") and seen == []

    later = utcnow() + pipeline.SWEEP_AFTER + timedelta(seconds=1)
    monkeypatch.setattr(recovery, "utcnow", lambda: later)
    assert pipeline.sweep() == 1
    drain(app)
    assert lifecycle_events(either)[0].status == "done"
    assert [m.kind for m in seen] == ["tenant.cancelled"]


def test_lifecycle_and_messages_share_the_tenants_chain(
    app, platform, suite, receivers, monkeypatch
):
    """The tenant.authorized delivery fails once: the tenant's first message waits for it, so the
    receiver learns of the tenant before it hears from it."""
    monkeypatch.setattr(webhook_delivery, "BACKOFF_BASE", 1.0)  # its retry comes 1-2 s later
    receiver = receivers(500, 200)
    hooked(suite, receiver)
    push(platform, suite, "create_auth", tenant_id="t-order")
    assert wait_until(lambda: len(receiver.requests) == 1)  # the tenant exists; refused once
    push(platform, suite, "change_contact", tenant_id="t-order", change_type="create_user")
    drain(app)

    arrived = [json.loads(r.body)["kind"] for r in receiver.requests]
    assert arrived == ["tenant.authorized", "tenant.authorized", "change_contact"]
    deliveries = db.session().scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    assert [d.status for d in deliveries] == ["delivered", "delivered"]


def test_lifecycle_handlers_cannot_be_synchronous(handlers):
    with pytest.raises(ValueError, match="sync"):
        handlers.lifecycle("tenant.authorized", sync=True)


def test_a_failed_lifecycle_handler_is_replayed(app, platform, suite, handlers):
    calls = []

    @handlers.lifecycle("tenant.authorized")
    def flaky(message):
        calls.append(message.event_id)
        if len(calls) == 1:
            raise RuntimeError("provisioning service down")

    push(platform, suite, "create_auth", tenant_id="t-replay")
    drain(app)
    [event] = lifecycle_events(suite)
    assert event.status == "failed" and "provisioning service down" in event.error

    pipeline.reprocess(event.id)
    drain(app)
    assert lifecycle_events(suite)[0].status == "done"
    assert calls == [event.id, event.id]
