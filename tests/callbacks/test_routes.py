"""The four callback URLs: accepted with the right receive id, refused with the wrong one,
stored once before `success`, and every bad input a 4xx that writes nothing."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from suite_server import db
from suite_server.models import InboundEvent, Ticket
from tests import factories
from tests.callbacks import pushes

KEY = factories.AES_KEY
OLD_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"


@pytest.fixture
def suite(app):
    return factories.wecom_app(db.session(), app_id="wwsuite", provider_corpid="wwprovider")


@pytest.fixture
def component(app):
    return factories.open_app(db.session(), app_id="wxcomponent")


def events():
    return db.session().scalars(select(InboundEvent).order_by(InboundEvent.id)).all()


def tickets(app):
    return (
        db.session()
        .scalars(select(Ticket).where(Ticket.app_pk == app.id).order_by(Ticket.pushed_at.desc()))
        .all()
    )


def post(client, url, query, body):
    return client.post(url, query_string=query, data=body, content_type="text/xml")


# -- URL checks ------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["command", "data"])
def test_wecom_url_check_answers_the_bare_plaintext(client, suite, channel):
    query = pushes.url_check("wecom", "QDG6eK", KEY, "wwprovider", "1616140317555161061")
    response = client.get(f"/callback/wecom/wwsuite/{channel}", query_string=query)
    assert response.status_code == 200
    assert response.data == b"1616140317555161061"  # no quotes, no newline
    assert events() == []


def test_url_check_with_a_foreign_receive_id_is_403(client, suite):
    query = pushes.url_check("wecom", "QDG6eK", KEY, "wwsomeoneelse", "123")
    response = client.get("/callback/wecom/wwsuite/command", query_string=query)
    assert response.status_code == 403
    assert b"receive id" in response.data


def test_open_message_url_check(client, component):
    query = pushes.url_check("open", "AAAAA", KEY, "wxcomponent", "4242")
    response = client.get("/callback/open/wxcomponent/msg/wxaccount", query_string=query)
    assert (response.status_code, response.data) == (200, b"4242")


# -- tickets ---------------------------------------------------------------------------------


def test_suite_ticket_is_stored_before_success(client, suite):
    query, body = pushes.push(
        "wecom", "QDG6eK", KEY, "wwsuite", pushes.suite_ticket("wwsuite", "TICKET-1"), to="wwsuite"
    )
    response = post(client, "/callback/wecom/wwsuite/command", query, body)
    assert (response.status_code, response.data) == (200, b"success")
    [event] = events()
    assert (event.channel, event.kind, event.status, event.receive_id) == (
        "command",
        "suite_ticket",
        "done",
        "wwsuite",
    )
    assert "TICKET-1" in event.payload and event.raw == body
    [ticket] = tickets(suite)
    assert ticket.value == "TICKET-1"
    assert abs(ticket.pushed_at.timestamp() - time.time()) < 5


def test_pushes_on_fresh_database_connections_are_stored(app, client, suite):
    """The app's keys are remembered per process, so a push may be the first use of a new
    pooled connection (pinged on checkout): it is stored, not a 500 (seen under load)."""
    for number in range(3):
        db.session().close()
        db.dispose(app)  # the pools start empty: the next checkout opens a connection
        query, body = pushes.push(
            "wecom",
            "QDG6eK",
            KEY,
            "wwsuite",
            pushes.suite_ticket("wwsuite", f"T-{number}"),
            to="wwsuite",
        )
        response = post(client, "/callback/wecom/wwsuite/command", query, body)
        assert (response.status_code, response.data) == (200, b"success")
    assert sorted(t.value for t in tickets(suite)) == ["T-0", "T-1", "T-2"]


def test_component_verify_ticket_is_stored(client, component):
    message = pushes.component_ticket("wxcomponent", "ticket@@@abc")
    query, body = pushes.push("open", "AAAAA", KEY, "wxcomponent", message)
    body = body.replace("<ToUserName><![CDATA[]]></ToUserName>", "<AppId>wxcomponent</AppId>")
    response = post(client, "/callback/open/wxcomponent/auth", query, body)
    assert (response.status_code, response.data) == (200, b"success")
    assert [t.value for t in tickets(component)] == ["ticket@@@abc"]
    assert events()[0].channel == "auth"


def test_newest_ticket_by_push_time_wins_and_a_late_older_one_does_not_displace_it(client, suite):
    now = int(time.time())
    for value, ts in [("NEWER", now), ("OLDER", now - 500), ("NEWER", now - 100)]:
        message = pushes.suite_ticket("wwsuite", value, ts)
        query, body = pushes.push("wecom", "QDG6eK", KEY, "wwsuite", message)
        assert post(client, "/callback/wecom/wwsuite/command", query, body).data == b"success"
    stored = tickets(suite)
    assert [t.value for t in stored] == ["NEWER", "OLDER"]
    assert int(stored[0].pushed_at.timestamp()) == now  # the repeat did not move it back
    assert len(events()) == 3


def test_a_ticket_for_another_suite_is_never_stored(client, suite):
    message = pushes.suite_ticket("wwother", "FOREIGN")
    query, body = pushes.push("wecom", "QDG6eK", KEY, "wwsuite", message)
    assert post(client, "/callback/wecom/wwsuite/command", query, body).data == b"success"
    assert tickets(suite) == []
    [event] = events()
    assert event.status == "ignored" and "wwother" in event.error


def test_push_encrypted_with_the_previous_aes_key_is_accepted(client, app):
    suite = factories.wecom_app(db.session(), app_id="wwrotated", aes_key=KEY)
    suite.aes_key, suite.previous_aes_key = OLD_KEY, KEY  # rotated in the console
    db.session().commit()
    message = pushes.suite_ticket("wwrotated", "T")
    query, body = pushes.push("wecom", "QDG6eK", KEY, "wwrotated", message)
    assert post(client, "/callback/wecom/wwrotated/command", query, body).data == b"success"
    query, body = pushes.push("wecom", "QDG6eK", OLD_KEY, "wwrotated", message + " ")
    assert post(client, "/callback/wecom/wwrotated/command", query, body).data == b"success"
    assert len(events()) == 2


# -- receive ids -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("receive_id", "status", "owner_kind"),
    [
        ("wwsuite", 200, "app"),  # what WeCom documents for command pushes
        ("wwprovider", 200, "provider"),  # observed for create_auth (wecom-suite.md §1)
        ("wwcorp1", 200, "tenant"),  # one of the app's corps
        ("wwstranger", 403, None),
    ],
)
def test_command_receive_ids(client, suite, receive_id, status, owner_kind):
    factories.tenant(db.session(), suite, tenant_id="wwcorp1")
    message = pushes.suite_ticket("wwsuite", "T")
    query, body = pushes.push("wecom", "QDG6eK", KEY, receive_id, message)
    response = post(client, "/callback/wecom/wwsuite/command", query, body)
    assert response.status_code == status
    assert [e.receive_id for e in events()] == ([receive_id] if owner_kind else [])


def test_data_push_from_a_tenant_corp(client, suite):
    factories.tenant(db.session(), suite, tenant_id="wwcorp1")
    message = pushes.text_message("wwcorp1", "zhangsan", "hello", "4561255354251345929")
    query, body = pushes.push("wecom", "QDG6eK", KEY, "wwcorp1", message, to="wwcorp1")
    response = post(client, "/callback/wecom/wwsuite/data", query, body)
    assert (response.status_code, response.data) == (200, b"success")
    [event] = events()
    # Stored; what dispatch then does with it is tests/dispatch's business.
    assert (event.channel, event.kind, event.tenant_id) == ("data", "text", "wwcorp1")
    assert event.dedupe_key == "msgid:wwcorp1:4561255354251345929"  # a MsgId is per corp


def test_data_push_from_a_corp_that_is_not_a_tenant_is_403(client, suite):
    message = pushes.text_message("wwcorpX", "zhangsan", "hello", "1")
    query, body = pushes.push("wecom", "QDG6eK", KEY, "wwcorpX", message, to="wwcorpX")
    assert post(client, "/callback/wecom/wwsuite/data", query, body).status_code == 403
    assert events() == []


def test_open_message_push_is_stored_for_the_account_in_the_url(client, component):
    message = pushes.text_message("gh_3c884a361561", "openid-1", "hi", "777")
    query, body = pushes.push("open", "AAAAA", KEY, "wxcomponent", message, to="gh_3c884a361561")
    query["openid"] = "openid-1"
    response = post(client, "/callback/open/wxcomponent/msg/wx570bc396a51b8ff8", query, body)
    assert (response.status_code, response.data) == (200, b"success")
    [event] = events()
    assert (event.channel, event.tenant_id, event.kind) == ("msg", "wx570bc396a51b8ff8", "text")


def test_open_push_encrypted_for_another_component_is_403(client, component):
    message = pushes.component_ticket("wxcomponent", "t")
    query, body = pushes.push("open", "AAAAA", KEY, "wxother", message)
    assert post(client, "/callback/open/wxcomponent/auth", query, body).status_code == 403
    assert events() == [] and tickets(component) == []


# -- duplicates ------------------------------------------------------------------------------


def test_retried_and_duplicated_pushes_are_stored_once(client, suite):
    factories.tenant(db.session(), suite, tenant_id="wwcorp1")
    ticket = pushes.suite_ticket("wwsuite", "T", ts=int(time.time()))
    query, body = pushes.push("wecom", "QDG6eK", KEY, "wwsuite", ticket)
    again_query, again_body = pushes.push("wecom", "QDG6eK", KEY, "wwsuite", ticket)
    assert again_body != body  # re-encrypted: a new random prefix
    for q, b in [(query, body), (query, body), (again_query, again_body)]:
        assert post(client, "/callback/wecom/wwsuite/command", q, b).data == b"success"
    # Same MsgId, different bytes: still one message.
    for content in ("hello", "hello again"):
        message = pushes.text_message("wwcorp1", "lisi", content, "99")
        q, b = pushes.push("wecom", "QDG6eK", KEY, "wwcorp1", message)
        assert post(client, "/callback/wecom/wwsuite/data", q, b).data == b"success"
    assert [e.kind for e in events()] == ["suite_ticket", "text"]
    assert len(tickets(suite)) == 1


def test_concurrent_pushes_and_their_retries_are_each_stored_once(client, suite):
    """Pushes arriving together are written together (db.GroupCommit); each is answered only
    once stored, a retry in the same batch as its original is stored once, and each ticket is
    kept with its own push time."""
    now = int(time.time())
    made = [
        pushes.push(
            "wecom", "QDG6eK", KEY, "wwsuite", pushes.suite_ticket("wwsuite", f"T{n}", ts=now - n)
        )
        for n in range(12)
    ]
    made += made[:4]  # retries of the first four, sent at the same time
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda m: post(client, "/callback/wecom/wwsuite/command", *m), made)
        )
    assert [(a.status_code, a.data) for a in answers] == [(200, b"success")] * 16
    assert sorted(e.payload for e in events()) == sorted(
        pushes.suite_ticket("wwsuite", f"T{n}", ts=now - n) for n in range(12)
    )
    stored = {t.value: int(t.pushed_at.timestamp()) for t in tickets(suite)}
    assert stored == {f"T{n}": now - n for n in range(12)}


def test_two_different_events_in_the_same_second_are_both_kept(client, suite):
    ts = int(time.time())
    for user in ("u1", "u2"):
        message = (
            f"<xml><SuiteId>wwsuite</SuiteId><AuthCorpId>wwcorp1</AuthCorpId>"
            f"<InfoType>change_contact</InfoType><TimeStamp>{ts}</TimeStamp>"
            f"<ChangeType>update_user</ChangeType><UserID>{user}</UserID></xml>"
        )
        query, body = pushes.push("wecom", "QDG6eK", KEY, "wwsuite", message)
        assert post(client, "/callback/wecom/wwsuite/command", query, body).data == b"success"
    assert [(e.kind, e.tenant_id) for e in events()] == [
        ("change_contact", "wwcorp1"),
        ("change_contact", "wwcorp1"),
    ]


# -- bad input -------------------------------------------------------------------------------


def _signed(body_encrypt: str, token: str = "QDG6eK", ts: int | None = None):
    from suite_server.crypto.msgcrypt import sign

    timestamp, nonce = str(int(time.time()) if ts is None else ts), "12345"
    query = {
        "msg_signature": sign(token, timestamp, nonce, body_encrypt),
        "timestamp": timestamp,
        "nonce": nonce,
    }
    return query, f"<xml><Encrypt><![CDATA[{body_encrypt}]]></Encrypt></xml>"


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    "<xml><Encrypt>&lol2;</Encrypt></xml>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    "<xml><Encrypt>&e;</Encrypt></xml>"
)


def test_bad_input_gets_a_4xx_and_writes_nothing(client, suite):
    url = "/callback/wecom/wwsuite/command"
    good_query, good_body = pushes.push(
        "wecom", "QDG6eK", KEY, "wwsuite", pushes.suite_ticket("wwsuite", "T")
    )
    stale_query, stale_body = pushes.push(
        "wecom", "QDG6eK", KEY, "wwsuite", pushes.suite_ticket("wwsuite", "T"), ts=1409659813
    )
    cases = [
        ("unknown app", "/callback/wecom/wwnobody/command", good_query, good_body, 404),
        ("platform mismatch", "/callback/open/wwsuite/auth", good_query, good_body, 404),
        ("bad signature", url, {**good_query, "nonce": "1"}, good_body, 403),
        ("wrong token", url, *_signed("abc", token="other"), 403),
        ("stale timestamp", url, stale_query, stale_body, 403),
        ("missing query", url, {}, good_body, 400),
        ("not XML", url, good_query, "not xml at all", 400),
        ("wrong root", url, good_query, good_body.replace("xml>", "foo>"), 400),
        ("no Encrypt", url, good_query, "<xml><ToUserName>x</ToUserName></xml>", 400),
        ("garbage ciphertext", url, *_signed("bm90IGEgcmVhbCBjaXBoZXJ0ZXh0IGF0IGFsbCEhIQ=="), 400),
        ("not base64", url, *_signed("%%%%"), 400),
        ("entities", url, good_query, BILLION_LAUGHS, 400),
        ("external entity", url, good_query, XXE, 400),
        ("over 1 MiB", url, good_query, "<xml>" + "a" * (1024 * 1024) + "</xml>", 413),
        ("encrypt_type raw", url, {**good_query, "encrypt_type": "raw"}, good_body, 400),
    ]
    for name, target, query, body, status in cases:
        response = post(client, target, query, body)
        assert response.status_code == status, (name, response.data)
        assert b"success" not in response.data
    assert db.session().scalar(select(func.count()).select_from(InboundEvent)) == 0
    assert tickets(suite) == []
    assert client.get("/callback/open/wxany/auth").status_code == 405


def test_timestamp_check_can_be_turned_off(database, tmp_path):
    from tests.conftest import make_app

    app = make_app(tmp_path, database.for_test(tmp_path), CALLBACK_MAX_AGE=0)
    with app.app_context():
        factories.wecom_app(db.session(), app_id="wwsuite")
        query, body = pushes.push(
            "wecom", "QDG6eK", KEY, "wwsuite", pushes.suite_ticket("wwsuite", "T"), ts=1409659813
        )
        response = post(app.test_client(), "/callback/wecom/wwsuite/command", query, body)
        assert response.data == b"success"
    db.dispose(app)
    database.clean()


def test_published_wecom_sample_decrypts_through_the_url(database, tmp_path):
    """The official sample (wecom-suite.md §2 A2), timestamp check off: its time is 2014."""
    from tests.conftest import make_app

    app = make_app(tmp_path, database.for_test(tmp_path), CALLBACK_MAX_AGE=0)
    with app.app_context():
        factories.wecom_app(db.session(), app_id="wx5823bf96d3bd56c7")
        encrypt = (
            "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3"
            "QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48"
            "kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izo"
            "un1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUa"
            "x5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl"
            "/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
        )
        query = {
            "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
            "timestamp": "1409659813",
            "nonce": "1372623149",
        }
        body = f"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"  # noqa: E501
        response = post(
            app.test_client(), "/callback/wecom/wx5823bf96d3bd56c7/command", query, body
        )
        assert response.data == b"success"
        [event] = events()
        assert "<Content><![CDATA[hello]]></Content>" in event.payload
        assert event.dedupe_key == "msgid:4561255354251345929"
    db.dispose(app)
    database.clean()
