"""Provider accounts (isv-capabilities.md §2): registration, get_provider_token, pushes to the
system-event URL and its URL check, all encrypted for the provider corpid."""

from __future__ import annotations

import requests
import xmltodict

from suite_server.crypto import msgcrypt
from tests.sandbox.conftest import WECOM_KEY
from tests.sandbox.test_customized import PROVIDER, register_provider

TOKEN = "/cgi-bin/service/get_provider_token"


def control(sandbox, path: str, body: dict | None = None, method: str = "POST"):
    return requests.request(method, f"{sandbox.base_url}/sandbox{path}", json=body, timeout=10)


def call(sandbox, body: dict | None, method: str = "POST") -> dict:
    response = requests.request(method, sandbox.base_url + TOKEN, json=body, timeout=10)
    assert response.status_code == 200
    return response.json()


def test_providers_are_registered_listed_and_validated(sandbox, receiver):
    provider = register_provider(sandbox.base_url, receiver)
    replaced = control(sandbox, "/providers", {**provider, "name": "Renamed"})
    assert replaced.status_code == 200 and replaced.json()["provider"]["name"] == "Renamed"
    listed = control(sandbox, "/providers", method="GET").json()["providers"]
    assert listed == [{**provider, "name": "Renamed"}]  # the secret included, as for apps

    for bad in (
        {"corpid": ""},
        {"corpid": "bad id!"},
        {"aes_key": "short"},
        {"server_url": "ftp://x"},
        {"secret": None},
        {"token": 5},
    ):
        response = control(sandbox, "/providers", {**provider, **bad})
        assert response.status_code == 400 and response.json()["error"], bad
    assert control(sandbox, "/providers", []).status_code == 400
    assert "wwprovider000001" in requests.get(f"{sandbox.base_url}/sandbox/", timeout=10).text


def test_provider_token_is_the_same_while_valid(sandbox, receiver, clock):
    register_provider(sandbox.base_url, receiver)
    body = {"corpid": PROVIDER, "provider_secret": "provider-secret"}
    first = call(sandbox, body)
    assert set(first) == {"provider_access_token", "expires_in"}  # no errcode on success
    assert first["expires_in"] == 7200
    clock.advance(7000)
    again = call(sandbox, body)
    assert again == {**first, "expires_in": 200}
    clock.advance(200)
    renewed = call(sandbox, body)
    assert renewed["provider_access_token"] != first["provider_access_token"]

    killed = control(sandbox, "/tokens/invalidate", {"app_id": PROVIDER})
    assert killed.status_code == 200 and killed.json()["invalidated"] >= 1
    assert call(sandbox, body)["provider_access_token"] != renewed["provider_access_token"]
    assert control(sandbox, "/tokens/invalidate", {"app_id": "wwnobody"}).status_code == 404
    calls = control(sandbox, "/calls", method="GET").json()
    assert calls["by_endpoint"]["get_provider_token"] == 4


def test_provider_token_errors(sandbox, receiver):
    register_provider(sandbox.base_url, receiver)
    wrong = call(sandbox, {"corpid": PROVIDER, "provider_secret": "wrong"})
    assert wrong["errcode"] == 40001 and wrong["errmsg"].startswith("invalid credential")
    assert call(sandbox, {"corpid": "wwnobody", "provider_secret": "x"})["errcode"] == 40001
    assert call(sandbox, {"corpid": PROVIDER})["errcode"] == 41004
    assert call(sandbox, {"provider_secret": "provider-secret"})["errcode"] == 41002
    assert call(sandbox, {"corpid": PROVIDER, "provider_secret": 5})["errcode"] == 47001
    assert call(sandbox, None, method="GET")["errcode"] == 41002  # a GET has no body

    rule = {"endpoint": "get_provider_token", "errcode": -1, "count": 1}
    assert control(sandbox, "/faults", rule).status_code == 201
    body = {"corpid": PROVIDER, "provider_secret": "provider-secret"}
    assert call(sandbox, body)["errcode"] == -1
    assert "provider_access_token" in call(sandbox, body)


def decrypt(received, corpid: str = PROVIDER) -> tuple[dict, str]:
    """Open a system push with our own crypto: its payload and the receive id inside."""
    outer = received.outer
    assert outer["ToUserName"] == corpid
    key = msgcrypt.decode_aes_key(WECOM_KEY)
    args = received.args
    assert msgcrypt.verify_signature(
        "SysToken", args["timestamp"], args["nonce"], outer["Encrypt"], args["msg_signature"]
    )
    plaintext, receive_id = msgcrypt.decrypt(key, outer["Encrypt"])
    return xmltodict.parse(plaintext)["xml"], receive_id


def test_system_events_are_encrypted_for_the_provider_corpid(sandbox, receiver):
    register_provider(sandbox.base_url, receiver)
    path = f"/providers/{PROVIDER}/push"
    result = control(sandbox, path, {"kind": "license_pay_success", "auth_corpid": "wwcorp1"})
    assert result.status_code == 200, result.text
    answer = result.json()
    assert answer["delivered"] is True and answer["status"] == 200 and answer["body"] == "success"
    assert answer["url"] == f"{receiver.base_url}/callback/wecom/provider/{PROVIDER}"
    got = receiver.wait_for(channel="system", InfoType="license_pay_success")
    assert got.error is None  # wechatpy opened it for the provider corpid too
    message, receive_id = decrypt(got)
    assert receive_id == PROVIDER
    assert message["ServiceCorpId"] == PROVIDER and message["AuthCorpId"] == "wwcorp1"
    assert message["OrderId"] and message["BuyerUserId"] and int(message["TimeStamp"]) > 0

    refund = {"kind": "license_refund", "auth_corpid": "wwcorp1", "fields": {"OrderId": "OI42"}}
    assert control(sandbox, path, refund).json()["delivered"] is True
    message, _ = decrypt(receiver.wait_for(channel="system", InfoType="license_refund"))
    assert message["OrderId"] == "OI42"

    assert control(sandbox, path, {"kind": "auto_activate", "auth_corpid": "wwcorp1"}).ok
    message, _ = decrypt(receiver.wait_for(channel="system", InfoType="auto_activate"))
    assert message["Scene"] == "1" and message["AccountList"]["ActiveCode"]

    custom = {"kind": "some_new_event", "fields": {"Extra": "x", "Count": 3}}
    assert control(sandbox, path, custom).json()["delivered"] is True
    message, _ = decrypt(receiver.wait_for(channel="system", InfoType="some_new_event"))
    assert (message["Extra"], message["Count"]) == ("x", "3") and "AuthCorpId" not in message

    pushes = control(sandbox, f"/pushes?app_id={PROVIDER}", method="GET").json()["pushes"]
    assert [p["channel"] for p in pushes] == ["system"] * 4
    assert pushes[0]["kind"] == "license_pay_success"


def test_system_pushes_are_judged_and_requests_validated(sandbox, receiver):
    register_provider(sandbox.base_url, receiver)
    path = f"/providers/{PROVIDER}/push"
    receiver.mode = "wrong_body"  # the system URL must answer `success`, like the command URL
    failed = control(sandbox, path, {"kind": "license_refund", "auth_corpid": "wwcorp1"}).json()
    assert failed["delivered"] is False and failed["attempts"] == 3
    assert failed["error"] == "body is not `success`"
    assert control(sandbox, "/providers/wwnobody/push", {"kind": "x"}).status_code == 404
    for bad in ({}, {"kind": "bad kind"}, {"kind": "a" * 65}, {"kind": "x", "auth_corpid": "!"}):
        assert control(sandbox, path, bad).status_code == 400, bad
    bad_fields = {"kind": "x", "fields": {"1bad": "x"}}
    assert control(sandbox, path, bad_fields).status_code == 400


def test_the_system_event_url_is_checked_with_an_echostr_for_the_provider_corpid(sandbox, receiver):
    register_provider(sandbox.base_url, receiver)
    for body in ({"app_id": PROVIDER}, {"provider_corpid": PROVIDER}):
        response = control(sandbox, "/verify_url", body)
        assert response.status_code == 200, response.text
        [check] = response.json()["checks"]
        assert check["channel"] == "system" and check["verified"] is True, check
        assert check["url"] == f"{receiver.base_url}/callback/wecom/provider/{PROVIDER}"
    gets = [r for r in receiver.snapshot() if r.channel == "system" and not r.body]
    assert len(gets) == 2 and all(g.error is None for g in gets)
    assert (
        control(sandbox, "/verify_url", {"app_id": PROVIDER, "channel": "data"}).status_code == 400
    )
    receiver.mode = "wrong_body"
    [check] = control(sandbox, "/verify_url", {"app_id": PROVIDER}).json()["checks"]
    assert check["verified"] is False

    page = requests.get(f"{sandbox.base_url}/sandbox/", timeout=10).text
    assert f'name="app_id" value="{PROVIDER}"' in page
