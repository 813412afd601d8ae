"""The proxy over real HTTP with the sandbox: each token kind reaches the platform as the platform
wants it, a dead token is refreshed once and the call sent once more (fifty callers, one
refresh), and nothing else is ever re-sent."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from suite_server import db
from suite_server.client import TokenClient, TokenClientError
from suite_server.models import AppToken
from tests.api.conftest import TENANT_TOKEN_CALL, age_token
from tests.gateway.conftest import PROVIDER
from tests.gateway.helpers import CUSTOM_SEND, TENANT_API, TEXT, proxied, tenant_call

AUTH_URL = f"/providers/{PROVIDER}/proxy/cgi-bin/service/get_customized_auth_url"
NO_TEMPLATES = {"state": "abc", "templateid_list": []}
TEMPLATES_MISSING = 40058


def test_a_tenant_call_reaches_the_platform_with_the_tenant_token(
    platform, installed, live_server, api_key
):
    answer = tenant_call(live_server, api_key, installed)
    assert answer.status_code == 200, answer.text
    assert answer.json()["errcode"] == 0
    assert answer.headers["Content-Type"].startswith("application/json")
    assert "X-Suite-Server-Retried" not in answer.headers
    if installed.platform == "wecom":
        assert answer.json()["userid"] == "zhangsan"
    else:
        sent = requests.get(f"{platform.base}/sandbox/messages", timeout=10).json()["messages"]
        assert [m["body"] for m in sent] == [TEXT]
    assert platform.calls()[TENANT_API[installed.platform]] == 1


def test_an_app_call_carries_the_suite_or_component_token(
    platform, installed, live_server, api_key
):
    base = f"/apps/{installed.app_id}/proxy/cgi-bin/"
    if installed.platform == "wecom":
        answer = proxied(
            live_server,
            api_key,
            base + "service/get_admin_list",
            "POST",
            json={"auth_corpid": "tenant-api", "agentid": 1},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["errcode"] == 0 and answer.json()["admin"][0]["userid"] == "admin"
    else:
        answer = proxied(
            live_server,
            api_key,
            base + "component/api_get_authorizer_list",
            "POST",
            json={"component_appid": installed.app_id, "offset": 0, "count": 10},
        )
        assert answer.status_code == 200, answer.text
        listed = [a["authorizer_appid"] for a in answer.json()["list"]]
        assert listed == ["tenant-api"]


def test_a_provider_call_carries_the_provider_token_under_its_own_name(
    platform, provider, live_server, api_key
):
    code = platform.control(
        "login-codes", provider_corpid=PROVIDER, corpid="wwcorp1", userid="lisi"
    )["auth_code"]
    answer = proxied(
        live_server,
        api_key,
        f"/providers/{PROVIDER}/proxy/cgi-bin/service/get_login_info",
        "POST",
        json={"auth_code": code},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["user_info"]["userid"] == "lisi"
    assert answer.json()["corp_info"] == {"corpid": "wwcorp1"}
    # Other provider APIs take it as provider_access_token: accepted, the body is what is wrong.
    other = proxied(live_server, api_key, AUTH_URL, "POST", json=NO_TEMPLATES)
    assert other.status_code == 200 and other.json()["errcode"] == TEMPLATES_MISSING, other.text


def test_a_dead_token_is_refreshed_once_and_the_call_sent_once_more(
    platform, installed, live_server, api_key
):
    assert tenant_call(live_server, api_key, installed).json()["errcode"] == 0
    age_token(installed, "tenant-api")
    platform.control("tokens/invalidate", app_id=installed.app_id, tenant_id="tenant-api")
    refreshes = platform.calls().get(TENANT_TOKEN_CALL[installed.platform], 0)

    answer = tenant_call(live_server, api_key, installed)
    assert answer.status_code == 200, answer.text
    assert answer.json()["errcode"] == 0
    assert answer.headers["X-Suite-Server-Retried"] == "1"
    calls = platform.calls()
    assert calls[TENANT_TOKEN_CALL[installed.platform]] == refreshes + 1
    assert calls[TENANT_API[installed.platform]] == 3  # the first call, the dead one, its retry
    # The new token is kept: the next call goes once.
    again = tenant_call(live_server, api_key, installed)
    assert again.json()["errcode"] == 0 and "X-Suite-Server-Retried" not in again.headers
    assert platform.calls()[TENANT_API[installed.platform]] == 4


def test_an_expired_answer_is_retried_once_and_a_second_one_handed_back(
    platform, installed, live_server, api_key
):
    age_token(installed, "tenant-api")
    endpoint = TENANT_API[installed.platform]
    platform.control("faults", endpoint=endpoint, errcode=42001, count=2)
    answer = tenant_call(live_server, api_key, installed)
    # The retry met the second fault: handed back as it is, never a third try.
    assert answer.status_code == 200 and answer.json()["errcode"] == 42001
    assert answer.headers["X-Suite-Server-Retried"] == "1"
    assert platform.calls()[endpoint] == 2
    platform.control("faults", endpoint=endpoint, errcode=42001, count=1)
    age_token(installed, "tenant-api")
    answer = tenant_call(live_server, api_key, installed)
    assert answer.json()["errcode"] == 0 and answer.headers["X-Suite-Server-Retried"] == "1"


def test_busy_and_other_errcodes_are_never_sent_again(platform, installed, live_server, api_key):
    endpoint = TENANT_API[installed.platform]
    for errcode in (-1, 45009, 40001 if installed.platform == "wecom" else 40003):
        platform.control("faults", endpoint=endpoint, errcode=errcode, count=1)
        before = platform.calls().get(endpoint, 0)
        answer = tenant_call(live_server, api_key, installed)
        assert answer.status_code == 200 and answer.json()["errcode"] == errcode
        assert "X-Suite-Server-Retried" not in answer.headers
        assert platform.calls()[endpoint] == before + 1
    # Not an errcode at all (an HTTP error page): handed back, never sent again.
    platform.control("faults", endpoint=endpoint, http_status=502, count=1)
    answer = tenant_call(live_server, api_key, installed)
    assert answer.status_code == 502 and answer.text.startswith("sandbox fault")
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert platform.calls()[endpoint] == before + 2


def test_fifty_calls_on_a_dead_token_cause_one_refresh(platform, installed, live_server, api_key):
    assert tenant_call(live_server, api_key, installed).json()["errcode"] == 0
    age_token(installed, "tenant-api")
    platform.control("tokens/invalidate", app_id=installed.app_id, tenant_id="tenant-api")
    refresh = TENANT_TOKEN_CALL[installed.platform]
    before = platform.calls().get(refresh, 0)
    go, answers = threading.Event(), []

    def caller():
        go.wait()
        answers.append(tenant_call(live_server, api_key, installed))

    threads = [threading.Thread(target=caller) for _ in range(50)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(120)
    assert [a.status_code for a in answers] == [200] * 50, {a.text for a in answers}
    assert {a.json()["errcode"] for a in answers} == {0}
    assert platform.calls()[refresh] == before + 1


def test_a_dead_provider_token_is_refreshed_once(platform, provider, live_server, api_key):
    first = proxied(live_server, api_key, AUTH_URL, "POST", json=NO_TEMPLATES)
    assert first.json()["errcode"] == TEMPLATES_MISSING
    platform.control("tokens/invalidate", app_id=PROVIDER)
    with db.transaction() as session:  # obtained a while ago: no debounce applies
        row = session.scalar(select(AppToken).where(AppToken.app_pk == provider.id))
        row.obtained_at -= timedelta(seconds=60)
    answer = proxied(live_server, api_key, AUTH_URL, "POST", json=NO_TEMPLATES)
    assert answer.json()["errcode"] == TEMPLATES_MISSING  # the new token was taken
    assert answer.headers["X-Suite-Server-Retried"] == "1"
    calls = platform.calls()
    assert calls["get_customized_auth_url"] == 3 and calls["get_provider_token"] == 2


def test_the_token_client_calls_through_the_proxy(platform, installed, live_server, api_key):
    tokens = TokenClient(live_server, api_key)
    if installed.platform == "wecom":
        answer = tokens.call(
            installed.app_id, "cgi-bin/user/get", tenant_id="tenant-api", params={"userid": "li"}
        )
        assert answer.json()["userid"] == "li"
        admins = tokens.call(
            installed.app_id,
            "/cgi-bin/service/get_admin_list",
            method="POST",
            json={"auth_corpid": "tenant-api", "agentid": 1},
        )
        assert admins.json()["admin"][0]["userid"] == "admin"
    else:
        answer = tokens.call(
            installed.app_id, CUSTOM_SEND, tenant_id="tenant-api", method="POST", json=TEXT
        )
        assert answer.json()["errcode"] == 0
    refused = tokens.call(installed.app_id, "nowhere/else", tenant_id="tenant-api")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_request"
    with pytest.raises(TokenClientError) as unreachable:
        TokenClient("http://127.0.0.1:9", api_key).call(installed.app_id, CUSTOM_SEND)
    assert unreachable.value.code == "unreachable"


def test_the_token_client_calls_provider_apis(platform, provider, live_server, api_key):
    answer = TokenClient(live_server, api_key).call(
        PROVIDER, AUTH_URL.split("/proxy/")[1], provider=True, method="POST", json=NO_TEMPLATES
    )
    assert answer.json()["errcode"] == TEMPLATES_MISSING
