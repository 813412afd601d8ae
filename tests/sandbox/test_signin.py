"""Sign-in in the sandbox (isv-capabilities.md §7): single-use five-minute codes minted on
command or by the authorize page, the exchanges with the right token kinds, and the platforms'
errcodes for used, expired and foreign codes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

USERINFO = "/cgi-bin/service/auth/getuserinfo3rd"
DETAIL = "/cgi-bin/service/auth/getuserdetail3rd"
CORP_USERINFO = "/cgi-bin/auth/getuserinfo"
WECOM_MINI = "/cgi-bin/service/miniprogram/jscode2session"
OPEN_WEB = "/sns/oauth2/component/access_token"
OPEN_REFRESH = "/sns/oauth2/component/refresh_token"
OPEN_MINI = "/sns/component/jscode2session"


def mint(client, kind: str, **extra) -> str:
    response = client.control("/signin/code", {"app_id": client.app_id, "kind": kind, **extra})
    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == 300
    return response.json()["code"]


def open_query(client, **extra) -> dict:
    return {
        "appid": "wxaccount0001",
        "grant_type": "authorization_code",
        "component_appid": client.app_id,
        "component_access_token": client.component_token(),
        **extra,
    }


def test_a_wecom_member_code_works_once_and_for_five_minutes(wecom, clock):
    wecom.install()
    token = wecom.suite_token()
    code = mint(wecom, "wecom_member", tenant_id="wwcorp0001", user_id="lisi")
    member = wecom.call(USERINFO, method="GET", suite_access_token=token, code=code)
    assert member["errcode"] == 0 and member["corpid"] == "wwcorp0001"
    assert member["userid"] == "lisi" and member["open_userid"].startswith("wo")
    again = wecom.call(USERINFO, method="GET", suite_access_token=token, code=code)
    assert again["errcode"] == 40029
    detail = wecom.call(DETAIL, {"user_ticket": member["user_ticket"]}, suite_access_token=token)
    assert detail["userid"] == "lisi" and "mobile" in detail
    late = mint(wecom, "wecom_member", user_id="lisi")
    clock.advance(301)
    token = wecom.suite_token()
    expired = wecom.call(USERINFO, method="GET", suite_access_token=token, code=late)
    assert expired["errcode"] == 40029
    second = mint(wecom, "wecom_member", user_id="lisi")
    same = wecom.call(USERINFO, method="GET", suite_access_token=token, code=second)
    assert same["open_userid"] == member["open_userid"]


def test_wecom_exchanges_take_the_right_token(wecom):
    corp_token = wecom.install()["access_token"]
    code = mint(wecom, "wecom_member")
    wrong = wecom.call(USERINFO, method="GET", suite_access_token=corp_token, code=code)
    assert wrong["errcode"] == 40082
    by_corp = wecom.call(CORP_USERINFO, method="GET", access_token=corp_token, code=code)
    assert by_corp["errcode"] == 0 and by_corp["userid"] and by_corp["user_ticket"]
    mini = mint(wecom, "wecom_miniprogram", user_id="zhaoliu")
    token = wecom.suite_token()
    foreign = wecom.call(USERINFO, method="GET", suite_access_token=token, code=mini)
    assert foreign["errcode"] == 40029  # a mini program's code is not a member sign-in code
    query = {"suite_access_token": token, "js_code": mini, "grant_type": "authorization_code"}
    session = wecom.call(WECOM_MINI, method="GET", **query)
    assert session["corpid"] == "wwcorp0001" and session["userid"] == "zhaoliu"
    assert session["session_key"]
    assert wecom.call(WECOM_MINI, method="GET", **query)["errcode"] == 40029


def test_open_web_codes_refresh_tokens_and_mini_program_codes(open_app, clock):
    authorized = open_app.authorize()
    code = mint(
        open_app, "open_web", tenant_id="wxaccount0001", user_id="u1", scope="snsapi_userinfo"
    )
    user = open_app.call(OPEN_WEB, method="GET", **open_query(open_app, code=code))
    assert set(user) == {"access_token", "expires_in", "refresh_token", "openid", "scope"}
    assert user["scope"] == "snsapi_userinfo"
    used = open_app.call(OPEN_WEB, method="GET", **open_query(open_app, code=code))
    assert used["errcode"] == 40163
    query = open_query(open_app, grant_type="refresh_token", refresh_token=user["refresh_token"])
    renewed = open_app.call(OPEN_REFRESH, method="GET", **query)
    assert renewed["openid"] == user["openid"] and renewed["access_token"] != user["access_token"]
    query = open_query(open_app, grant_type="refresh_token", refresh_token="nonsense")
    assert open_app.call(OPEN_REFRESH, method="GET", **query)["errcode"] == 40030
    late = mint(open_app, "open_web", tenant_id="wxaccount0001")
    clock.advance(301)
    expired = open_app.call(OPEN_WEB, method="GET", **open_query(open_app, code=late))
    assert expired["errcode"] == 42003
    js_code = mint(open_app, "open_miniprogram", tenant_id="wxaccount0001", user_id="u1")
    wrong = open_query(open_app, js_code=js_code)
    wrong["component_access_token"] = authorized["authorizer_access_token"]
    assert open_app.call(OPEN_MINI, method="GET", **wrong)["errcode"] == 48001
    session = open_app.call(OPEN_MINI, method="GET", **open_query(open_app, js_code=js_code))
    assert set(session) == {"openid", "session_key", "unionid"}
    assert session["openid"] == user["openid"]
    again = open_app.call(OPEN_MINI, method="GET", **open_query(open_app, js_code=js_code))
    assert again["errcode"] == 40163


def test_a_code_for_another_account_is_refused(open_app):
    open_app.authorize()
    open_app.authorize("wxaccount0002", "Account Two")
    code = mint(open_app, "open_web", tenant_id="wxaccount0002")
    foreign = open_app.call(OPEN_WEB, method="GET", **open_query(open_app, code=code))
    assert foreign["errcode"] == 40029
    stranger = open_app.call(OPEN_WEB, method="GET", **open_query(open_app, appid="wxnobody"))
    assert stranger["errcode"] == 61003


def test_minting_checks_its_input(wecom, open_app):
    wecom.install()
    assert (
        wecom.control("/signin/code", {"app_id": wecom.app_id, "kind": "open_web"}).status_code
        == 400
    )
    body = {"app_id": wecom.app_id, "kind": "wecom_member", "tenant_id": "wwnobody"}
    assert wecom.control("/signin/code", body).status_code == 404
    body = {"app_id": open_app.app_id, "kind": "open_web"}
    assert open_app.control("/signin/code", body).status_code == 404  # no account yet


def test_the_authorize_page_signs_in_at_once(wecom, sandbox):
    wecom.install()
    query = {
        "appid": wecom.app_id,
        "redirect_uri": "https://h5.example.com/back?x=1",
        "state": "s1",
        "response_type": "code",
        "scope": "snsapi_base",
    }
    page = requests.get(
        f"{sandbox.base_url}/connect/oauth2/authorize", params=query, allow_redirects=False
    )
    assert page.status_code == 302
    back = parse_qs(urlsplit(page.headers["Location"]).query)
    assert back["state"] == ["s1"] and back["x"] == ["1"]
    member = wecom.call(
        USERINFO, method="GET", suite_access_token=wecom.suite_token(), code=back["code"][0]
    )
    assert member["corpid"] == "wwcorp0001"
