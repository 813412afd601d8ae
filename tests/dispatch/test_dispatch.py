"""Tenant messages from the sandbox, over HTTP, to handlers: asynchronous and synchronous
handlers, passive replies checked with wechatpy, duplicates, failures, unknown and cancelled
tenants, per-tenant command pushes, the Open release test, handler modules from settings."""

from __future__ import annotations

import re
import sys
import time
from xml.etree import ElementTree

import pytest
import requests
from sqlalchemy import select
from wechatpy.crypto import WeChatCrypto as OpenCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto

from suite_server import db
from suite_server.dispatch import Message, TextReply, router
from suite_server.dispatch import handlers as dispatch
from suite_server.errors import SettingsError
from suite_server.models import InboundEvent
from tests.authorization.conftest import drain, push, tenant_of
from tests.callbacks import pushes as wire
from tests.conftest import make_app

INSTALL = {"wecom": "create_auth", "open": "authorized"}
RELEASE_ACCOUNT = "wx570bc396a51b8ff8"


def installed(app, platform, owner, tenant_id: str):
    push(platform, owner, INSTALL[owner.platform], tenant_id=tenant_id)
    drain(app)
    return tenant_of(owner, tenant_id)


def send(platform, owner, kind: str, **fields) -> dict:
    """A push the platform considers delivered, whatever the answer's body (a reply, maybe)."""
    result = platform.control("push", app_id=owner.app_id, kind=kind, **fields)
    assert result["delivered"], result
    return result


def events(kind: str) -> list[InboundEvent]:
    db.session().expire_all()
    return list(
        db.session().scalars(
            select(InboundEvent).where(InboundEvent.kind == kind).order_by(InboundEvent.id)
        )
    )


def decrypt_reply(owner, receive_id: str, body: str) -> dict[str, str]:
    """The passive reply as wechatpy reads it (an implementation independent of ours)."""
    signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", body).group(1)
    timestamp = re.search(r"<TimeStamp>(\d+)</TimeStamp>", body).group(1)
    nonce = re.search(r"<Nonce><!\[CDATA\[(.*?)\]\]>", body).group(1)
    crypto_class = WeComCrypto if owner.platform == "wecom" else OpenCrypto
    crypto = crypto_class(owner.token, owner.aes_key, receive_id)
    plaintext = crypto.decrypt_message(body, signature, timestamp, nonce)
    return {child.tag: child.text or "" for child in ElementTree.fromstring(plaintext)}


def test_text_and_event_messages_reach_their_handlers(app, platform, either, handlers):
    tenant = installed(app, platform, either, "t-msgs")
    seen: list[Message] = []
    handlers.message("text")(seen.append)
    handlers.event("subscribe")(seen.append)

    push(platform, either, "text", tenant_id="t-msgs", content="hello there", from_user="u1")
    push(platform, either, "event", tenant_id="t-msgs", event="subscribe", from_user="u1")
    drain(app)

    text, event = seen
    assert (text.platform, text.app.app_id, text.tenant.id) == (
        either.platform,
        either.app_id,
        tenant.id,
    )
    assert (text.msg_type, text.content, text.from_user) == ("text", "hello there", "u1")
    assert text.msg_id and text.create_time > 0 and text.fields["Content"] == "hello there"
    assert (event.msg_type, event.event, event.kind) == ("event", "subscribe", "event:subscribe")
    assert [e.status for e in events("text") + events("event:subscribe")] == ["done", "done"]


def test_the_most_specific_handler_wins(app, platform, suite, handlers):
    installed(app, platform, suite, "wwspecific")
    calls = []
    handlers.message()(lambda m: calls.append("any message"))
    handlers.message("text")(lambda m: calls.append("text"))
    handlers.message("text", platform="wecom", app_id=suite.app_id)(lambda m: calls.append("app"))
    handlers.message("text", tenant_id="wwspecific")(lambda m: calls.append("tenant"))
    handlers.message("text", tenant_id="wwother")(lambda m: calls.append("other tenant"))
    push(platform, suite, "text", tenant_id="wwspecific")
    drain(app)
    assert calls == ["tenant"]


def test_a_synchronous_reply_is_encrypted_and_signed(app, platform, either, handlers):
    installed(app, platform, either, "t-reply")

    @handlers.message("text", sync=True)
    def echo(message):
        return TextReply(f"echo: {message.content} <&>")

    sent = send(platform, either, "text", tenant_id="t-reply", content="ping", from_user="u9")
    receive_id = "t-reply" if either.platform == "wecom" else either.app_id
    reply = decrypt_reply(either, receive_id, sent["body"])
    assert reply["MsgType"] == "text" and reply["Content"] == "echo: ping <&>"
    assert reply["ToUserName"] == "u9"
    assert reply["FromUserName"] == re.search(
        r"<ToUserName><!\[CDATA\[(.*?)\]\]>", sent["payload"]
    ).group(1)
    assert abs(int(reply["CreateTime"]) - time.time()) < 60
    assert events("text")[0].status == "done"


def test_duplicates_dispatch_once(app, platform, suite, handlers):
    installed(app, platform, suite, "wwdupes")
    seen = []
    handlers.message("text")(seen.append)
    message = wire.text_message("wwdupes", "zhangsan", "once only", "8812345")
    query, body = wire.push("wecom", suite.token, suite.aes_key, "wwdupes", message)
    url = f"{platform.server}/callback/wecom/{suite.app_id}/data"
    for _ in range(3):  # the platform retries, re-encrypting each time
        query, body = wire.push("wecom", suite.token, suite.aes_key, "wwdupes", message)
        assert requests.post(url, params=query, data=body, timeout=10).text == "success"
    drain(app)
    assert len(seen) == 1 and len(events("text")) == 1


def test_a_failing_handler_marks_the_event_failed_and_still_answers_success(
    app, platform, either, handlers
):
    installed(app, platform, either, "t-fails")

    @handlers.message("text")
    def broken(message):
        raise RuntimeError("the ISV's bug")

    @handlers.event(sync=True)
    def broken_sync(message):
        raise ValueError("also broken")

    assert push(platform, either, "text", tenant_id="t-fails")["body"] == "success"
    assert push(platform, either, "event", tenant_id="t-fails", event="click")["body"] == "success"
    drain(app)
    [text], [event] = events("text"), events("event:click")
    assert text.status == "failed" and "RuntimeError" in text.error and "broken" in text.error
    assert event.status == "failed" and "also broken" in event.error


def test_a_slow_synchronous_handler_is_cut_off(app, platform, suite, handlers, monkeypatch):
    monkeypatch.setattr(dispatch, "SYNC_DEADLINE", 0.3)
    installed(app, platform, suite, "wwslow")

    @handlers.message("text", sync=True)
    def slow(message):
        time.sleep(1.5)
        return TextReply("too late")

    started = time.monotonic()
    sent = push(platform, suite, "text", tenant_id="wwslow")
    assert time.monotonic() - started < 1.2
    assert sent["body"] == "success"
    [event] = events("text")
    assert event.status == "failed" and "overran" in event.error


def test_unknown_and_cancelled_tenants_are_stored_not_dispatched(app, platform, either, handlers):
    seen = []
    handlers.message()(seen.append)
    installed(app, platform, either, "t-gone")
    cancel = "cancel_auth" if either.platform == "wecom" else "unauthorized"
    push(platform, either, cancel, tenant_id="t-gone")
    drain(app)
    # The corp / account still sends (the platform does not know we cancelled it here).
    if either.platform == "wecom":
        message = wire.text_message("t-gone", "zhangsan", "hi", "991")
        query, body = wire.push("wecom", either.token, either.aes_key, "t-gone", message)
        url = f"{platform.server}/callback/wecom/{either.app_id}/data"
    else:
        message = wire.text_message("gh_unknown", "oUser", "hi", "992")
        query, body = wire.push("open", either.token, either.aes_key, either.app_id, message)
        url = f"{platform.server}/callback/open/{either.app_id}/msg/wxneverseen"
    assert requests.post(url, params=query, data=body, timeout=10).text == "success"
    drain(app)
    [event] = events("text")
    assert event.status == "ignored" and ("cancelled" in event.error or "no tenant" in event.error)
    assert seen == []


def test_per_tenant_command_pushes_reach_info_handlers(app, platform, suite, handlers):
    installed(app, platform, suite, "wwcontacts")
    seen = []
    handlers.info("change_contact")(seen.append)
    platform.control(
        "push",
        app_id=suite.app_id,
        kind="change_contact",
        tenant_id="wwcontacts",
        change_type="create_user",
    )
    drain(app)
    [message] = seen
    assert message.info_type == "change_contact" and message.fields["ChangeType"] == "create_user"
    assert message.tenant.tenant_id == "wwcontacts"


# -- the Open Platform release test --------------------------------------------------------------


def test_release_check_cases_pass_with_no_handler(app, platform, component, handlers):
    installed(app, platform, component, RELEASE_ACCOUNT)

    sent = send(platform, component, "event", tenant_id=RELEASE_ACCOUNT, event="LOCATION")
    assert decrypt_reply(component, component.app_id, sent["body"])["Content"] == (
        "LOCATIONfrom_callback"
    )
    tester = "ozy4qt5QUADNXORxCVipKMV9dss0"
    sent = send(
        platform,
        component,
        "text",
        tenant_id=RELEASE_ACCOUNT,
        content="TESTCOMPONENT_MSG_TYPE_TEXT",
        from_user=tester,
    )
    reply = decrypt_reply(component, component.app_id, sent["body"])
    assert reply["Content"] == "TESTCOMPONENT_MSG_TYPE_TEXT_callback"
    assert reply["ToUserName"] == tester

    # The API case: answer empty now, then send "<code>_from_api" through the API.
    [fresh] = platform.control(
        "tenants/bulk", app_id=component.app_id, count=1, prefix="wxreleasecode"
    )["tenants"]
    code = fresh["auth_code"]
    sent = push(
        platform,
        component,
        "text",
        tenant_id=RELEASE_ACCOUNT,
        content=f"QUERY_AUTH_CODE:{code}",
        from_user="oTester",
    )
    assert sent["body"] == "success"
    drain(app)
    messages = requests.get(f"{platform.base}/sandbox/messages", timeout=10).json()["messages"]
    assert any(m.get("touser") == "oTester" and f"{code}_from_api" in str(m) for m in messages), (
        messages
    )


def test_release_check_can_be_turned_off(app, platform, component, handlers):
    app.config["RELEASE_CHECK"] = False
    installed(app, platform, component, RELEASE_ACCOUNT)
    sent = push(platform, component, "event", tenant_id=RELEASE_ACCOUNT, event="LOCATION")
    assert sent["body"] == "success"


# -- handler modules from settings ---------------------------------------------------------------


def test_handler_modules_named_in_settings_are_loaded(app, platform, suite, handlers, tmp_path):
    sys.modules.pop("examples.handlers", None)
    configured = make_app(tmp_path, app.config["DATABASE_URL"], HANDLERS=["examples.handlers"])
    assert configured.config["HANDLERS"] == ["examples.handlers"]
    assert any(r.fn.__module__ == "examples.handlers" for r in router.routes)
    installed(app, platform, suite, "wwexample")
    sent = send(platform, suite, "text", tenant_id="wwexample", content="ping")
    assert decrypt_reply(suite, "wwexample", sent["body"])["Content"] == "pong"
    sys.modules.pop("examples.handlers", None)


def test_a_missing_handler_module_is_a_one_line_error(app, tmp_path):
    with pytest.raises(SettingsError) as failed:
        make_app(tmp_path, app.config["DATABASE_URL"], HANDLERS="no_such_module.handlers")
    assert str(failed.value).startswith("HANDLERS: cannot import 'no_such_module.handlers'")
