"""Open Platform component APIs (open-platform.md §4, §6, §8): tickets, rotating tokens with a
300 s grace, single-use codes, refresh tokens and their deaths."""

from __future__ import annotations

import requests

TOKEN = "/cgi-bin/component/api_component_token"
PREAUTH = "/cgi-bin/component/api_create_preauthcode"
QUERY = "/cgi-bin/component/api_query_auth"
AUTHORIZER = "/cgi-bin/component/api_authorizer_token"
INFO = "/cgi-bin/component/api_get_authorizer_info"
LIST = "/cgi-bin/component/api_get_authorizer_list"
SEND = "/cgi-bin/message/custom/send"


def token_body(open_app, **changes):
    body = {
        "component_appid": open_app.app_id,
        "component_appsecret": "component-secret",
        "component_verify_ticket": open_app.latest_ticket(),
    }
    return {**body, **changes}


def refresh_body(open_app, appid, refresh_token):
    return {
        "component_appid": open_app.app_id,
        "authorizer_appid": appid,
        "authorizer_refresh_token": refresh_token,
    }


def test_component_token_needs_ticket_and_secret(open_app, clock):
    assert (
        open_app.call(TOKEN, token_body(open_app, component_verify_ticket="ticket@@@x"))["errcode"]
        == 61006
    )
    assert (
        open_app.call(TOKEN, token_body(open_app, component_verify_ticket=None))["errcode"] == 61006
    )
    assert open_app.call(TOKEN, token_body(open_app, component_appsecret="bad"))["errcode"] == 40125
    assert open_app.call(TOKEN, token_body(open_app, component_appsecret=None))["errcode"] == 41004
    assert (
        open_app.call(TOKEN, token_body(open_app, component_appid="wxnobody"))["errcode"] == 40013
    )
    error = open_app.call(TOKEN, token_body(open_app, component_appid="wxnobody"))
    assert " rid: " in error["errmsg"]  # §4: Open errmsg ends with a request id

    answer = open_app.call(TOKEN, token_body(open_app))
    assert set(answer) == {"component_access_token", "expires_in"}
    assert answer["expires_in"] == 7200

    ticket = open_app.latest_ticket()
    clock.advance(12 * 3600)  # §1: a ticket lives 12 hours
    assert (
        open_app.call(TOKEN, token_body(open_app, component_verify_ticket=ticket))["errcode"]
        == 61005
    )


def test_every_call_mints_a_new_token_and_the_old_one_has_300_s(open_app, clock):
    old = open_app.component_token()
    new = open_app.component_token()
    assert new != old
    # Both work inside the grace period, with either query parameter name (§4).
    assert "pre_auth_code" in open_app.call(
        PREAUTH, {"component_appid": open_app.app_id}, component_access_token=old
    )
    assert "pre_auth_code" in open_app.call(
        PREAUTH, {"component_appid": open_app.app_id}, access_token=new
    )
    clock.advance(301)
    assert (
        open_app.call(PREAUTH, {"component_appid": open_app.app_id}, component_access_token=old)[
            "errcode"
        ]
        == 40001
    )
    assert "pre_auth_code" in open_app.call(
        PREAUTH, {"component_appid": open_app.app_id}, component_access_token=new
    )
    clock.advance(7200)
    assert (
        open_app.call(PREAUTH, {"component_appid": open_app.app_id}, component_access_token=new)[
            "errcode"
        ]
        == 42001
    )
    assert open_app.call(PREAUTH, {"component_appid": open_app.app_id})["errcode"] == 41001


def test_query_auth_shape_single_use_and_expiry(open_app, clock):
    token = open_app.component_token()
    code = open_app.approve("wxaccount0001", "Account One")["auth_code"]
    assert code.startswith("queryauthcode@@@")
    info = open_app.call(
        QUERY,
        {"component_appid": open_app.app_id, "authorization_code": code},
        component_access_token=token,
    )["authorization_info"]
    assert info["authorizer_appid"] == "wxaccount0001"
    assert info["authorizer_access_token"] and info["expires_in"] == 7200
    assert info["authorizer_refresh_token"].startswith("refreshtoken@@@")
    assert {"funcscope_category": {"id": 1}} in info["func_info"]

    again = open_app.call(
        QUERY,
        {"component_appid": open_app.app_id, "authorization_code": code},
        component_access_token=token,
    )
    assert again["errcode"] == 61009
    late = open_app.approve("wxaccount0002")["auth_code"]
    clock.advance(3601)
    token = open_app.component_token()
    expired = open_app.call(
        QUERY,
        {"component_appid": open_app.app_id, "authorization_code": late},
        component_access_token=token,
    )
    assert expired["errcode"] == 61010
    # A pre_auth_code passed by mistake is "invalid" (§4.4).
    wrong = open_app.call(
        QUERY,
        {"component_appid": open_app.app_id, "authorization_code": open_app.pre_auth_code(token)},
        component_access_token=token,
    )
    assert wrong["errcode"] == 61009


def test_authorizer_token_keeps_the_refresh_token_and_rotates_access_tokens(open_app, clock):
    info = open_app.authorize("wxaccount0003")
    token = open_app.component_token()
    body = refresh_body(open_app, "wxaccount0003", info["authorizer_refresh_token"])
    first = open_app.call(AUTHORIZER, body, component_access_token=token)
    assert set(first) == {"authorizer_access_token", "expires_in", "authorizer_refresh_token"}
    assert first["authorizer_refresh_token"] == info["authorizer_refresh_token"]
    second = open_app.call(AUTHORIZER, body, component_access_token=token)
    assert second["authorizer_access_token"] != first["authorizer_access_token"]
    assert second["authorizer_refresh_token"] == info["authorizer_refresh_token"]

    message = {"touser": "oUser", "msgtype": "text", "text": {"content": "hi"}}
    assert (
        open_app.call(SEND, message, access_token=first["authorizer_access_token"])["errcode"] == 0
    )
    clock.advance(301)
    assert (
        open_app.call(SEND, message, access_token=first["authorizer_access_token"])["errcode"]
        == 40001
    )
    assert (
        open_app.call(SEND, message, access_token=second["authorizer_access_token"])["errcode"] == 0
    )
    sent = requests.get(
        f"{open_app.base_url}/sandbox/messages", params={"app_id": open_app.app_id}
    ).json()
    assert [m["touser"] for m in sent["messages"]] == ["oUser", "oUser"]


def test_strict_mode_rotates_the_refresh_token_and_kills_the_old(open_app):
    info = open_app.authorize("wxaccount0004")
    response = open_app.control("/settings", {"strict_refresh": True})
    assert response.json()["settings"]["strict_refresh"] is True
    token = open_app.component_token()
    old = info["authorizer_refresh_token"]
    answer = open_app.call(
        AUTHORIZER, refresh_body(open_app, "wxaccount0004", old), component_access_token=token
    )
    assert answer["authorizer_refresh_token"] != old
    dead = open_app.call(
        AUTHORIZER, refresh_body(open_app, "wxaccount0004", old), component_access_token=token
    )
    assert dead["errcode"] == 61023
    new = answer["authorizer_refresh_token"]
    assert "authorizer_access_token" in open_app.call(
        AUTHORIZER, refresh_body(open_app, "wxaccount0004", new), component_access_token=token
    )


def test_reauthorization_issues_a_new_refresh_token_and_kills_the_old(open_app):
    old = open_app.authorize("wxaccount0005")["authorizer_refresh_token"]
    new = open_app.authorize("wxaccount0005")["authorizer_refresh_token"]
    assert new != old
    token = open_app.component_token()
    assert (
        open_app.call(
            AUTHORIZER, refresh_body(open_app, "wxaccount0005", old), component_access_token=token
        )["errcode"]
        == 61023
    )
    assert "authorizer_access_token" in open_app.call(
        AUTHORIZER, refresh_body(open_app, "wxaccount0005", new), component_access_token=token
    )


def test_unauthorized_kills_everything(open_app, receiver):
    info = open_app.authorize("wxaccount0006")
    result = open_app.push("unauthorized", tenant_id="wxaccount0006")
    assert result["delivered"] is True
    push = receiver.wait_for(InfoType="unauthorized")
    assert push.message["AuthorizerAppid"] == "wxaccount0006"
    token = open_app.component_token()
    body = refresh_body(open_app, "wxaccount0006", info["authorizer_refresh_token"])
    assert open_app.call(AUTHORIZER, body, component_access_token=token)["errcode"] == 61003
    message = {"touser": "oUser", "msgtype": "text", "text": {"content": "hi"}}
    assert (
        open_app.call(SEND, message, access_token=info["authorizer_access_token"])["errcode"]
        == 40001
    )
    listed = open_app.call(
        LIST,
        {"component_appid": open_app.app_id, "offset": 0, "count": 10},
        component_access_token=token,
    )
    assert listed["total_count"] == 0


def test_authorizer_info_includes_the_refresh_token(open_app):
    info = open_app.authorize("wxaccount0007", "Shop")
    answer = open_app.call(
        INFO,
        {"component_appid": open_app.app_id, "authorizer_appid": "wxaccount0007"},
        component_access_token=open_app.component_token(),
    )
    assert answer["authorizer_info"]["nick_name"] == "Shop"
    assert answer["authorizer_info"]["user_name"].startswith("gh_")
    assert (
        answer["authorization_info"]["authorizer_refresh_token"] == info["authorizer_refresh_token"]
    )
    assert answer["authorization_info"]["authorizer_appid"] == "wxaccount0007"


def test_authorizer_list_pages_and_omits_unexchanged_refresh_tokens(open_app):
    exchanged = open_app.authorize("wxaccount0008")
    open_app.approve("wxaccount0009")  # code never exchanged
    token = open_app.component_token()
    answer = open_app.call(
        LIST,
        {"component_appid": open_app.app_id, "offset": 0, "count": 500},
        component_access_token=token,
    )
    assert answer["total_count"] == 2
    rows = {row["authorizer_appid"]: row for row in answer["list"]}
    assert rows["wxaccount0008"]["refresh_token"] == exchanged["authorizer_refresh_token"]
    assert "refresh_token" not in rows["wxaccount0009"]  # §4.7
    assert isinstance(rows["wxaccount0008"]["auth_time"], int)
    page = open_app.call(
        LIST,
        {"component_appid": open_app.app_id, "offset": 1, "count": 1},
        component_access_token=token,
    )
    assert page["total_count"] == 2 and len(page["list"]) == 1
    too_many = open_app.call(
        LIST,
        {"component_appid": open_app.app_id, "offset": 0, "count": 501},
        component_access_token=token,
    )
    assert too_many["errcode"] == 40097


def test_start_push_ticket_pushes_a_ticket(open_app, receiver):
    before = len(receiver.wait_for_count(1, channel="auth"))
    body = {"component_appid": open_app.app_id, "component_secret": "component-secret"}
    assert open_app.call("/cgi-bin/component/api_start_push_ticket", body) == {
        "errcode": 0,
        "errmsg": "ok",
    }
    tickets = receiver.wait_for_count(before + 1, channel="auth")
    assert tickets[-1].message["InfoType"] == "component_verify_ticket"
    assert (
        tickets[-1].message["ComponentVerifyTicket"] != tickets[0].message["ComponentVerifyTicket"]
    )
    wrong = open_app.call(
        "/cgi-bin/component/api_start_push_ticket", {**body, "component_secret": "x"}
    )
    assert wrong["errcode"] == 40125


def test_updateauthorized_push_carries_a_new_code_and_new_refresh_token(open_app, receiver):
    old = open_app.authorize("wxaccount0010")["authorizer_refresh_token"]
    result = open_app.push("updateauthorized", tenant_id="wxaccount0010", func_ids=[1, 18])
    assert result["delivered"] is True
    push = receiver.wait_for(InfoType="updateauthorized").message
    assert push["AuthorizationCode"] == result["auth_code"]
    assert int(push["AuthorizationCodeExpiredTime"]) == int(push["CreateTime"]) + 3600  # §2
    token = open_app.component_token()
    info = open_app.call(
        QUERY,
        {"component_appid": open_app.app_id, "authorization_code": result["auth_code"]},
        component_access_token=token,
    )["authorization_info"]
    assert info["authorizer_refresh_token"] != old
    assert [f["funcscope_category"]["id"] for f in info["func_info"]] == [1, 18]


def test_component_appid_in_body_must_match_the_token(open_app):
    token = open_app.component_token()
    answer = open_app.call(
        PREAUTH, {"component_appid": "wxsomeoneelse"}, component_access_token=token
    )
    assert answer["errcode"] == 61011
