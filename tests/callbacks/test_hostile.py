"""Validly signed pushes whose content no platform sends: absurd numbers, over-long tenant ids,
a body in another encoding. Each gets a clear 4xx and leaves nothing behind (a 500 would be
retried by the platform forever), except an absurd ticket time, which is not believed."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from suite_server import db
from suite_server.crypto.msgcrypt import decode_aes_key, encrypt, sign
from suite_server.models import InboundEvent, Ticket
from tests import factories
from tests.callbacks import pushes

KEY = factories.AES_KEY
TOKEN = "QDG6eK"
COMMAND = "/callback/wecom/wwsuite/command"
LONG_ID = "ww" + "x" * 63  # 65 characters: longer than any corpid or appid


@pytest.fixture
def suite(app):
    return factories.wecom_app(db.session(), app_id="wwsuite", provider_corpid="wwprovider")


@pytest.fixture
def component(app):
    return factories.open_app(db.session(), app_id="wxcomponent")


def post(client, url, query, body):
    return client.post(url, query_string=query, data=body, content_type="text/xml")


def stored() -> tuple[int, int]:
    session = db.session()
    return (
        session.scalar(select(func.count()).select_from(InboundEvent)),
        session.scalar(select(func.count()).select_from(Ticket)),
    )


def signed(message: str, receive_id: str, timestamp: str, token: str = TOKEN):
    """A push signed over any `timestamp` text, as a holder of the token could send it."""
    encrypted = encrypt(decode_aes_key(KEY), message, receive_id)
    query = {
        "msg_signature": sign(token, timestamp, "77", encrypted),
        "timestamp": timestamp,
        "nonce": "77",
    }
    return query, f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"


@pytest.mark.parametrize("stamp", ["99999999999999999999", "253402300800", "²", "", "１２３"])
def test_a_ticket_with_an_absurd_push_time_is_kept_with_its_arrival_time(client, suite, stamp):
    """Not believed (it would stay "newest" until the year 10000, or breaks the clock), nor
    refused (the ticket is signed and needed): kept as pushed now, and the next ticket, pushed
    a second later, is the newest."""
    message = pushes.suite_ticket("wwsuite", "ABSURD", ts=0).replace(
        "<TimeStamp>0</TimeStamp>", f"<TimeStamp>{stamp}</TimeStamp>"
    )
    query, body = pushes.push("wecom", TOKEN, KEY, "wwsuite", message)
    answer = post(client, COMMAND, query, body)
    assert (answer.status_code, answer.data) == (200, b"success")
    [ticket] = db.session().scalars(select(Ticket)).all()
    assert abs(ticket.pushed_at.timestamp() - time.time()) < 5

    later = pushes.suite_ticket("wwsuite", "NEXT", ts=int(time.time()) + 1)
    query, body = pushes.push("wecom", TOKEN, KEY, "wwsuite", later)
    assert post(client, COMMAND, query, body).data == b"success"
    newest = db.session().scalars(select(Ticket).order_by(Ticket.pushed_at.desc())).first()
    assert newest.value == "NEXT"


def test_a_ticket_from_far_in_the_future_does_not_displace_newer_ones(client, suite):
    now = int(time.time())
    for value, ts in [("FUTURE", now + 86400 * 365), ("NEXT", now + 2)]:
        query, body = pushes.push(
            "wecom", TOKEN, KEY, "wwsuite", pushes.suite_ticket("wwsuite", value, ts)
        )
        assert post(client, COMMAND, query, body).data == b"success"
    newest = db.session().scalars(select(Ticket).order_by(Ticket.pushed_at.desc())).first()
    assert newest.value == "NEXT"


@pytest.mark.parametrize("timestamp", ["²", "１７００００００００", "99999999999999999999", "-1"])
def test_a_signed_query_timestamp_that_is_not_ascii_digits_is_400(client, suite, timestamp):
    query, body = signed(pushes.suite_ticket("wwsuite", "T"), "wwsuite", timestamp)
    answer = post(client, COMMAND, query, body)
    assert answer.status_code == 400, answer.data
    assert b"timestamp" in answer.data
    assert stored() == (0, 0)


def test_a_signed_query_timestamp_on_a_url_check_is_parsed_strictly(client, suite):
    encrypted = encrypt(decode_aes_key(KEY), "12345", "wwprovider")
    query = {
        "msg_signature": sign(TOKEN, "²", "1", encrypted),
        "timestamp": "²",
        "nonce": "1",
        "echostr": encrypted,
    }
    assert client.get(COMMAND, query_string=query).status_code == 400


@pytest.mark.parametrize(
    ("url", "platform", "receive_id", "message"),
    [
        (
            COMMAND,
            "wecom",
            "wwsuite",
            pushes.xml_of(
                {
                    "SuiteId": "wwsuite",
                    "AuthCorpId": LONG_ID,
                    "InfoType": "change_contact",
                    "TimeStamp": "1700000000",
                    "ChangeType": "create_user",
                }
            ),
        ),
        (COMMAND, "wecom", "wwsuite", pushes.order("wwsuite", "open_order", LONG_ID)),
        (
            "/callback/wecom/wwsuite/data",
            "wecom",
            "wwprovider",
            pushes.text_message(LONG_ID, "zhangsan", "hi", "1"),
        ),
        (
            "/callback/open/wxcomponent/auth",
            "open",
            "wxcomponent",
            pushes.xml_of(
                {
                    "AppId": "wxcomponent",
                    "CreateTime": "1700000000",
                    "InfoType": "unauthorized",
                    "AuthorizerAppid": LONG_ID,
                }
            ),
        ),
        (
            "/callback/open/wxcomponent/auth",
            "open",
            "wxcomponent",
            pushes.registration("wxcomponent", "notify_third_fasteregister", LONG_ID),
        ),
        (
            f"/callback/open/wxcomponent/msg/{LONG_ID}",
            "open",
            "wxcomponent",
            pushes.text_message("gh_x", "oUser", "hi", "2"),
        ),
    ],
)
def test_a_tenant_id_over_64_characters_is_400(
    client, suite, component, url, platform, receive_id, message
):
    token = TOKEN if platform == "wecom" else "AAAAA"
    query, body = pushes.push(platform, token, KEY, receive_id, message)
    answer = post(client, url, query, body)
    assert answer.status_code == 400, answer.data
    assert b"tenant id" in answer.data
    assert stored() == (0, 0)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "latin-1"])
def test_an_outer_body_that_is_not_utf8_is_400(client, suite, encoding):
    query, body = pushes.push(
        "wecom", TOKEN, KEY, "wwsuite", pushes.suite_ticket("wwsuite", "T"), to="wwsuite"
    )
    declared = f'<?xml version="1.0" encoding="{encoding}"?>' + body.replace("<AgentID>", "<Ä>")
    declared = declared.replace("</AgentID>", "</Ä>")
    answer = post(client, COMMAND, query, declared.encode(encoding))
    assert answer.status_code == 400, answer.data
    assert b"UTF-8" in answer.data
    assert stored() == (0, 0)
