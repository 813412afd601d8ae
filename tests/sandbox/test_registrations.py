"""Open Platform fast registration (isv-capabilities.md §10, open-platform.md §2) over real HTTP:
the create / search / query APIs of each kind, the control action that completes a task, and the
pushes that follow (checked and decrypted by the stand-in server with wechatpy)."""

from __future__ import annotations

import pytest

ENTERPRISE = "/cgi-bin/component/fastregisterweapp"
PERSONAL = "/wxa/component/fastregisterpersonalweapp"
BETA = "/wxa/component/fastregisterbetaweapp"
QUERY = "/cgi-bin/component/api_query_auth"
AUTHORIZER = "/cgi-bin/component/api_authorizer_token"
INFO = "/cgi-bin/component/api_get_authorizer_info"

COMPANY = {
    "name": "深圳市某某科技有限公司",
    "code": "91440300MA5XXXXXXX",
    "code_type": 1,
    "legal_persona_wechat": "legalwx",
    "legal_persona_name": "张三",
    "component_phone": "13800000000",
}
PERSON = {"idname": "李四", "wxuser": "lisi_wx", "component_phone": "13900000000"}


def search_body(company=COMPANY):
    return {k: company[k] for k in ("name", "legal_persona_wechat", "legal_persona_name")}


def complete(open_app, **body):
    return open_app.control("/registrations/complete", {"app_id": open_app.app_id, **body})


def listed(open_app):
    response = open_app.control(f"/registrations?app_id={open_app.app_id}", method="GET")
    assert response.status_code == 200, response.text
    return response.json()["registrations"]


def errcode(open_app, path, body, **params):
    return open_app.call(path, body, **params)["errcode"]


def exchange(open_app, code):
    return open_app.call(
        QUERY,
        {"component_appid": open_app.app_id, "authorization_code": code},
        component_access_token=open_app.component_token(),
    )


def test_enterprise_create_and_search(open_app):
    token = open_app.component_token()
    answer = open_app.call(ENTERPRISE, COMPANY, action="create", component_access_token=token)
    assert answer == {"errcode": 0, "errmsg": "ok"}
    # The same name again while the first task is pending: 89249 (access_token= works too).
    again = open_app.call(ENTERPRISE, COMPANY, action="create", access_token=token)
    assert again["errcode"] == 89249
    other = {**COMPANY, "name": "另一家公司", "code_type": "2"}
    assert open_app.call(ENTERPRISE, other, action="create", access_token=token)["errcode"] == 0

    found = open_app.call(ENTERPRISE, search_body(), action="search", access_token=token)
    assert found["errcode"] == 0
    unknown = {**search_body(), "legal_persona_name": "王五"}
    assert errcode(open_app, ENTERPRISE, unknown, action="search", access_token=token) == 89250

    rows = listed(open_app)
    assert [(r["kind"], r["status"], r["request"]["name"]) for r in rows] == [
        ("enterprise", "pending", COMPANY["name"]),
        ("enterprise", "pending", "另一家公司"),
    ]
    assert rows[1]["request"]["code_type"] == 2 and rows[0]["appid"] is None


@pytest.mark.parametrize(
    "change",
    [
        {"name": None},
        {"code": ""},
        {"code_type": 4},
        {"code_type": None},
        {"legal_persona_wechat": 7},
        {"legal_persona_name": None},
    ],
)
def test_enterprise_create_needs_every_field(open_app, change):
    body = {k: v for k, v in {**COMPANY, **change}.items() if v is not None}
    token = open_app.component_token()
    assert open_app.call(ENTERPRISE, body, action="create", access_token=token)["errcode"] == 40097


def test_platform_errors(open_app):
    token = open_app.component_token()
    assert open_app.call(ENTERPRISE, COMPANY, action="create")["errcode"] == 41001
    assert errcode(open_app, ENTERPRISE, COMPANY, action="create", access_token="x") == 40001
    assert open_app.call(ENTERPRISE, COMPANY, access_token=token)["errcode"] == 40097  # no action
    assert open_app.call(ENTERPRISE, COMPANY, action="nope", access_token=token)["errcode"] == 40097
    assert open_app.call(PERSONAL, PERSON, action="search", access_token=token)["errcode"] == 40097
    got = open_app.call(ENTERPRISE, method="GET", action="create", access_token=token)
    assert got["errcode"] == 43002
    assert open_app.call(BETA, {"name": "试用"}, access_token=token)["errcode"] == 40097
    half = {"idname": "x"}
    assert errcode(open_app, PERSONAL, half, action="create", access_token=token) == 40097
    assert open_app.call(PERSONAL, {}, action="query", access_token=token)["errcode"] == 40097
    unknown = {"taskid": "nope"}
    assert errcode(open_app, PERSONAL, unknown, action="query", access_token=token) == 89250
    # Counted like every platform API, under the view's name.
    calls = open_app.control("/calls", method="GET").json()["by_endpoint"]
    assert calls["fastregisterweapp"] >= 5 and calls["fastregisterbetaweapp"] == 1


def test_enterprise_success_makes_an_account_and_an_exchangeable_code(open_app, receiver):
    token = open_app.component_token()
    open_app.call(ENTERPRISE, COMPANY, action="create", access_token=token)
    response = complete(open_app, kind="enterprise", name=COMPANY["name"], appid="wxnewmini0001")
    assert response.status_code == 200, response.text
    result = response.json()
    registration, (push,) = result["registration"], result["pushes"]
    assert registration["status"] == "succeeded" and registration["status_code"] == 0
    assert registration["appid"] == "wxnewmini0001"
    assert push["kind"] == "notify_third_fasteregister" and push["delivered"]

    got = receiver.wait_for(InfoType="notify_third_fasteregister")
    assert got.error is None and got.channel == "auth"
    message = got.message
    assert message["AppId"] == open_app.app_id and int(message["CreateTime"]) > 0
    assert message["appid"] == "wxnewmini0001" and message["status"] == "0"
    assert message["msg"] == "OK" and message["auth_code"].startswith("queryauthcode@@@")
    assert message["auth_code"] == push["auth_code"]
    assert "taskid" not in message
    info = {**COMPANY, "code_type": "1"}
    assert message["info"] == info

    # The code exchanges exactly once, into the new account and its refresh token.
    exchanged = exchange(open_app, message["auth_code"])["authorization_info"]
    assert exchanged["authorizer_appid"] == "wxnewmini0001"
    assert exchanged["authorizer_refresh_token"].startswith("refreshtoken@@@")
    assert exchange(open_app, message["auth_code"])["errcode"] == 61009
    refreshed = open_app.call(
        AUTHORIZER,
        {
            "component_appid": open_app.app_id,
            "authorizer_appid": "wxnewmini0001",
            "authorizer_refresh_token": exchanged["authorizer_refresh_token"],
        },
        component_access_token=open_app.component_token(),
    )
    assert refreshed["authorizer_access_token"]
    info = open_app.call(
        INFO,
        {"component_appid": open_app.app_id, "authorizer_appid": "wxnewmini0001"},
        component_access_token=open_app.component_token(),
    )
    assert info["authorizer_info"]["nick_name"] == COMPANY["name"]
    assert "MiniProgramInfo" in info["authorizer_info"]

    # The task is done: search still finds it, a second completion is refused, the name is free.
    assert errcode(open_app, ENTERPRISE, search_body(), action="search", access_token=token) == 0
    assert complete(open_app, kind="enterprise", name=COMPANY["name"]).status_code == 409
    assert open_app.call(ENTERPRISE, COMPANY, action="create", access_token=token)["errcode"] == 0
    assert [r["status"] for r in listed(open_app)] == ["succeeded", "pending"]


def test_personal_create_query_and_success(open_app, receiver):
    token = open_app.component_token()
    created = open_app.call(PERSONAL, PERSON, action="create", access_token=token)
    assert created["errcode"] == 0 and created["taskid"] and created["status_msg"]
    assert created["authorize_url"].startswith(open_app.base_url)
    taskid = created["taskid"]
    query = open_app.call(PERSONAL, {"taskid": taskid}, action="query", access_token=token)
    assert query["errcode"] == 0 and query["status"] == 0 and query["taskid"] == taskid
    # The authorize_url opens the task in the sandbox.
    page = open_app.control(created["authorize_url"].split("/sandbox")[1], method="GET")
    assert page.json()["registration"]["taskid"] == taskid

    result = complete(open_app, kind="personal", taskid=taskid).json()
    appid = result["registration"]["appid"]
    assert appid.startswith("wx")  # generated
    message = receiver.wait_for(InfoType="notify_third_fasteregister").message
    assert message["taskid"] == taskid and message["appid"] == appid
    assert message["status"] == "0" and message["msg"] == "OK"
    assert message["info"] == PERSON
    assert list(message["info"]) == ["wxuser", "idname", "component_phone"]
    exchanged = exchange(open_app, message["auth_code"])["authorization_info"]
    assert exchanged["authorizer_appid"] == appid

    query = open_app.call(PERSONAL, {"taskid": taskid}, action="query", access_token=token)
    assert query["status"] == 1


def test_failure_pushes_the_reason_and_makes_no_account(open_app, receiver):
    token = open_app.component_token()
    open_app.call(ENTERPRISE, COMPANY, action="create", access_token=token)
    before = open_app.control("/tenants", method="GET").json()
    reason = "法人未在24小时内完成人脸核身"
    result = complete(
        open_app, kind="enterprise", name=COMPANY["name"], status=100001, msg=reason
    ).json()
    assert result["registration"]["status"] == "failed"
    assert result["registration"]["appid"] is None
    message = receiver.wait_for(InfoType="notify_third_fasteregister").message
    assert message["status"] == "100001" and message["msg"] == reason
    assert not message["appid"] and not message["auth_code"]
    assert message["info"]["name"] == COMPANY["name"]
    assert open_app.control("/tenants", method="GET").json() == before
    # The name can be registered again.
    assert open_app.call(ENTERPRISE, COMPANY, action="create", access_token=token)["errcode"] == 0

    created = open_app.call(PERSONAL, PERSON, action="create", access_token=token)
    complete(open_app, kind="personal", taskid=created["taskid"], status=-1, msg="用户拒绝")
    query = open_app.call(
        PERSONAL, {"taskid": created["taskid"]}, action="query", access_token=token
    )
    assert query["status"] == -1 and query["status_msg"] == "用户拒绝"


def test_beta_success_pushes_the_result_then_authorized(open_app, receiver):
    token = open_app.component_token()
    created = open_app.call(BETA, {"name": "试用小程序", "openid": "oUser1"}, access_token=token)
    assert created["errcode"] == 0 and created["unique_id"] and created["authorize_url"]
    unique_id = created["unique_id"]
    assert listed(open_app)[0]["unique_id"] == unique_id

    result = complete(open_app, kind="beta", unique_id=unique_id).json()
    appid = result["registration"]["appid"]
    kinds = [p["kind"] for p in result["pushes"]]
    assert kinds == ["notify_third_fastregisterbetaapp", "authorized"]

    receiver.wait_for(InfoType="authorized")
    ordered = [
        r.message
        for r in receiver.snapshot()
        if r.message and r.message["InfoType"] != "component_verify_ticket"
    ]
    beta, authorized = ordered
    assert beta["InfoType"] == "notify_third_fastregisterbetaapp"
    assert beta["appid"] == appid and beta["status"] == "0" and beta["msg"] == "OK"
    assert beta["info"] == {"unique_id": unique_id, "name": "试用小程序"}
    assert "auth_code" not in beta
    assert authorized["AuthorizerAppid"] == appid
    code = authorized["AuthorizationCode"]
    assert exchange(open_app, code)["authorization_info"]["authorizer_appid"] == appid
    assert exchange(open_app, code)["errcode"] == 61009


def test_beta_failure_and_expiry(open_app, receiver, clock):
    token = open_app.component_token()
    open_app.call(BETA, {"name": "试用一", "openid": "oUser1"}, access_token=token)
    result = complete(open_app, kind="beta", name="试用一", status=-1, msg="rejected").json()
    assert [p["kind"] for p in result["pushes"]] == ["notify_third_fastregisterbetaapp"]
    message = receiver.wait_for(InfoType="notify_third_fastregisterbetaapp").message
    assert message["status"] == "-1" and message["msg"] == "rejected" and not message["appid"]

    open_app.call(BETA, {"name": "试用二", "openid": "oUser1"}, access_token=token)
    clock.advance(24 * 3600)
    response = complete(open_app, kind="beta", name="试用二")
    assert response.status_code == 409 and "expired" in response.json()["error"]


def test_bad_control_input(open_app, wecom):
    token = open_app.component_token()
    open_app.call(ENTERPRISE, COMPANY, action="create", access_token=token)
    open_app.call(BETA, {"name": "同名", "openid": "o1"}, access_token=token)
    open_app.call(BETA, {"name": "同名", "openid": "o2"}, access_token=token)
    name = COMPANY["name"]
    cases = [
        ({"kind": "enterprise"}, 400),  # no name
        ({"kind": "other", "name": name}, 400),
        ({"kind": "enterprise", "name": name, "status": "0"}, 400),
        ({"kind": "enterprise", "name": name, "status": True}, 400),
        ({"kind": "enterprise", "name": name, "msg": 5}, 400),
        ({"kind": "enterprise", "name": name, "appid": "bad id!"}, 400),
        ({"kind": "enterprise", "name": name, "appid": "wxx", "status": 1}, 400),
        ({"kind": "enterprise", "name": name, "appid": open_app.app_id}, 409),
        ({"kind": "enterprise", "name": "nobody"}, 404),
        ({"kind": "personal", "taskid": "nope"}, 404),
        ({"kind": "beta", "name": "同名"}, 409),  # ambiguous: give unique_id
    ]
    for body, status in cases:
        response = complete(open_app, **body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]
    assert open_app.control("/registrations/complete", {"kind": "beta"}).status_code == 400
    unknown = open_app.control("/registrations/complete", {"app_id": "wxnobody", "kind": "beta"})
    assert unknown.status_code == 404
    wecom_app = open_app.control(
        "/registrations/complete", {"app_id": wecom.app_id, "kind": "beta", "name": "x"}
    )
    assert wecom_app.status_code == 400
    not_json = open_app.control("/registrations/complete", method="POST")
    assert not_json.status_code == 400
    assert open_app.control("/registrations", method="GET").status_code == 400
    assert open_app.control("/registrations?app_id=wxnobody", method="GET").status_code == 404
    assert open_app.control("/registrations/reg999999", method="GET").status_code == 404
    # Nothing was completed on the way.
    assert {r["status"] for r in listed(open_app)} == {"pending"}
