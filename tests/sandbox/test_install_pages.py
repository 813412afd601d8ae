"""Install pages and approvals: redirect with auth_code (and state), pushes after approval."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import requests

REDIRECT = "https://isv.example.com/install/app/done"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def page_url(base, path, **params):
    return requests.Request("GET", base + path, params=params).prepare().url


def test_wecom_install_page_redirects_with_code_and_state(wecom, receiver):
    code = wecom.pre_auth_code()
    url = page_url(
        wecom.base_url,
        "/3rdapp/install",
        suite_id=wecom.app_id,
        pre_auth_code=code,
        redirect_uri=REDIRECT,
        state="abc123",
    )
    page = requests.get(url)
    assert page.status_code == 200
    assert "<form" in page.text and 'name="new_id"' in page.text

    answer = requests.post(
        url,
        data={"tenant": "__new__", "new_id": "wwpagecorp000001", "new_name": "Page Corp"},
        allow_redirects=False,
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    query = query_of(location)
    assert query["expires_in"] == "600" and query["state"] == "abc123"  # wecom-suite.md §4
    corp = wecom.call(
        "/cgi-bin/service/get_permanent_code",
        {"auth_code": query["auth_code"]},
        suite_access_token=wecom.suite_token(),
    )
    assert corp["auth_corp_info"] == {
        **corp["auth_corp_info"],
        "corpid": "wwpagecorp000001",
        "corp_name": "Page Corp",
    }
    assert corp["state"] == "abc123"

    # The code is used up: the page now refuses it (400), and no create_auth was pushed (§3).
    assert requests.get(url).status_code == 400
    assert not [
        r for r in receiver.snapshot() if r.message and r.message.get("InfoType") == "create_auth"
    ]


def test_wecom_page_lists_existing_corps_and_reinstall_keeps_the_corpid(wecom):
    wecom.install("wwexisting000001", "Existing Corp")
    code = wecom.pre_auth_code()
    url = page_url(
        wecom.base_url,
        "/3rdapp/install",
        suite_id=wecom.app_id,
        pre_auth_code=code,
        redirect_uri=REDIRECT,
    )
    assert "Existing Corp" in requests.get(url).text
    answer = requests.post(url, data={"tenant": "wwexisting000001"}, allow_redirects=False)
    assert answer.status_code == 302
    query = query_of(answer.headers["Location"])
    assert query["state"] == ""
    corp = wecom.call(
        "/cgi-bin/service/get_permanent_code",
        {"auth_code": query["auth_code"]},
        suite_access_token=wecom.suite_token(),
    )
    assert corp["auth_corp_info"]["corpid"] == "wwexisting000001"


def test_market_install_pushes_create_auth_without_redirect(wecom, receiver):
    result = wecom.push("create_auth", tenant_id="wwmarket00000001", name="Market Corp", state="m1")
    assert result["delivered"] is True
    push = receiver.wait_for(InfoType="create_auth").message
    assert list(push) == ["SuiteId", "AuthCode", "InfoType", "TimeStamp", "State", "ExtraInfo"]
    assert push["AuthCode"] == result["auth_code"] and push["State"] == "m1"
    corp = wecom.call(
        "/cgi-bin/service/get_permanent_code",
        {"auth_code": push["AuthCode"]},
        suite_access_token=wecom.suite_token(),
    )
    assert corp["auth_corp_info"]["corpid"] == "wwmarket00000001"

    approved = wecom.control(
        "/approve", {"app_id": wecom.app_id, "via": "market", "tenant_id": "wwmarket00000002"}
    )
    assert approved.status_code == 200
    body = approved.json()
    assert body["redirect_url"] is None and body["push"]["delivered"] is True
    assert body["push"]["auth_code"] == body["auth_code"]


def test_open_page_redirects_with_3600_and_pushes_authorized_with_the_same_code(open_app, receiver):
    code = open_app.pre_auth_code()
    url = page_url(
        open_app.base_url,
        "/cgi-bin/componentloginpage",
        component_appid=open_app.app_id,
        pre_auth_code=code,
        redirect_uri=REDIRECT + "?app=1",
        auth_type="3",
    )
    assert requests.get(url).status_code == 200
    answer = requests.post(
        url,
        data={
            "tenant": "__new__",
            "new_id": "wxpageaccount001",
            "new_name": "Page OA",
            "account_type": "official_account",
        },
        allow_redirects=False,
    )
    assert answer.status_code == 302
    query = query_of(answer.headers["Location"])
    assert query["app"] == "1" and query["expires_in"] == "3600" and "state" not in query
    push = receiver.wait_for(InfoType="authorized").message
    assert push["AuthorizerAppid"] == "wxpageaccount001"
    assert push["AuthorizationCode"] == query["auth_code"]
    assert push["PreAuthCode"] == code
    assert int(push["AuthorizationCodeExpiredTime"]) == int(push["CreateTime"]) + 3600


def test_open_mobile_page_and_biz_appid_pin(open_app):
    open_app.authorize("wxpinned00000001", "Pinned")
    open_app.authorize("wxother000000001", "Other")
    code = open_app.pre_auth_code()
    url = page_url(
        open_app.base_url,
        "/safe/bindcomponent",
        action="bindcomponent",
        component_appid=open_app.app_id,
        pre_auth_code=code,
        redirect_uri=REDIRECT,
        biz_appid="wxpinned00000001",
    )
    page = requests.get(url).text
    assert "Pinned" in page and "Other" not in page
    refused = requests.post(url, data={"tenant": "wxother000000001"}, allow_redirects=False)
    assert refused.status_code == 400
    accepted = requests.post(url, data={"tenant": "wxpinned00000001"}, allow_redirects=False)
    assert accepted.status_code == 302


def test_open_auth_type_filters_the_accounts(open_app):
    open_app.authorize("wxofficial000001", "An OA")
    open_app.approve("wxmini0000000001", "A Mini", account_type="mini_program")
    code = open_app.pre_auth_code()
    url = page_url(
        open_app.base_url,
        "/cgi-bin/componentloginpage",
        component_appid=open_app.app_id,
        pre_auth_code=code,
        redirect_uri=REDIRECT,
        auth_type="2",
    )
    page = requests.get(url).text
    assert "A Mini" in page and "An OA" not in page
    assert re.search(r'<option value="mini_program"', page)
    assert 'value="official_account"' not in page


def test_pages_refuse_bad_codes_with_400(wecom, open_app, clock):
    base = wecom.base_url
    assert (
        requests.get(
            page_url(
                base,
                "/3rdapp/install",
                suite_id=wecom.app_id,
                pre_auth_code="nope",
                redirect_uri=REDIRECT,
            )
        ).status_code
        == 400
    )
    assert (
        requests.get(
            page_url(
                base,
                "/3rdapp/install",
                suite_id="wwnobody",
                pre_auth_code="x",
                redirect_uri=REDIRECT,
            )
        ).status_code
        == 400
    )
    code = wecom.pre_auth_code()
    assert (
        requests.get(
            page_url(base, "/3rdapp/install", suite_id=wecom.app_id, pre_auth_code=code)
        ).status_code
        == 400
    )
    open_code = open_app.pre_auth_code()
    clock.advance(601)  # Open pre-auth codes live 600 s (open-platform.md §4.2), WeCom's 1200 s
    expired = requests.get(
        page_url(
            base,
            "/cgi-bin/componentloginpage",
            component_appid=open_app.app_id,
            pre_auth_code=open_code,
            redirect_uri=REDIRECT,
        )
    )
    assert expired.status_code == 400 and "expired" in expired.text
    ok = requests.get(
        page_url(
            base,
            "/3rdapp/install",
            suite_id=wecom.app_id,
            pre_auth_code=code,
            redirect_uri=REDIRECT,
        )
    )
    assert ok.status_code == 200


def test_headless_approve_reuses_what_the_page_was_opened_with(wecom):
    code = wecom.pre_auth_code()
    requests.get(
        page_url(
            wecom.base_url,
            "/3rdapp/install",
            suite_id=wecom.app_id,
            pre_auth_code=code,
            redirect_uri=REDIRECT,
            state="s9",
        )
    )
    answer = wecom.control(
        "/approve", {"app_id": wecom.app_id, "pre_auth_code": code, "tenant_id": "wwheadless000001"}
    )
    assert answer.status_code == 200
    result = answer.json()
    assert result["tenant_id"] == "wwheadless000001"
    assert query_of(result["redirect_url"]) == {
        "auth_code": result["auth_code"],
        "expires_in": "600",
        "state": "s9",
    }
    again = wecom.control("/approve", {"app_id": wecom.app_id, "pre_auth_code": code})
    assert again.status_code == 400 and "used" in again.json()["error"]


def test_open_headless_approve_returns_the_push_result(open_app):
    result = open_app.approve("wxheadless000001", redirect_uri=REDIRECT)
    assert result["push"]["delivered"] is True and result["push"]["kind"] == "authorized"
    assert result["push"]["auth_code"] == result["auth_code"]
    assert query_of(result["redirect_url"])["expires_in"] == "3600"


def test_open_reapproval_of_an_authorized_account_pushes_updateauthorized(open_app, receiver):
    first = open_app.approve("wxagain000000001")
    assert first["push"]["kind"] == "authorized"
    again = open_app.approve("wxagain000000001")
    assert again["push"]["kind"] == "updateauthorized"  # open-platform.md §2
    push = receiver.wait_for(InfoType="updateauthorized").message
    assert push["AuthorizerAppid"] == "wxagain000000001"
    assert push["AuthorizationCode"] == again["auth_code"] != first["auth_code"]
