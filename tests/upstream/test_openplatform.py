"""OpenApi against the sandbox: each call's answer, and errcodes turned into UpstreamError kinds."""

from __future__ import annotations

import time

import pytest

from suite_server.errors import UpstreamError
from suite_server.upstream import Code, OpenApi, Token
from suite_server.upstream.openplatform import AuthorizerToken, authorization_info
from tests.upstream.conftest import Registered


def component_token(open_api: OpenApi, component: Registered) -> str:
    return open_api.component_token(
        component.app_id, component.secret, component.ticket
    ).access_token


def test_component_token_rotates(open_api: OpenApi, component: Registered) -> None:
    first = open_api.component_token(component.app_id, component.secret, component.ticket)
    assert isinstance(first, Token) and first.expires_in == 7200
    assert first.access_token.startswith("component_")
    # open-platform.md §4.1: every call mints a new token.
    second = open_api.component_token(component.app_id, component.secret, component.ticket)
    assert second.access_token != first.access_token


def test_authorization_flow(open_api: OpenApi, component: Registered) -> None:
    token = component_token(open_api, component)
    pre = open_api.create_preauthcode(token, component.app_id)
    assert isinstance(pre, Code) and pre.expires_in == 600 and pre.code
    approved = component.control(
        "POST",
        "/approve",
        {"app_id": component.app_id, "pre_auth_code": pre.code, "tenant_id": "wxacct_up1"},
    )

    info = open_api.query_auth(token, component.app_id, approved["auth_code"])
    refresh = component.control("GET", f"/apps/{component.app_id}")["tenants"][0]["credential"]
    assert info["authorizer_appid"] == "wxacct_up1"
    assert info["authorizer_refresh_token"] == refresh
    assert info["authorizer_access_token"].startswith("authorizer_") and info["expires_in"] == 7200
    assert [f["funcscope_category"]["id"] for f in info["func_info"]]

    fresh = open_api.authorizer_token(token, component.app_id, "wxacct_up1", refresh)
    assert isinstance(fresh, AuthorizerToken)
    assert fresh.access_token != info["authorizer_access_token"]  # §4.5: a new one each call
    assert (fresh.refresh_token, fresh.expires_in) == (refresh, 7200)
    assert refresh not in repr(fresh) and fresh.access_token not in repr(fresh)

    about = open_api.get_authorizer_info(token, component.app_id, "wxacct_up1")
    assert about["authorization_info"]["authorizer_refresh_token"] == refresh
    assert about["authorizer_info"]["user_name"].startswith("gh_")

    open_api.custom_send_text(fresh.access_token, "openid-1", "你好 from api")
    [message] = component.control("GET", f"/messages?app_id={component.app_id}")["messages"]
    assert (message["tenant_id"], message["touser"]) == ("wxacct_up1", "openid-1")
    assert message["body"]["text"]["content"] == "你好 from api"


def test_authorizer_list_pages(open_api: OpenApi, component: Registered) -> None:
    tenants = component.bulk_tenants(3)
    token = component_token(open_api, component)
    exchanged = open_api.query_auth(token, component.app_id, tenants[0]["auth_code"])
    page = open_api.get_authorizer_list(token, component.app_id, offset=0, count=2)
    assert page["total_count"] == 3
    assert [row["authorizer_appid"] for row in page["list"]] == [
        t["tenant_id"] for t in tenants[:2]
    ]
    # §4.7: refresh_token only for authorizations whose code was exchanged.
    assert page["list"][0]["refresh_token"] == exchanged["authorizer_refresh_token"]
    assert "refresh_token" not in page["list"][1]
    rest = open_api.get_authorizer_list(token, component.app_id, offset=2, count=2)
    assert [row["authorizer_appid"] for row in rest["list"]] == [tenants[2]["tenant_id"]]


def test_start_push_ticket_pushes_a_new_ticket(open_api: OpenApi, component: Registered) -> None:
    before = component.tickets()
    assert open_api.start_push_ticket(component.app_id, component.secret) is None
    deadline = time.monotonic() + 5
    while len(component.tickets()) == len(before) and time.monotonic() < deadline:
        time.sleep(0.01)
    newest = component.tickets()[-1]
    assert newest not in before
    assert open_api.component_token(component.app_id, component.secret, newest).access_token


def test_query_auth_parses_with_or_without_wrapper() -> None:
    # open-platform.md §4.4: answers with and without the wrapper have been reported.
    inner = {"authorizer_appid": "wx1", "authorizer_refresh_token": "r"}
    assert authorization_info({"authorization_info": inner}) == inner
    assert authorization_info({"errcode": 0, "errmsg": "ok", **inner}) == inner


@pytest.mark.parametrize(
    ("errcode", "kind"),
    [
        (40001, "token"),
        (42001, "token"),
        (45009, "busy"),
        (-1, "busy"),
        (61023, "credential"),
        (61003, "revoked"),
        (61004, "config"),
        (48001, "other"),
    ],
)
def test_injected_errcodes(
    open_api: OpenApi, component: Registered, errcode: int, kind: str
) -> None:
    [tenant] = component.bulk_tenants(1)
    token = component_token(open_api, component)
    refresh = open_api.query_auth(token, component.app_id, tenant["auth_code"])[
        "authorizer_refresh_token"
    ]
    component.fault("api_authorizer_token", errcode=errcode)
    with pytest.raises(UpstreamError) as caught:
        open_api.authorizer_token(token, component.app_id, tenant["tenant_id"], refresh)
    error = caught.value
    assert (error.endpoint, error.errcode, error.kind) == (
        "component/api_authorizer_token",
        errcode,
        kind,
    )
    assert " rid: " in error.errmsg  # the Open Platform's errmsg wording is kept
    assert open_api.authorizer_token(token, component.app_id, tenant["tenant_id"], refresh)


def test_real_errors(open_api: OpenApi, component: Registered) -> None:
    def kind_and_code(call, *args) -> tuple[str, int | None]:
        with pytest.raises(UpstreamError) as caught:
            call(*args)
        return caught.value.kind, caught.value.errcode

    appid, secret = component.app_id, component.secret
    assert kind_and_code(open_api.component_token, appid, "wrong", component.ticket) == (
        "config",
        40125,
    )
    assert kind_and_code(open_api.component_token, appid, secret, "ticket@@@nope") == (
        "ticket",
        61006,
    )
    assert kind_and_code(open_api.create_preauthcode, "stale", appid) == ("token", 40001)
    [tenant] = component.bulk_tenants(1)
    token = component_token(open_api, component)
    open_api.query_auth(token, appid, tenant["auth_code"])
    assert kind_and_code(open_api.query_auth, token, appid, tenant["auth_code"]) == ("code", 61009)
    assert kind_and_code(
        open_api.authorizer_token, token, appid, tenant["tenant_id"], "refreshtoken@@@lost"
    ) == ("credential", 61023)
    assert kind_and_code(open_api.get_authorizer_info, token, appid, "wxnever") == (
        "revoked",
        61003,
    )
    assert kind_and_code(open_api.custom_send_text, "bogus", "openid", "hi") == ("token", 40001)
