"""JS-SDK tickets and signatures through the token API, against the sandbox over HTTP: each
ticket fetched once per lifetime however many ask at once, signatures that verify with the
ticket the platform issued, the agentid from the authorization, and clear refusals."""

from __future__ import annotations

import threading

import pytest
import requests

from suite_server.client import TokenClient, TokenClientError
from suite_server.gateway.tickets import sign
from tests.api.conftest import age_token
from tests.authorization.conftest import drain, push, tenant_of

TICKET_CALL = {"corp": "get_jsapi_ticket", "agent": "ticket_get", "jsapi": "getticket"}
TICKET_CALL["wx_card"] = "getticket"
KINDS = {"wecom": ("corp", "agent"), "open": ("jsapi", "wx_card")}
CANCEL = {"wecom": "cancel_auth", "open": "unauthorized"}


def path(app, tenant_id: str = "tenant-api") -> str:
    return f"/api/v1/apps/{app.app_id}/tenants/{tenant_id}"


def sandbox_tickets(platform, app, tenant_id: str = "tenant-api") -> dict:
    query = {"app_id": app.app_id, "tenant_id": tenant_id}
    return requests.get(f"{platform.base}/sandbox/jsapi/tickets", params=query, timeout=10).json()


def crowd(url: str, params: dict, headers: dict, callers: int = 24) -> list:
    """`callers` threads GETting `url` at the same moment; their answers."""
    go, answers = threading.Event(), []

    def reader():
        go.wait()
        answers.append(requests.get(url, params=params, headers=headers, timeout=60))

    threads = [threading.Thread(target=reader) for _ in range(callers)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(90)
    return answers


def test_the_signature_is_the_one_the_platform_documents():
    # WeCom doc/96909's worked example (isv-capabilities §6), fragment and all.
    ticket = (
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    )
    url = "http://mp.weixin.qq.com?params=value#top"
    expected = "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
    assert sign(ticket, url, "Wm3WZYTPz0wzccnW", 1414587457) == expected


def test_each_ticket_is_fetched_once_however_many_ask_at_once(
    platform, installed, api_key, live_server
):
    headers = {"Authorization": f"Bearer {api_key}"}
    for kind in KINDS[installed.platform]:
        requests.delete(f"{platform.base}/sandbox/calls", timeout=10)
        url = f"{live_server}{path(installed)}/jsapi-ticket"
        answers = crowd(url, {"type": kind}, headers)
        assert [a.status_code for a in answers] == [200] * 24, answers[0].text
        held = sandbox_tickets(platform, installed)[kind]["ticket"]
        assert {a.json()["ticket"] for a in answers} == {held}
        assert 7000 < answers[0].json()["expires_in"] <= 7200
        assert platform.calls().get(TICKET_CALL[kind]) == 1, kind


def test_a_signature_verifies_with_the_ticket_the_platform_issued(
    platform, installed, auth, client
):
    page = "https://h5.example.com/app/index.html?from=menu&x=1#/settings"
    tenant = tenant_of(installed, "tenant-api")
    for kind in KINDS[installed.platform]:
        answer = client.post(
            f"{path(installed)}/jsapi-signature", json={"url": page, "type": kind}, headers=auth
        )
        assert answer.status_code == 200, answer.json
        signed = answer.json
        assert "ticket" not in str(signed)
        held = sandbox_tickets(platform, installed)[kind]["ticket"]
        assert signed["signature"] == sign(
            held, page.split("#")[0], signed["nonceStr"], signed["timestamp"]
        )
        if installed.platform == "open":
            assert signed["appId"] == "tenant-api" and "agentId" not in signed
        elif kind == "corp":
            assert signed["corpId"] == "tenant-api" and "agentId" not in signed
        else:
            sandbox_app = requests.get(f"{platform.base}/sandbox/apps/{installed.app_id}").json()
            agent = next(t for t in sandbox_app["tenants"] if t["tenant_id"] == "tenant-api")
            assert signed["corpId"] == "tenant-api"
            assert signed["agentId"] == agent["agent_id"]
            assert signed["agentId"] == tenant.auth_info["auth_info"]["agent"][0]["agentid"]


def test_a_refused_tenant_token_is_refreshed_once_and_the_ticket_asked_again(
    platform, installed, auth, client
):
    platform.control("tokens/invalidate", app_id=installed.app_id, tenant_id="tenant-api")
    age_token(installed, "tenant-api")
    requests.delete(f"{platform.base}/sandbox/calls", timeout=10)
    kind = KINDS[installed.platform][0]
    answer = client.get(f"{path(installed)}/jsapi-ticket?type={kind}", headers=auth)
    assert answer.status_code == 200, answer.json
    calls = platform.calls()
    assert calls[TICKET_CALL[kind]] == 2
    refresh = "get_corp_token" if installed.platform == "wecom" else "api_authorizer_token"
    assert calls[refresh] == 1


def test_a_tenant_that_is_not_active_gets_no_ticket(app, platform, installed, auth, client):
    push(platform, installed, CANCEL[installed.platform], tenant_id="tenant-api")
    drain(app)
    kind = KINDS[installed.platform][0]
    ticket = client.get(f"{path(installed)}/jsapi-ticket?type={kind}", headers=auth)
    assert ticket.status_code == 409 and ticket.json["error"]["code"] == "tenant_cancelled"
    body = {"url": "https://h5.example.com/", "type": kind}
    signed = client.post(f"{path(installed)}/jsapi-signature", json=body, headers=auth)
    assert signed.status_code == 409


def test_a_wrong_type_or_url_is_a_400(platform, installed, auth, client):
    other = "jsapi" if installed.platform == "wecom" else "agent"
    for query in (f"?type={other}", "", "?type=card"):
        answer = client.get(f"{path(installed)}/jsapi-ticket{query}", headers=auth)
        assert answer.status_code == 400, query
        assert answer.json["error"]["code"] == "bad_request"
    kind = KINDS[installed.platform][0]
    for url in ("ftp://h5.example.com/", "/relative", "https://", "https://a b/", None, 7):
        body = {"url": url, "type": kind}
        answer = client.post(f"{path(installed)}/jsapi-signature", json=body, headers=auth)
        assert answer.status_code == 400, url
    long_url = "https://h5.example.com/?" + "x" * 2100
    body = {"url": long_url, "type": kind}
    assert (
        client.post(f"{path(installed)}/jsapi-signature", json=body, headers=auth).status_code
        == 400
    )
    body = {"url": "https://h5.example.com/", "type": other}
    assert (
        client.post(f"{path(installed)}/jsapi-signature", json=body, headers=auth).status_code
        == 400
    )
    not_json = client.post(f"{path(installed)}/jsapi-signature", data="url=x", headers=auth)
    assert not_json.status_code == 400
    assert platform.calls().get(TICKET_CALL[kind]) is None  # nothing was asked of the platform


def test_the_token_client_signs_and_reads_tickets(platform, installed, api_key, live_server):
    tokens = TokenClient(live_server, api_key)
    kind = KINDS[installed.platform][0]
    ticket = tokens.jsapi_ticket(installed.app_id, "tenant-api", kind)
    assert ticket["ticket"] == sandbox_tickets(platform, installed)[kind]["ticket"]
    page = "https://h5.example.com/index.html"
    signed = tokens.jsapi_signature(installed.app_id, "tenant-api", page, kind)
    expected = sign(ticket["ticket"], page, signed["nonceStr"], signed["timestamp"])
    assert signed["signature"] == expected
    with pytest.raises(TokenClientError) as refused:
        tokens.jsapi_signature(installed.app_id, "tenant-api", "javascript:alert(1)", kind)
    assert refused.value.status == 400 and refused.value.code == "bad_request"
