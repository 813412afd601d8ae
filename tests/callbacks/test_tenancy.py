"""Whose push it is: a MsgId de-duplicated per tenant, never per app; WeCom's empty receive id
of providers registered as individuals; and the platform's notices about a tenant (paid-app
orders, Open registrations) stored under that tenant and handed to handlers and webhooks."""

from __future__ import annotations

import json
import logging
import time

import pytest
import requests
from sqlalchemy import select

from suite_server import db
from suite_server.dispatch import webhooks
from suite_server.models import InboundEvent, Ticket
from tests.authorization.conftest import drain, push
from tests.callbacks import pushes as wire

INSTALL = {"wecom": "create_auth", "open": "authorized"}


def events() -> list[InboundEvent]:
    db.session().expire_all()
    return list(db.session().scalars(select(InboundEvent).order_by(InboundEvent.id)))


def tenant_events(kind: str) -> list[InboundEvent]:
    return [e for e in events() if e.kind == kind]


def post(platform, path: str, query: dict, body: str) -> requests.Response:
    return requests.post(f"{platform.server}{path}", params=query, data=body.encode(), timeout=10)


# -- item 1: a MsgId is unique within one corp or account only ---------------------------------


def test_the_same_msgid_from_two_tenants_is_two_messages(app, platform, either, handlers):
    """Real MsgIds are CreateTime in the high 32 bits plus a counter: two busy tenants of one app
    send the same one in the same second. Each is its tenant's message; a retry is still one."""
    for tenant_id in ("t-first", "t-second"):
        push(platform, either, INSTALL[either.platform], tenant_id=tenant_id)
    drain(app)
    seen = []
    handlers.message("text")(seen.append)
    msg_id = (int(time.time()) << 32) + 1
    for tenant_id in ("t-first", "t-second", "t-first"):  # the third: the platform retrying
        push(platform, either, "text", tenant_id=tenant_id, msg_id=msg_id, content=tenant_id)
    drain(app)

    assert sorted((m.tenant_id, m.content) for m in seen) == [
        ("t-first", "t-first"),
        ("t-second", "t-second"),
    ]
    stored = tenant_events("text")
    assert sorted(e.tenant_id for e in stored) == ["t-first", "t-second"]
    assert all(e.status == "done" for e in stored)


def test_a_message_without_msgid_is_keyed_on_its_tenant_too(app, platform, component, handlers):
    """Open events carry no MsgId: their key is the plaintext's hash, which names no tenant (the
    account is only in the URL), so it is scoped to the tenant as well."""
    for tenant_id in ("wxaccount1", "wxaccount2"):
        push(platform, component, "authorized", tenant_id=tenant_id)
    drain(app)
    seen = []
    handlers.event("subscribe")(seen.append)
    event = wire.xml_of(
        {
            "ToUserName": "gh_shared",
            "FromUserName": "oUser",
            "CreateTime": str(int(time.time())),
            "MsgType": "event",
            "Event": "subscribe",
        }
    )
    for tenant_id in ("wxaccount1", "wxaccount2", "wxaccount1"):
        query, body = wire.push("open", component.token, component.aes_key, component.app_id, event)
        answer = post(platform, f"/callback/open/{component.app_id}/msg/{tenant_id}", query, body)
        assert (answer.status_code, answer.text) == (200, "success")
    drain(app)
    assert sorted(m.tenant_id for m in seen) == ["wxaccount1", "wxaccount2"]


# -- item 2: providers registered as individuals ---------------------------------------------


def test_an_empty_receive_id_is_accepted_from_wecom_when_signed(app, platform, suite, caplog):
    """WeCom encrypts with an empty receive id for the apps of providers registered as
    individuals (doc/91144): their URL checks, tickets and corp messages all arrive so."""
    caplog.set_level(logging.INFO, logger="suite_server.callbacks")
    query = wire.url_check("wecom", suite.token, suite.aes_key, "", "8213091288")
    answer = requests.get(
        f"{platform.server}/callback/wecom/{suite.app_id}/command", params=query, timeout=10
    )
    assert (answer.status_code, answer.text) == (200, "8213091288")

    ticket = wire.suite_ticket(suite.app_id, "TICKET-OF-AN-INDIVIDUAL")
    query, body = wire.push("wecom", suite.token, suite.aes_key, "", ticket)
    answer = post(platform, f"/callback/wecom/{suite.app_id}/command", query, body)
    assert (answer.status_code, answer.text) == (200, "success")
    message = wire.text_message("wwcorp-individual", "zhangsan", "hi", "8765")
    query, body = wire.push("wecom", suite.token, suite.aes_key, "", message)
    answer = post(platform, f"/callback/wecom/{suite.app_id}/data", query, body)
    assert (answer.status_code, answer.text) == (200, "success")

    ticket_event, text_event = events()[-2:]
    assert (ticket_event.kind, ticket_event.receive_id, ticket_event.status) == (
        "suite_ticket",
        "",
        "done",
    )
    assert db.session().scalars(select(Ticket.value)).all().count("TICKET-OF-AN-INDIVIDUAL") == 1
    assert (text_event.kind, text_event.receive_id, text_event.tenant_id) == (
        "text",
        "",
        "wwcorp-individual",
    )
    logged = [r.getMessage() for r in caplog.records]
    assert sum("empty receive id" in line for line in logged) == 3, logged


def test_an_empty_receive_id_is_still_refused_from_open(app, platform, component):
    ticket = wire.component_ticket(component.app_id, "ticket@@@x")
    query, body = wire.push("open", component.token, component.aes_key, "", ticket)
    answer = post(platform, f"/callback/open/{component.app_id}/auth", query, body)
    assert answer.status_code == 403
    assert [e for e in events() if e.receive_id == ""] == []


# -- item 3: orders and registrations name their tenant ----------------------------------------


@pytest.mark.parametrize("info_type", list(wire.ORDER_FIELDS))
def test_order_pushes_are_stored_under_the_paying_corp_and_not_handed_on_raw(
    app, platform, suite, handlers, receivers, info_type
):
    """Stored under PaidCorpId, also for a corp that has not installed (an order may come first)
    and for one that has cancelled (a refund follows a cancellation); processed (billing/: the
    ISV hears of them as `order.*` / `edition.changed` lifecycle events), never dispatched as the
    raw push. The orders named here are unknown to the platform: get_order refuses them."""
    receiver = receivers(200)
    receiver.secret = webhooks.configure_app(db.session(), suite, url=receiver.url)
    db.session().commit()
    push(platform, suite, "create_auth", tenant_id="wwpaying")
    push(platform, suite, "create_auth", tenant_id="wwleaving")
    drain(app)
    push(platform, suite, "cancel_auth", tenant_id="wwleaving")
    drain(app)
    seen = []
    handlers.info(info_type)(seen.append)

    for corp in ("wwpaying", "wwnotyet", "wwleaving"):
        query, body = wire.push(
            "wecom",
            suite.token,
            suite.aes_key,
            suite.app_id,
            wire.order(suite.app_id, info_type, corp),
        )
        answer = post(platform, f"/callback/wecom/{suite.app_id}/command", query, body)
        assert (answer.status_code, answer.text) == (200, "success")
    drain(app)

    stored = tenant_events(info_type)
    status = "done" if info_type == "change_editon" else "failed"
    assert [(e.tenant_id, e.status) for e in stored] == [
        ("wwpaying", status),
        ("wwnotyet", status),
        ("wwleaving", status),
    ]
    if status == "failed":
        assert all("errcode 40058" in e.error for e in stored)
    assert seen == []
    bodies = [json.loads(r.body) for r in receiver.requests]
    assert [b for b in bodies if b["kind"] == info_type] == []
    edition = sorted(b["tenant_id"] for b in bodies if b["kind"] == "edition.changed")
    assert edition == (["wwleaving", "wwnotyet", "wwpaying"] if status == "done" else [])
    assert all(r.verify_ok for r in receiver.requests)


@pytest.mark.parametrize(
    "info_type", ["notify_third_fasteregister", "notify_third_fastregisterbetaapp"]
)
def test_registration_pushes_are_told_under_the_new_account(
    app, platform, component, handlers, receivers, info_type
):
    """The account the platform registered has not authorized yet: the push is stored under its
    appid and told all the same, as `registration.*` (failures too: the ISV must tell its
    customer). Registrations started elsewhere: docs/registrations.md."""
    receiver = receivers(200)
    receiver.secret = webhooks.configure_app(db.session(), component, url=receiver.url)
    db.session().commit()
    seen = []
    handlers.lifecycle("registration.succeeded")(seen.append)
    handlers.lifecycle("registration.failed")(seen.append)

    for appid, status in (("wxbrandnew", "0"), ("", "89249")):
        message = wire.registration(component.app_id, info_type, appid, status=status)
        query, body = wire.push(
            "open", component.token, component.aes_key, component.app_id, message
        )
        answer = post(platform, f"/callback/open/{component.app_id}/auth", query, body)
        assert (answer.status_code, answer.text) == (200, "success")
    drain(app)

    stored = tenant_events(info_type)
    told = [("", "registration.failed"), ("wxbrandnew", "registration.succeeded")]
    if info_type == "notify_third_fasteregister":
        # This success's auth_code is no code the platform issued: its exchange is refused, the
        # push fails with the errcode (and can be re-run); only the failure is told.
        assert [(e.tenant_id, e.status) for e in stored] == [
            ("wxbrandnew", "failed"),
            (None, "done"),
        ]
        assert "61009" in stored[0].error
        told = told[:1]
    else:
        assert [(e.tenant_id, e.status) for e in stored] == [("wxbrandnew", "done"), (None, "done")]
    assert sorted((m.tenant_id or "", m.kind) for m in seen) == told
    bodies = [json.loads(r.body) for r in receiver.requests]
    assert sorted((b["tenant_id"] or "", b["kind"]) for b in bodies) == told


def test_an_edition_push_for_an_unknown_corp_is_done_not_ignored(app, platform, suite):
    query, body = wire.push(
        "wecom",
        suite.token,
        suite.aes_key,
        suite.app_id,
        wire.order(suite.app_id, "change_editon", "wwsomecorp"),
    )
    assert post(platform, f"/callback/wecom/{suite.app_id}/command", query, body).ok
    drain(app)
    [event] = tenant_events("change_editon")
    assert (event.tenant_id, event.status) == ("wwsomecorp", "done")
    [told] = tenant_events("edition.changed")
    assert (told.tenant_id, told.channel, told.status) == ("wwsomecorp", "lifecycle", "done")


def test_tenant_messages_of_unknown_corps_are_still_not_dispatched(app, platform, suite, handlers):
    """Only the platform's notices bypass the tenant check: a corp's own message still needs an
    active tenant here."""
    seen = []
    handlers.info()(seen.append)
    change = wire.xml_of(
        {
            "SuiteId": suite.app_id,
            "AuthCorpId": "wwstranger",
            "InfoType": "change_contact",
            "TimeStamp": str(int(time.time())),
            "ChangeType": "create_user",
            "UserID": "u1",
        }
    )
    query, body = wire.push("wecom", suite.token, suite.aes_key, suite.app_id, change)
    assert post(platform, f"/callback/wecom/{suite.app_id}/command", query, body).ok
    drain(app)
    [event] = tenant_events("change_contact")
    assert (event.tenant_id, event.status) == ("wwstranger", "ignored") and seen == []
