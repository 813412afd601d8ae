"""Sign-in code exchanges through the token API, against the sandbox over HTTP: each answers the
platform's identity fields, a used code is a 400 naming the platform's errcode, a customized
template's member sign-in goes through the corp's endpoint, and a refused app token is
refreshed once."""

from __future__ import annotations

import pytest
import requests

from suite_server import db
from suite_server.client import TokenClient, TokenClientError
from suite_server.models import App
from tests import factories
from tests.authorization.conftest import drain, push

PROVIDER = "wwprovidersignin"


def code(platform, app: App, kind: str, **extra) -> str:
    body = {"app_id": app.app_id, "kind": kind, **extra}
    return platform.control("signin/code", **body)["code"]


def refused(answer, errcode: int) -> None:
    assert answer.status_code == 400, answer.json
    assert answer.json["error"]["code"] == "code_refused"
    assert str(errcode) in answer.json["error"]["message"]


@pytest.fixture
def wecom_app(app, platform, suite) -> App:
    """The suite with one corp, "tenant-api", installed by push."""
    push(platform, suite, "create_auth", tenant_id="tenant-api", name="API Corp")
    drain(app)
    return suite


@pytest.fixture
def open_app(app, platform, component) -> App:
    """The component with one account, "tenant-api", authorized by push."""
    push(platform, component, "authorized", tenant_id="tenant-api", name="API Account")
    drain(app)
    return component


@pytest.fixture
def template(app, platform) -> App:
    provider = factories.provider(db.session(), corpid=PROVIDER)
    platform.register_provider(provider)
    template = factories.wecom_app(
        db.session(), app_id="dksignintemplate", provider_corpid=PROVIDER
    )
    platform.register(template, provider_corpid=PROVIDER)
    push(platform, template, "create_auth", tenant_id="wwsignincorp", name="Sign-in Corp")
    drain(app)
    return template


def test_a_wecom_member_code_gives_the_member_once(platform, wecom_app, auth, client):
    given = code(platform, wecom_app, "wecom_member", tenant_id="tenant-api", user_id="lisi")
    url = f"/api/v1/apps/{wecom_app.app_id}/oauth/userinfo"
    answer = client.post(url, json={"code": given}, headers=auth)
    assert answer.status_code == 200, answer.json
    member = answer.json
    assert member["corpid"] == "tenant-api" and member["userid"] == "lisi"
    assert member["open_userid"] and member["user_ticket"] and member["expires_in"] > 0
    assert "errcode" not in member
    refused(client.post(url, json={"code": given}, headers=auth), 40029)
    for body in ({}, {"code": ""}, {"code": 5}, {"js_code": given}):
        assert client.post(url, json=body, headers=auth).status_code == 400
    # The user_ticket it gave reads the member's details (while it lives); a made-up one is refused.
    detail_url = f"/api/v1/apps/{wecom_app.app_id}/oauth/userdetail"
    ticket = {"user_ticket": member["user_ticket"]}
    detail = client.post(detail_url, json=ticket, headers=auth)
    assert detail.status_code == 200, detail.json
    assert (detail.json["corpid"], detail.json["userid"]) == ("tenant-api", "lisi")
    assert detail.json["avatar"] and "errcode" not in detail.json
    refused(client.post(detail_url, json={"user_ticket": "made-up"}, headers=auth), 40029)
    assert client.post(detail_url, json={}, headers=auth).status_code == 400


def test_a_wecom_mini_program_code_gives_a_session_once(platform, wecom_app, auth, client):
    given = code(platform, wecom_app, "wecom_miniprogram", tenant_id="tenant-api", user_id="lisi")
    url = f"/api/v1/apps/{wecom_app.app_id}/oauth/jscode2session"
    answer = client.post(url, json={"js_code": given}, headers=auth)
    assert answer.status_code == 200, answer.json
    assert answer.json["corpid"] == "tenant-api" and answer.json["userid"] == "lisi"
    assert answer.json["session_key"]
    refused(client.post(url, json={"js_code": given}, headers=auth), 40029)


def test_an_open_web_code_gives_the_user_once_and_refreshes(platform, open_app, auth, client):
    given = code(platform, open_app, "open_web", tenant_id="tenant-api", user_id="u1")
    url = f"/api/v1/apps/{open_app.app_id}/tenants/tenant-api/oauth/token"
    answer = client.post(url, json={"code": given}, headers=auth)
    assert answer.status_code == 200, answer.json
    user = answer.json
    assert set(user) >= {"access_token", "expires_in", "refresh_token", "openid", "scope"}
    refused(client.post(url, json={"code": given}, headers=auth), 40163)
    renewed = client.post(url, json={"refresh_token": user["refresh_token"]}, headers=auth)
    assert renewed.status_code == 200, renewed.json
    assert renewed.json["openid"] == user["openid"]
    assert renewed.json["access_token"] != user["access_token"]
    refused(client.post(url, json={"refresh_token": "nonsense"}, headers=auth), 40030)


def test_an_open_mini_program_code_gives_a_session_once(platform, open_app, auth, client):
    given = code(platform, open_app, "open_miniprogram", tenant_id="tenant-api", user_id="u1")
    url = f"/api/v1/apps/{open_app.app_id}/tenants/tenant-api/oauth/jscode2session"
    answer = client.post(url, json={"js_code": given}, headers=auth)
    assert answer.status_code == 200, answer.json
    assert set(answer.json) == {"openid", "session_key", "unionid"}
    refused(client.post(url, json={"js_code": given}, headers=auth), 40163)


def test_each_exchange_is_on_its_own_platform(installed, auth, client):
    other = "open" if installed.platform == "wecom" else "wecom"
    paths = {
        "wecom": ["oauth/userinfo", "oauth/jscode2session"],
        "open": ["tenants/tenant-api/oauth/token", "tenants/tenant-api/oauth/jscode2session"],
    }
    for tail in paths[other]:
        body = {"code": "x", "js_code": "x"}
        answer = client.post(f"/api/v1/apps/{installed.app_id}/{tail}", json=body, headers=auth)
        assert answer.status_code == 400, tail


def test_a_refused_app_token_is_refreshed_once(platform, installed, auth, client):
    platform.control("tokens/invalidate", app_id=installed.app_id)
    requests.delete(f"{platform.base}/sandbox/calls", timeout=10)
    if installed.platform == "wecom":
        given = code(platform, installed, "wecom_member", tenant_id="tenant-api")
        url, body = f"/api/v1/apps/{installed.app_id}/oauth/userinfo", {"code": given}
    else:
        given = code(platform, installed, "open_miniprogram", tenant_id="tenant-api")
        url = f"/api/v1/apps/{installed.app_id}/tenants/tenant-api/oauth/jscode2session"
        body = {"js_code": given}
    answer = client.post(url, json=body, headers=auth)
    assert answer.status_code == 200, answer.json
    calls = platform.calls()
    app_token = "get_suite_token" if installed.platform == "wecom" else "api_component_token"
    assert calls[app_token] == 1


def test_a_customized_template_signs_in_with_the_corp_endpoint(platform, template, auth, client):
    url = f"/api/v1/apps/{template.app_id}/oauth/userinfo"
    given = code(platform, template, "wecom_member", tenant_id="wwsignincorp", user_id="wangwu")
    without = client.post(url, json={"code": given}, headers=auth)
    assert without.status_code == 400 and "tenant_id" in without.json["error"]["message"]
    requests.delete(f"{platform.base}/sandbox/calls", timeout=10)
    body = {"code": given, "tenant_id": "wwsignincorp"}
    answer = client.post(url, json=body, headers=auth)
    assert answer.status_code == 200, answer.json
    assert answer.json["userid"] == "wangwu" and answer.json["user_ticket"]
    calls = platform.calls()
    assert calls.get("corp_getuserinfo") == 1 and "getuserinfo3rd" not in calls
    refused(client.post(url, json=body, headers=auth), 40029)
    unknown = client.post(url, json={"code": "x", "tenant_id": "wwnosuchcorp"}, headers=auth)
    assert unknown.status_code == 404


def test_the_token_client_exchanges_codes(platform, open_app, api_key, live_server):
    tokens = TokenClient(live_server, api_key)
    given = code(platform, open_app, "open_web", tenant_id="tenant-api", user_id="u2")
    user = tokens.open_oauth_token(open_app.app_id, "tenant-api", code=given)
    again = tokens.open_oauth_token(
        open_app.app_id, "tenant-api", refresh_token=user["refresh_token"]
    )
    assert again["openid"] == user["openid"]
    given = code(platform, open_app, "open_miniprogram", tenant_id="tenant-api", user_id="u2")
    session = tokens.open_jscode2session(open_app.app_id, "tenant-api", given)
    assert session["session_key"]
    with pytest.raises(TokenClientError) as refused:
        tokens.open_jscode2session(open_app.app_id, "tenant-api", given)
    assert refused.value.status == 400 and refused.value.code == "code_refused"
