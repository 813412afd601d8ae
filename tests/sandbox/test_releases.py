"""Mini-program code releases (isv-capabilities.md §12) over real HTTP: the component's template
store, each account's version machine and its errcodes, audits decided after a delay with
weapp_audit_* pushes to the account's message URL, the monthly audit quota, release, gray release
and revert, and the control API."""

from __future__ import annotations

import json

import pytest

QUERY = "/cgi-bin/component/api_query_auth"
EXT = json.dumps({"extAppid": "wxmini0001", "ext": {"tenant": "t1"}})


@pytest.fixture
def ctoken(open_app) -> str:
    return open_app.component_token()


def authorize_mini(open_app, appid: str, ctoken: str) -> str:
    """A mini program authorizes the component; its authorizer_access_token."""
    code = open_app.approve(appid, f"Mini {appid}", account_type="mini_program")["auth_code"]
    info = open_app.call(
        QUERY,
        {"component_appid": open_app.app_id, "authorization_code": code},
        component_access_token=ctoken,
    )["authorization_info"]
    return info["authorizer_access_token"]


def draft(open_app, version: str = "1.0.0", desc: str = "first") -> dict:
    body = {"app_id": open_app.app_id, "user_version": version, "user_desc": desc}
    response = open_app.control("/templates/drafts", body)
    assert response.status_code == 201, response.text
    return response.json()["draft"]


def template(open_app, ctoken: str, version: str = "1.0.0") -> int:
    """A draft made into a template; its template_id."""
    draft_id = draft(open_app, version)["draft_id"]
    assert open_app.call("/wxa/addtotemplate", {"draft_id": draft_id}, access_token=ctoken) == {
        "errcode": 0,
        "errmsg": "ok",
    }
    rows = open_app.call("/wxa/gettemplatelist", method="GET", access_token=ctoken)
    return [r for r in rows["template_list"] if r["draft_id"] == draft_id][-1]["template_id"]


def wxa(open_app, token: str, path: str, body: dict | None = None, method: str = "POST") -> dict:
    return open_app.call(f"/wxa/{path}", body, method=method, access_token=token)


def commit(open_app, token: str, template_id: int, version: str = "1.0.0") -> dict:
    body = {"template_id": template_id, "ext_json": EXT, "user_version": version, "user_desc": "d"}
    return wxa(open_app, token, "commit", body)


def audit_push(receiver, appid: str, event: str, count: int = 1):
    pushes = receiver.wait_for_count(count, channel="msg", Event=event)
    found = [p for p in pushes if p.path.endswith(f"/msg/{appid}")]
    assert len(found) >= count
    return found[-1]


def settings(open_app, **values) -> None:
    response = open_app.control("/settings", values)
    assert response.status_code == 200, response.text


def releases(open_app) -> dict:
    response = open_app.control(f"/releases?app_id={open_app.app_id}", method="GET")
    assert response.status_code == 200, response.text
    return response.json()


def test_template_store(open_app, ctoken):
    assert wxa(open_app, ctoken, "gettemplatedraftlist", method="GET")["draft_list"] == []
    first = draft(open_app, "1.0.0", "first")
    listed = wxa(open_app, ctoken, "gettemplatedraftlist", method="GET")["draft_list"]
    assert listed == [first]
    assert set(first) == {
        "draft_id",
        "user_version",
        "user_desc",
        "create_time",
        "source_miniprogram_appid",
        "source_miniprogram",
        "developer",
    }
    # Unknown draft: 85064 (template/draft not found); bad template_type: 40097.
    assert wxa(open_app, ctoken, "addtotemplate", {"draft_id": 999})["errcode"] == 85064
    assert wxa(open_app, ctoken, "addtotemplate", {})["errcode"] == 85064
    body = {"draft_id": first["draft_id"], "template_type": 7}
    assert wxa(open_app, ctoken, "addtotemplate", body)["errcode"] == 40097
    # The platform takes ids as strings too.
    body = {"draft_id": str(first["draft_id"])}
    assert wxa(open_app, ctoken, "addtotemplate", body)["errcode"] == 0
    body = {"draft_id": first["draft_id"], "template_type": 1}
    assert wxa(open_app, ctoken, "addtotemplate", body)["errcode"] == 0
    rows = wxa(open_app, ctoken, "gettemplatelist", method="GET")["template_list"]
    assert [r["template_type"] for r in rows] == [0, 1]
    assert rows[0]["user_version"] == "1.0.0" and rows[0]["user_desc"] == "first"
    assert {"template_id", "create_time", "source_miniprogram_appid"} <= set(rows[0])
    standard = open_app.call(
        "/wxa/gettemplatelist", method="GET", access_token=ctoken, template_type="1"
    )["template_list"]
    assert [r["template_id"] for r in standard] == [rows[1]["template_id"]]
    # Delete: ok once, then 85064.
    body = {"template_id": rows[0]["template_id"]}
    assert wxa(open_app, ctoken, "deletetemplate", body)["errcode"] == 0
    assert wxa(open_app, ctoken, "deletetemplate", body)["errcode"] == 85064
    # component_access_token works too; an authorizer token does not.
    listed = open_app.call("/wxa/gettemplatelist", method="GET", component_access_token=ctoken)
    assert len(listed["template_list"]) == 1
    atoken = authorize_mini(open_app, "wxmini0001", ctoken)
    assert wxa(open_app, atoken, "gettemplatelist", method="GET")["errcode"] == 40001
    # Control API input errors are 4xx JSON.
    bad = open_app.control("/templates/drafts", {"app_id": open_app.app_id})
    assert bad.status_code == 400 and "user_version" in bad.json()["error"]
    unknown = open_app.control("/templates/drafts", {"app_id": "nobody", "user_version": "1"})
    assert unknown.status_code == 404


def test_commit_and_audit_pass_push_and_release(open_app, ctoken, receiver):
    token = authorize_mini(open_app, "wxmini0001", ctoken)
    template_id = template(open_app, ctoken)
    # Nothing committed yet: submit_audit 85086; nothing audited: release 85019, latest 85058.
    assert wxa(open_app, token, "submit_audit", {})["errcode"] == 85086
    assert wxa(open_app, token, "release", {})["errcode"] == 85019
    assert wxa(open_app, token, "get_latest_auditstatus", method="GET")["errcode"] == 85058
    # commit's errors: unknown template 85014, ext_json not JSON 85048, no user_version 85015.
    assert commit(open_app, token, 999)["errcode"] == 85014
    body = {"template_id": template_id, "ext_json": "{not json", "user_version": "1.0.0"}
    assert wxa(open_app, token, "commit", body)["errcode"] == 85048
    body = {"template_id": template_id, "ext_json": EXT}
    assert wxa(open_app, token, "commit", body)["errcode"] == 85015
    assert commit(open_app, token, template_id)["errcode"] == 0
    assert releases(open_app)["accounts"][0]["trial"]["user_version"] == "1.0.0"

    # audit_delay 0 (default): decided at once, in the background, and pushed.
    answer = wxa(open_app, token, "submit_audit", {"item_list": [{"address": "pages/index"}]})
    auditid = answer["auditid"]
    push = audit_push(receiver, "wxmini0001", "weapp_audit_success")
    assert push.error is None
    tenants = open_app.control("/tenants", method="GET").json()["tenants"]
    gh_id = next(t["user_name"] for t in tenants if t["tenant_id"] == "wxmini0001")
    message = push.message
    assert message["MsgType"] == "event" and message["ToUserName"] == gh_id
    assert gh_id.startswith("gh_") and message["FromUserName"]
    assert int(message["SuccTime"]) > 0 and int(message["CreateTime"]) > 0
    assert push.path == f"/callback/open/{open_app.app_id}/msg/wxmini0001"
    status = wxa(open_app, token, "get_auditstatus", {"auditid": auditid})
    assert status["errcode"] == 0 and status["status"] == 0
    assert wxa(open_app, token, "get_auditstatus", {"auditid": 1})["errcode"] == 85012
    latest = wxa(open_app, token, "get_latest_auditstatus", method="GET")
    assert latest["auditid"] == auditid and latest["status"] == 0
    assert latest["user_version"] == "1.0.0" and latest["submit_audit_time"] > 0
    assert releases(open_app)["accounts"][0]["passed"]["user_version"] == "1.0.0"

    assert wxa(open_app, token, "release", {})["errcode"] == 0
    assert wxa(open_app, token, "release", {})["errcode"] == 85052  # already released
    view = releases(open_app)["accounts"][0]
    assert view["online"]["user_version"] == "1.0.0" and view["passed"] is None
    # Nothing to revert to yet.
    assert wxa(open_app, token, "revertcoderelease", method="GET")["errcode"] == 87012


def test_delayed_audit_fail_and_delay_pushes_after_the_clock_moves(open_app, ctoken, receiver):
    first = authorize_mini(open_app, "wxmini0001", ctoken)
    second = authorize_mini(open_app, "wxmini0002", ctoken)
    template_id = template(open_app, ctoken)
    settings(open_app, audit_delay=3600)
    rule = {"app_id": open_app.app_id, "tenant_ids": ["wxmini0001"], "outcome": "fail"}
    rule["reason"] = "pages/index is empty"
    assert open_app.control("/audits/rules", rule).status_code == 200
    rule = {"app_id": open_app.app_id, "tenant_ids": ["wxmini0002"], "outcome": "delay"}
    assert open_app.control("/audits/rules", rule).status_code == 200
    for token in (first, second):
        assert commit(open_app, token, template_id)["errcode"] == 0
        assert "auditid" in wxa(open_app, token, "submit_audit", {})
    # Auditing: status 2, a second submit is 85009, release is 85020, nothing pushed yet.
    assert wxa(open_app, first, "get_latest_auditstatus", method="GET")["status"] == 2
    assert wxa(open_app, first, "submit_audit", {})["errcode"] == 85009
    assert wxa(open_app, first, "release", {})["errcode"] == 85020
    assert not [r for r in receiver.snapshot() if r.channel == "msg"]

    moved = open_app.control("/clock", {"advance": 3601})
    assert moved.status_code == 200
    failed = audit_push(receiver, "wxmini0001", "weapp_audit_fail").message
    assert failed["Reason"] == "pages/index is empty"
    assert int(failed["FailTime"]) > 0 and failed["ScreenShot"]
    delayed = audit_push(receiver, "wxmini0002", "weapp_audit_delay").message
    assert delayed["Reason"] and int(delayed["DelayTime"]) > 0

    status = wxa(open_app, first, "get_latest_auditstatus", method="GET")
    assert status["status"] == 1 and status["reason"] == "pages/index is empty"
    assert status["screenshot"] == failed["ScreenShot"]
    assert wxa(open_app, first, "release", {})["errcode"] == 85020
    # A rejected version can be submitted again (the rule still says fail).
    assert "auditid" in wxa(open_app, first, "submit_audit", {})

    # Delayed: status 4, still pending (85009), until the control API decides it.
    assert wxa(open_app, second, "get_latest_auditstatus", method="GET")["status"] == 4
    assert wxa(open_app, second, "submit_audit", {})["errcode"] == 85009
    decide = {"app_id": open_app.app_id, "tenant_id": "wxmini0002", "outcome": "pass"}
    decided = open_app.control("/audits/decide", decide)
    assert decided.status_code == 200, decided.text
    assert decided.json()["audit"]["status"] == 0 and decided.json()["push"]["delivered"]
    assert audit_push(receiver, "wxmini0002", "weapp_audit_success").error is None
    assert open_app.control("/audits/decide", decide).status_code == 409  # nothing pending
    assert wxa(open_app, second, "release", {})["errcode"] == 0


def test_moving_the_fake_clock_decides_on_the_next_call(open_app, ctoken, receiver, clock):
    token = authorize_mini(open_app, "wxmini0001", ctoken)
    assert commit(open_app, token, template(open_app, ctoken))["errcode"] == 0
    settings(open_app, audit_delay=600)
    auditid = wxa(open_app, token, "submit_audit", {})["auditid"]
    clock.advance(599)
    assert wxa(open_app, token, "get_auditstatus", {"auditid": auditid})["status"] == 2
    clock.advance(2)
    assert wxa(open_app, token, "get_auditstatus", {"auditid": auditid})["status"] == 0
    audit_push(receiver, "wxmini0001", "weapp_audit_success")


def test_the_ticker_decides_due_audits_without_a_call(open_app, ctoken, receiver, clock):
    token = authorize_mini(open_app, "wxmini0001", ctoken)
    assert commit(open_app, token, template(open_app, ctoken))["errcode"] == 0
    settings(open_app, audit_delay=60)
    wxa(open_app, token, "submit_audit", {})
    clock.advance(61)  # in-process: no API call, no /sandbox/clock; the ticker looks each second
    audit_push(receiver, "wxmini0001", "weapp_audit_success")


def test_withdraw(open_app, ctoken, receiver):
    token = authorize_mini(open_app, "wxmini0001", ctoken)
    assert commit(open_app, token, template(open_app, ctoken))["errcode"] == 0
    settings(open_app, audit_delay=3600)
    assert wxa(open_app, token, "undocodeaudit", method="GET")["errcode"] == 85019
    for _ in range(5):
        assert "auditid" in wxa(open_app, token, "submit_audit", {})
        assert wxa(open_app, token, "undocodeaudit", method="GET")["errcode"] == 0
        assert wxa(open_app, token, "get_latest_auditstatus", method="GET")["status"] == 3
    assert "auditid" in wxa(open_app, token, "submit_audit", {})
    assert wxa(open_app, token, "undocodeaudit", method="GET")["errcode"] == 87013  # 5 a day
    # A withdrawn audit is never decided.
    assert open_app.control("/clock", {"advance": 100}).status_code == 200
    assert wxa(open_app, token, "release", {})["errcode"] == 85020


def test_monthly_audit_quota_shared_by_the_component(open_app, ctoken, receiver, clock):
    settings(open_app, audit_quota=2)
    tokens = [authorize_mini(open_app, f"wxmini000{i}", ctoken) for i in (1, 2, 3)]
    template_id = template(open_app, ctoken)
    quota = wxa(open_app, tokens[0], "queryquota", method="GET")
    assert quota == {
        "errcode": 0,
        "errmsg": "ok",
        "rest": 2,
        "limit": 2,
        "speedup_rest": 0,
        "speedup_limit": 0,
    }
    for token in tokens:
        assert commit(open_app, token, template_id)["errcode"] == 0
    assert "auditid" in wxa(open_app, tokens[0], "submit_audit", {})
    assert "auditid" in wxa(open_app, tokens[1], "submit_audit", {})
    assert wxa(open_app, tokens[2], "queryquota")["rest"] == 0  # POST works too
    assert wxa(open_app, tokens[2], "submit_audit", {})["errcode"] == 85085
    assert releases(open_app)["quota"]["used"] == 2
    clock.advance(32 * 86400)  # the next calendar month (tokens and tickets have died)
    assert releases(open_app)["quota"]["used"] == 0
    open_app.push("ticket")
    tenants = open_app.control("/tenants", method="GET").json()
    credential = next(t["credential"] for t in tenants["tenants"] if t["tenant_id"] == "wxmini0003")
    body = {
        "component_appid": open_app.app_id,
        "authorizer_appid": "wxmini0003",
        "authorizer_refresh_token": credential,
    }
    token = open_app.call(
        "/cgi-bin/component/api_authorizer_token", body, access_token=open_app.component_token()
    )["authorizer_access_token"]
    assert wxa(open_app, token, "queryquota", method="GET")["rest"] == 2
    assert "auditid" in wxa(open_app, token, "submit_audit", {})


def test_gray_release_and_revert(open_app, ctoken, receiver):
    token = authorize_mini(open_app, "wxmini0001", ctoken)
    first, second = template(open_app, ctoken, "1.0.0"), template(open_app, ctoken, "1.1.0")
    assert commit(open_app, token, first, "1.0.0")["errcode"] == 0
    wxa(open_app, token, "submit_audit", {})
    audit_push(receiver, "wxmini0001", "weapp_audit_success")
    # Gray needs an online version first.
    assert wxa(open_app, token, "grayrelease", {"gray_percentage": 10})["errcode"] == 85079
    assert wxa(open_app, token, "release", {})["errcode"] == 0
    plan = wxa(open_app, token, "getgrayreleaseplan", method="GET")["gray_release_plan"]
    assert plan == {"status": 0, "create_timestamp": 0, "gray_percentage": 0}

    assert commit(open_app, token, second, "1.1.0")["errcode"] == 0
    # The latest audit's version is online already: no passed version to gray.
    assert wxa(open_app, token, "grayrelease", {"gray_percentage": 10})["errcode"] == 85080
    wxa(open_app, token, "submit_audit", {})
    audit_push(receiver, "wxmini0001", "weapp_audit_success", count=2)
    assert wxa(open_app, token, "get_latest_auditstatus", method="GET")["user_version"] == "1.1.0"
    for bad in (0, 101, "x"):
        assert wxa(open_app, token, "grayrelease", {"gray_percentage": bad})["errcode"] == 85081
    assert wxa(open_app, token, "grayrelease", {"gray_percentage": 10})["errcode"] == 0
    assert wxa(open_app, token, "grayrelease", {"gray_percentage": 5})["errcode"] == 85082
    assert wxa(open_app, token, "grayrelease", {"gray_percentage": 30})["errcode"] == 0
    plan = wxa(open_app, token, "getgrayreleaseplan", method="GET")["gray_release_plan"]
    assert plan["status"] == 1 and plan["gray_percentage"] == 30 and plan["create_timestamp"] > 0
    view = releases(open_app)["accounts"][0]
    assert view["gray"]["version"]["user_version"] == "1.1.0"
    assert view["online"]["user_version"] == "1.0.0"
    # No revert while gray runs; revertgrayrelease stops it.
    assert wxa(open_app, token, "revertcoderelease", method="GET")["errcode"] == 87011
    assert wxa(open_app, token, "revertgrayrelease", method="GET")["errcode"] == 0
    plan = wxa(open_app, token, "getgrayreleaseplan", method="GET")["gray_release_plan"]
    assert plan["status"] == 4
    # Gray again, then release everyone: the plan is done and 1.0.0 is the previous online.
    assert wxa(open_app, token, "grayrelease", {"gray_percentage": 50})["errcode"] == 0
    assert wxa(open_app, token, "release", {})["errcode"] == 0
    assert wxa(open_app, token, "getgrayreleaseplan")["gray_release_plan"]["status"] == 3
    view = releases(open_app)["accounts"][0]
    assert view["online"]["user_version"] == "1.1.0"
    assert view["previous_online"]["user_version"] == "1.0.0"
    # Revert: back to 1.0.0, once.
    assert wxa(open_app, token, "revertcoderelease", method="GET")["errcode"] == 0
    view = releases(open_app)["accounts"][0]
    assert view["online"]["user_version"] == "1.0.0" and view["previous_online"] is None
    assert wxa(open_app, token, "revertcoderelease", method="GET")["errcode"] == 87012


def test_accounts_and_tokens_checked(open_app, ctoken):
    # An official account cannot commit code: 85015.
    code = open_app.approve("wxoa0001", "Official")["auth_code"]
    oa = open_app.call(
        QUERY,
        {"component_appid": open_app.app_id, "authorization_code": code},
        component_access_token=ctoken,
    )["authorization_info"]["authorizer_access_token"]
    template_id = template(open_app, ctoken)
    assert commit(open_app, oa, template_id)["errcode"] == 85015
    # A component token where an authorizer's belongs: 40001; none: 41001.
    assert commit(open_app, ctoken, template_id)["errcode"] == 40001
    assert open_app.call("/wxa/commit", {"template_id": template_id})["errcode"] == 41001
    # Another component's template is unknown to this component's accounts (85014).
    token = authorize_mini(open_app, "wxmini0001", ctoken)
    store = open_app.control(f"/templates?app_id={open_app.app_id}", method="GET").json()
    assert [t["template_id"] for t in store["templates"]] == [template_id]
    assert commit(open_app, token, template_id + 100)["errcode"] == 85014
    # item_list of more than 5: 85023.
    assert commit(open_app, token, template_id)["errcode"] == 0
    items = [{"address": f"p{i}"} for i in range(6)]
    assert wxa(open_app, token, "submit_audit", {"item_list": items})["errcode"] == 85023


def test_control_api_input_errors(open_app, ctoken):
    authorize_mini(open_app, "wxmini0001", ctoken)
    base = {"app_id": open_app.app_id}
    cases = [
        ("/audits/rules", {**base, "tenant_ids": "wxmini0001", "outcome": "pass"}, 400),
        ("/audits/rules", {**base, "tenant_ids": ["nobody"], "outcome": "pass"}, 404),
        ("/audits/rules", {**base, "tenant_ids": "*", "outcome": "maybe"}, 400),
        ("/audits/rules", {**base, "tenant_ids": "*"}, 400),
        ("/audits/decide", {**base, "tenant_id": "wxmini0001"}, 409),
        ("/audits/decide", {**base, "tenant_id": "wxmini0001", "outcome": "x"}, 400),
        ("/audits/decide", {"app_id": "nobody", "tenant_id": "wxmini0001"}, 404),
    ]
    for path, body, status in cases:
        response = open_app.control(path, body)
        assert response.status_code == status, (path, body, response.text)
        assert "error" in response.json()
    rules = open_app.control("/audits/rules", {**base, "tenant_ids": "*", "outcome": "delay"})
    assert rules.json()["rules"] == {"*": {"outcome": "delay", "reason": ""}}
    assert open_app.control("/releases?app_id=nobody", method="GET").status_code == 404
    assert open_app.control("/settings", {"audit_quota": 1.5}).status_code == 400
    assert open_app.control("/settings", {"audit_delay": -1}).status_code == 400


def test_template_library_holds_200_of_each_type(open_app, ctoken):
    draft_id = draft(open_app)["draft_id"]
    for _ in range(200):
        assert wxa(open_app, ctoken, "addtotemplate", {"draft_id": draft_id})["errcode"] == 0
    assert wxa(open_app, ctoken, "addtotemplate", {"draft_id": draft_id})["errcode"] == 85065
    body = {"draft_id": draft_id, "template_type": 1}
    assert wxa(open_app, ctoken, "addtotemplate", body)["errcode"] == 0


def test_star_rule_and_single_account_rules(open_app, ctoken, receiver):
    tokens = {
        appid: authorize_mini(open_app, appid, ctoken) for appid in ("wxmini0001", "wxmini0002")
    }
    template_id = template(open_app, ctoken)
    base = {"app_id": open_app.app_id}
    open_app.control("/audits/rules", {**base, "tenant_ids": "*", "outcome": "fail"})
    rule = {**base, "tenant_ids": ["wxmini0002"], "outcome": "pass"}
    rules = open_app.control("/audits/rules", rule).json()["rules"]
    assert rules["*"]["outcome"] == "fail" and rules["wxmini0002"]["outcome"] == "pass"
    for token in tokens.values():
        assert commit(open_app, token, template_id)["errcode"] == 0
        wxa(open_app, token, "submit_audit", {})
    assert audit_push(receiver, "wxmini0001", "weapp_audit_fail").message["Reason"]
    audit_push(receiver, "wxmini0002", "weapp_audit_success")
    view = {a["tenant_id"]: a for a in releases(open_app)["accounts"]}
    assert [a["status"] for a in view["wxmini0001"]["audits"]] == [1]
    assert view["wxmini0002"]["passed"]["user_version"] == "1.0.0"


def test_getversioninfo_tells_the_trial_and_the_online_version(open_app, ctoken, receiver):
    token = authorize_mini(open_app, "wxverinfo", ctoken)
    assert "exp_info" not in wxa(open_app, token, "getversioninfo", {})
    commit(open_app, token, template(open_app, ctoken), "2.0.0")
    info = wxa(open_app, token, "getversioninfo", {})
    assert info["exp_info"]["exp_version"] == "2.0.0" and "release_info" not in info
    wxa(open_app, token, "submit_audit", {})
    audit_push(receiver, "wxverinfo", "weapp_audit_success")
    assert wxa(open_app, token, "release", {})["errcode"] == 0
    info = wxa(open_app, token, "getversioninfo", method="GET")
    assert (
        info["release_info"]["release_version"] == "2.0.0" and info["release_info"]["release_time"]
    )
