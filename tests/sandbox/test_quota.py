"""The Open Platform's daily API quotas, their resets and request ids (isv-capabilities.md §14):
an account's calls to a path are counted per Beijing day, 45009 past the path's limit,
quota/get reads the count, clear_quota (10 a month, then 48006) and clear_quota/v2 (the secret,
no token) set it back, and rid/get finds the request behind an error's rid for its account."""

from __future__ import annotations

import requests

from suite_server.sandbox import quota
from tests.sandbox.test_jsapi_api import authorizer_token

SEND = "/cgi-bin/message/custom/send"
QUOTA_GET = "/cgi-bin/openapi/quota/get"
TEXT = {"touser": "oUser", "msgtype": "text", "text": {"content": "hello"}}
ACCOUNT = "wxaccount0001"


def authorized(open_app) -> str:
    """An authorizer's access token."""
    return open_app.authorize(ACCOUNT)["authorizer_access_token"]


def limit(open_app, daily_limit, appid: str = ACCOUNT, path: str = SEND) -> None:
    response = open_app.control(
        "/quota", {"appid": appid, "cgi_path": path, "daily_limit": daily_limit}
    )
    assert response.status_code == 200, response.text


def send(open_app, token: str) -> dict:
    return open_app.call(SEND, TEXT, access_token=token)


def used(open_app, token: str, path: str = SEND) -> dict:
    answer = open_app.call(QUOTA_GET, {"cgi_path": path}, access_token=token)
    assert answer["errcode"] == 0, answer
    return answer["quota"]


def test_calls_past_the_daily_limit_get_45009_until_the_beijing_day_ends(open_app, clock):
    info = open_app.authorize(ACCOUNT)
    token = info["authorizer_access_token"]
    limit(open_app, 3)
    assert [send(open_app, token)["errcode"] for _ in range(4)] == [0, 0, 0, 45009]
    assert used(open_app, token) == {"daily_limit": 3, "used": 4, "remain": 0}
    assert used(open_app, token, "/cgi-bin/component/api_get_authorizer_info")["used"] == 0

    now = clock()
    midnight = (now + quota.BEIJING) // 86400 * 86400 + 86400 - quota.BEIJING
    clock.advance(midnight - now - 1)
    token = authorizer_token(open_app, info["authorizer_refresh_token"], ACCOUNT)
    assert send(open_app, token)["errcode"] == 45009  # 23:59:59 in Beijing
    clock.advance(1)
    assert send(open_app, token)["errcode"] == 0  # a new day
    assert used(open_app, token)["used"] == 1


def test_quota_get_knows_the_platforms_paths(open_app):
    token = authorized(open_app)
    assert used(open_app, token)["daily_limit"] > 0  # a path with no limit set reads the default
    for path, errcode in (("/cgi-bin/nope", 76021), ("nope", 76021), ("/sns/oauth2/x", 76022)):
        answer = open_app.call(QUOTA_GET, {"cgi_path": path}, access_token=token)
        assert answer["errcode"] == errcode, (path, answer)
    assert open_app.call(QUOTA_GET, {"cgi_path": SEND})["errcode"] == 41001
    assert open_app.call(QUOTA_GET, {"cgi_path": SEND}, access_token="dead")["errcode"] == 40001


def test_clear_quota_resets_the_day_ten_times_a_month(open_app):
    token = authorized(open_app)
    limit(open_app, 1)
    for _ in range(quota.CLEARS_A_MONTH):
        assert send(open_app, token)["errcode"] == 0
        assert send(open_app, token)["errcode"] == 45009
        assert (
            open_app.call("/cgi-bin/clear_quota", {"appid": ACCOUNT}, access_token=token)["errcode"]
            == 0
        )
    answer = open_app.call("/cgi-bin/clear_quota", {"appid": ACCOUNT}, access_token=token)
    assert answer["errcode"] == 48006
    state = open_app.control("/quota?appid=" + ACCOUNT, method="GET").json()
    assert state["clears_left"] == 0 and state["limits"] == {SEND: 1}
    # Only the token's own account.
    other = open_app.call("/cgi-bin/clear_quota", {"appid": "wxsomeoneelse"}, access_token=token)
    assert other["errcode"] == 40013


def test_clear_quota_v2_takes_the_component_secret(open_app):
    token = authorized(open_app)
    limit(open_app, 1)
    send(open_app, token)
    assert send(open_app, token)["errcode"] == 45009
    v2 = "/cgi-bin/component/clear_quota/v2"
    body = {"component_appid": open_app.app_id, "appsecret": "component-secret"}
    assert open_app.call(v2, {**body, "appsecret": "wrong", "appid": ACCOUNT})["errcode"] == 40125
    assert open_app.call(v2, {**body, "appid": "wxnotmine"})["errcode"] == 61003
    assert open_app.call(v2, {**body, "appid": ACCOUNT})["errcode"] == 0
    assert send(open_app, token)["errcode"] == 0
    assert open_app.call(v2, body)["errcode"] == 0  # the component's own quota


def test_rid_get_finds_an_errors_request_for_its_account_only(open_app):
    token = authorized(open_app)
    limit(open_app, 0)
    refused = send(open_app, token)
    assert refused["errcode"] == 45009
    rid = refused["errmsg"].rsplit("rid: ", 1)[1]
    found = open_app.call("/cgi-bin/openapi/rid/get", {"rid": rid}, access_token=token)
    assert found["errcode"] == 0, found
    request = found["request"]
    assert request["request_url"] == SEND and "hello" in request["request_body"]
    assert "45009" in request["response_body"] and "access_token" not in request["request_url"]
    component = open_app.component_token()
    foreign = open_app.call("/cgi-bin/openapi/rid/get", {"rid": rid}, access_token=component)
    assert foreign["errcode"] == 76003
    for rid_value, errcode in (("", 76002), ("0123456789abcdef", 76001)):
        answer = open_app.call("/cgi-bin/openapi/rid/get", {"rid": rid_value}, access_token=token)
        assert answer["errcode"] == errcode


def test_the_control_api_refuses_bad_limits(open_app):
    for body in (
        {"appid": ACCOUNT, "cgi_path": SEND, "daily_limit": -1},
        {"appid": ACCOUNT, "cgi_path": SEND, "daily_limit": "5"},
        {"appid": ACCOUNT, "cgi_path": "nope", "daily_limit": 5},
        {"cgi_path": SEND, "daily_limit": 5},
    ):
        response = requests.post(f"{open_app.base_url}/sandbox/quota", json=body, timeout=10)
        assert response.status_code == 400, body
    assert open_app.control("/quota", method="GET").status_code == 400
