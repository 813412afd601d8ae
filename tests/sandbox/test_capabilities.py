"""An Open authorizer's capabilities and account state, changed from the control API and read
through the platform's API over real HTTP (isv-capabilities.md §13): func_info, account_status,
service and verify types, options; narrowing the granted sets pushes `updateauthorized`."""

from __future__ import annotations

import pytest

ACCOUNT = "wxaccount0001"
INFO = "/cgi-bin/component/api_get_authorizer_info"
QUERY = "/cgi-bin/component/api_query_auth"
REFRESH = "/cgi-bin/component/api_authorizer_token"
GET_OPTION = "/cgi-bin/component/get_authorizer_option"
SET_OPTION = "/cgi-bin/component/set_authorizer_option"
DEFAULT_SETS = [1, 2, 3, 4, 7, 11, 15]  # what a new sandbox authorizer is granted


def capabilities_path(open_app, appid: str = ACCOUNT) -> str:
    return f"/tenants/{open_app.app_id}/{appid}/capabilities"


def change(open_app, appid: str = ACCOUNT, **body):
    return open_app.control(capabilities_path(open_app, appid), body)


def changed(open_app, **body) -> dict:
    response = change(open_app, **body)
    assert response.status_code == 200, response.text
    return response.json()


def info(open_app, token: str, appid: str = ACCOUNT) -> dict:
    body = {"component_appid": open_app.app_id, "authorizer_appid": appid}
    return open_app.call(INFO, body, component_access_token=token)


def ids(func_info: list[dict]) -> list[int]:
    return [f["funcscope_category"]["id"] for f in func_info]


def test_the_authorizer_info_reflects_each_change(open_app, receiver):
    open_app.authorize(ACCOUNT)
    token = open_app.component_token()
    before = info(open_app, token)
    assert before["authorizer_info"]["account_status"] == 1
    assert before["authorizer_info"]["service_type_info"] == {"id": 2}
    assert before["authorizer_info"]["verify_type_info"] == {"id": 0}
    assert ids(before["authorization_info"]["func_info"]) == DEFAULT_SETS
    pushes = len(receiver.snapshot())

    state = changed(open_app, account_status=16)
    assert state["account_status"] == 16 and state["changed"] == ["account_status"]
    assert state["push"] is None
    assert info(open_app, token)["authorizer_info"]["account_status"] == 16

    state = changed(open_app, service_type=0, verify_type=-1)
    assert (state["service_type"], state["verify_type"]) == (0, -1)
    answer = info(open_app, token)["authorizer_info"]
    assert answer["service_type_info"] == {"id": 0}
    assert answer["verify_type_info"] == {"id": -1}

    state = changed(open_app, func_info=[18, 1, 1], push=False)
    assert state["func_info"] == [1, 18] and state["push"] is None
    assert ids(info(open_app, token)["authorization_info"]["func_info"]) == [1, 18]

    for status in (14, 18, 19, 1):
        assert changed(open_app, account_status=status)["account_status"] == status
        assert info(open_app, token)["authorizer_info"]["account_status"] == status
    # Nothing above was pushed: the platform tells no one about status or type changes, and
    # push false kept the func_info change quiet.
    assert len(receiver.snapshot()) == pushes

    shown = open_app.control(capabilities_path(open_app), method="GET").json()
    assert shown == {
        "component_appid": open_app.app_id,
        "authorizer_appid": ACCOUNT,
        "func_info": [1, 18],
        "account_status": 1,
        "service_type": 0,
        "verify_type": -1,
        "options": {"location_report": "0", "voice_recognize": "0", "customer_service": "0"},
    }


def test_a_mini_program_has_its_own_types(open_app):
    open_app.approve(ACCOUNT, account_type="mini_program")
    token = open_app.component_token()
    assert info(open_app, token)["authorizer_info"]["service_type_info"] == {"id": 0}
    assert changed(open_app, service_type=12)["service_type"] == 12  # a trial (试用) account
    assert info(open_app, token)["authorizer_info"]["service_type_info"] == {"id": 12}
    assert change(open_app, service_type=2).status_code == 400  # a service account's type
    assert change(open_app, verify_type=3).status_code == 400


def test_narrowing_func_info_pushes_updateauthorized_whose_code_gives_the_new_sets(
    open_app, receiver
):
    old = open_app.authorize(ACCOUNT)
    state = changed(open_app, func_info=[1, 15])
    assert state["changed"] == ["func_info"]
    result = state["push"]
    assert result["delivered"] is True and result["kind"] == "updateauthorized"
    push = receiver.wait_for(InfoType="updateauthorized").message
    assert push["AuthorizerAppid"] == ACCOUNT
    assert push["AuthorizationCode"] == result["auth_code"]
    assert push["AuthorizationCode"].startswith("queryauthcode@@@")

    token = open_app.component_token()
    # Until the code is exchanged the account already reads its new sets.
    assert ids(info(open_app, token)["authorization_info"]["func_info"]) == [1, 15]
    body = {"component_appid": open_app.app_id, "authorization_code": push["AuthorizationCode"]}
    exchanged = open_app.call(QUERY, body, component_access_token=token)["authorization_info"]
    assert ids(exchanged["func_info"]) == [1, 15]
    assert exchanged["authorizer_refresh_token"] != old["authorizer_refresh_token"]
    assert open_app.call(QUERY, body, component_access_token=token)["errcode"] == 61009  # once

    # As with any re-authorization, the old refresh token is dead and the new one works.
    refresh = {"component_appid": open_app.app_id, "authorizer_appid": ACCOUNT}
    stale = {**refresh, "authorizer_refresh_token": old["authorizer_refresh_token"]}
    assert open_app.call(REFRESH, stale, component_access_token=token)["errcode"] == 61023
    fresh = {**refresh, "authorizer_refresh_token": exchanged["authorizer_refresh_token"]}
    assert "authorizer_access_token" in open_app.call(REFRESH, fresh, component_access_token=token)


def test_the_same_func_info_again_pushes_nothing(open_app, receiver):
    open_app.authorize(ACCOUNT)
    pushes = len(receiver.snapshot())
    state = changed(open_app, func_info=list(reversed(DEFAULT_SETS)))
    assert state["changed"] == [] and state["push"] is None
    assert changed(open_app, account_status=1)["changed"] == []  # 1 already
    assert len(receiver.snapshot()) == pushes


def test_options_are_read_and_set_with_the_component_token(open_app):
    open_app.authorize(ACCOUNT)
    token = open_app.component_token()
    base = {"component_appid": open_app.app_id, "authorizer_appid": ACCOUNT}

    def get(name: str) -> dict:
        return open_app.call(GET_OPTION, {**base, "option_name": name}, access_token=token)

    assert get("location_report") == {
        "authorizer_appid": ACCOUNT,
        "option_name": "location_report",
        "option_value": "0",
    }
    for name, value in (
        ("location_report", "2"),
        ("voice_recognize", "1"),
        ("customer_service", 1),
    ):
        body = {**base, "option_name": name, "option_value": value}
        assert open_app.call(SET_OPTION, body, access_token=token) == {"errcode": 0, "errmsg": "ok"}
        assert get(name)["option_value"] == str(value)
    shown = open_app.control(capabilities_path(open_app), method="GET").json()["options"]
    assert shown == {"location_report": "2", "voice_recognize": "1", "customer_service": "1"}

    # The legacy paths (wechatpy) and component_access_token= answer the same.
    legacy = open_app.call(
        "/cgi-bin/component/api_get_authorizer_option",
        {**base, "option_name": "voice_recognize"},
        component_access_token=token,
    )
    assert legacy["option_value"] == "1"


def test_options_with_the_authorizer_token_name_its_own_account(open_app):
    access = open_app.authorize(ACCOUNT)["authorizer_access_token"]
    body = {"option_name": "customer_service", "option_value": "1"}
    assert open_app.call(SET_OPTION, body, access_token=access)["errcode"] == 0
    answer = open_app.call(GET_OPTION, {"option_name": "customer_service"}, access_token=access)
    assert answer == {
        "authorizer_appid": ACCOUNT,
        "option_name": "customer_service",
        "option_value": "1",
    }
    other = {"option_name": "customer_service", "authorizer_appid": "wxsomeoneelse"}
    assert open_app.call(GET_OPTION, other, access_token=access)["errcode"] == 40013


@pytest.mark.parametrize(
    ("path", "body", "errcode"),
    [
        (GET_OPTION, {"option_name": "nope"}, 40097),
        (GET_OPTION, {}, 40097),
        (SET_OPTION, {"option_name": "location_report", "option_value": "3"}, 40097),
        (SET_OPTION, {"option_name": "voice_recognize", "option_value": "2"}, 40097),
        (SET_OPTION, {"option_name": "voice_recognize"}, 40097),
        (SET_OPTION, {"option_name": "voice_recognize", "option_value": True}, 40097),
        (GET_OPTION, {"option_name": "voice_recognize", "authorizer_appid": ""}, 41002),
        (GET_OPTION, {"option_name": "voice_recognize", "authorizer_appid": "wxnobody"}, 61003),
    ],
)
def test_bad_option_calls_get_platform_errcodes(open_app, path, body, errcode):
    open_app.authorize(ACCOUNT)
    token = open_app.component_token()
    full = {"component_appid": open_app.app_id, "authorizer_appid": ACCOUNT, **body}
    assert open_app.call(path, full, access_token=token)["errcode"] == errcode


def test_option_calls_need_a_live_token_and_post(open_app):
    open_app.authorize(ACCOUNT)
    body = {"authorizer_appid": ACCOUNT, "option_name": "voice_recognize"}
    assert open_app.call(GET_OPTION, body)["errcode"] == 41001
    assert open_app.call(GET_OPTION, body, access_token="nope")["errcode"] == 40001
    token = open_app.component_token()
    answer = open_app.call(GET_OPTION, method="GET", access_token=token)
    assert answer["errcode"] == 43002


@pytest.mark.parametrize(
    "body",
    [
        {"account_status": 2},
        {"account_status": "16"},
        {"account_status": True},
        {"account_status": 16.0},
        {"func_info": "1,2"},
        {"func_info": [1, "2"]},
        {"func_info": [0]},
        {"func_info": [1000]},
        {"func_info": [True]},
        {"func_info": [{"funcscope_category": {"id": 1}}]},
        {"service_type": 7},
        {"verify_type": -2},
        {"push": "yes", "func_info": [1]},
        {"func_ids": [1]},
    ],
)
def test_bad_control_input_is_a_400(open_app, body):
    open_app.authorize(ACCOUNT)
    response = change(open_app, **body)
    assert response.status_code == 400, response.text
    assert "error" in response.json()
    assert changed(open_app)["func_info"] == DEFAULT_SETS  # nothing changed on the way


def test_unknown_or_revoked_accounts(open_app):
    open_app.authorize(ACCOUNT)
    assert change(open_app, "wxnobody", account_status=16).status_code == 404
    response = open_app.control(f"/tenants/wxnocomponent/{ACCOUNT}/capabilities", {})
    assert response.status_code == 404
    open_app.push("unauthorized", tenant_id=ACCOUNT)
    assert change(open_app, account_status=16).status_code == 409
