"""JS-SDK tickets in the sandbox (isv-capabilities.md §6): the right token kind, WeCom's same
ticket until it expires and Open's new one each call, and 45009 beyond the platforms' limits."""

from __future__ import annotations

import requests

from suite_server.sandbox import jsapi_api

CORP, AGENT, OPEN = "/cgi-bin/get_jsapi_ticket", "/cgi-bin/ticket/get", "/cgi-bin/ticket/getticket"


def corp_token(wecom, permanent_code: str, corpid: str = "wwcorp0001") -> str:
    """A corp token now, with a newly pushed suite ticket (the clock may have moved past the
    old one's 30 minutes)."""
    wecom.push("ticket")
    body = {"auth_corpid": corpid, "permanent_code": permanent_code}
    answer = wecom.call(
        "/cgi-bin/service/get_corp_token", body, suite_access_token=wecom.suite_token()
    )
    return answer["access_token"]


def authorizer_token(open_app, refresh_token: str, appid: str = "wxaccount0001") -> str:
    """An authorizer token now, with a newly pushed component ticket."""
    open_app.push("ticket")
    body = {
        "component_appid": open_app.app_id,
        "authorizer_appid": appid,
        "authorizer_refresh_token": refresh_token,
    }
    answer = open_app.call(
        "/cgi-bin/component/api_authorizer_token",
        body,
        component_access_token=open_app.component_token(),
    )
    return answer["authorizer_access_token"]


def test_wecom_tickets_are_the_same_until_they_expire(wecom, clock):
    installed = wecom.install()
    token = installed["access_token"]
    first = wecom.call(CORP, method="GET", access_token=token)
    assert first["errcode"] == 0 and first["expires_in"] == 7200
    clock.advance(3600)
    again = wecom.call(CORP, method="GET", access_token=token)
    assert again["ticket"] == first["ticket"] and again["expires_in"] == 3600
    agent = wecom.call(AGENT, method="GET", access_token=token, type="agent_config")
    assert agent["ticket"] != first["ticket"]
    clock.advance(3600)
    token = corp_token(wecom, installed["permanent_code"])
    fresh = wecom.call(CORP, method="GET", access_token=token)
    assert fresh["ticket"] != first["ticket"]


def test_open_tickets_are_new_each_call(open_app):
    token = open_app.authorize()["authorizer_access_token"]
    first = open_app.call(OPEN, method="GET", access_token=token, type="jsapi")
    second = open_app.call(OPEN, method="GET", access_token=token, type="jsapi")
    card = open_app.call(OPEN, method="GET", access_token=token, type="wx_card")
    assert len({first["ticket"], second["ticket"], card["ticket"]}) == 3
    assert first["expires_in"] == 7200
    assert open_app.call(OPEN, method="GET", access_token=token, type="x")["errcode"] == 40097


def test_a_token_of_the_wrong_kind_is_refused(wecom, open_app):
    wecom.install()
    suite_token = wecom.suite_token()
    assert wecom.call(CORP, method="GET", access_token=suite_token)["errcode"] == 40014
    answer = wecom.call(AGENT, method="GET", access_token=suite_token, type="agent_config")
    assert answer["errcode"] == 40014
    open_app.authorize()
    component_token = open_app.component_token()
    answer = open_app.call(OPEN, method="GET", access_token=component_token, type="jsapi")
    assert answer["errcode"] == 40001


def test_the_sandbox_shows_the_tickets_a_tenant_holds(wecom, sandbox):
    corp_token = wecom.install()["access_token"]
    issued = wecom.call(CORP, method="GET", access_token=corp_token)["ticket"]
    query = {"app_id": wecom.app_id, "tenant_id": "wwcorp0001"}
    held = requests.get(f"{sandbox.base_url}/sandbox/jsapi/tickets", params=query, timeout=10)
    assert held.json() == {"corp": {"ticket": issued, "expires_in": 7200}}


def test_wecom_limits_an_app_to_100_tickets_an_hour_in_a_corp(wecom, sandbox, clock):
    installed = wecom.install()
    token = installed["access_token"]
    requests.delete(f"{sandbox.base_url}/sandbox/calls", timeout=10)
    for path, extra in ((CORP, {}), (AGENT, {"type": "agent_config"})):
        for _ in range(100):
            assert wecom.call(path, method="GET", access_token=token, **extra)["errcode"] == 0
        refused = wecom.call(path, method="GET", access_token=token, **extra)
        assert refused["errcode"] == 45009
    calls = requests.get(f"{sandbox.base_url}/sandbox/calls", timeout=10).json()["by_endpoint"]
    assert calls["get_jsapi_ticket"] == 101 and calls["ticket_get"] == 101
    clock.advance(3600)
    token = corp_token(wecom, installed["permanent_code"])
    assert wecom.call(CORP, method="GET", access_token=token)["errcode"] == 0


def test_open_limits_each_account_and_type_per_day(open_app, clock, monkeypatch):
    monkeypatch.setattr(jsapi_api, "OPEN_DAILY", 3)
    authorized = open_app.authorize()
    token = authorized["authorizer_access_token"]
    for _ in range(3):
        assert "ticket" in open_app.call(OPEN, method="GET", access_token=token, type="jsapi")
    assert open_app.call(OPEN, method="GET", access_token=token, type="jsapi")["errcode"] == 45009
    assert "ticket" in open_app.call(OPEN, method="GET", access_token=token, type="wx_card")
    clock.advance(86400)
    token = authorizer_token(open_app, authorized["authorizer_refresh_token"])
    assert "ticket" in open_app.call(OPEN, method="GET", access_token=token, type="jsapi")
