"""WeCom suite APIs (wecom-suite.md §4-§5): tickets, same-token rule, codes, corp tokens."""

from __future__ import annotations

import requests

SUITE = "/cgi-bin/service/get_suite_token"
CORP = "/cgi-bin/service/get_corp_token"
PERMANENT = "/cgi-bin/service/get_permanent_code"


def suite_body(wecom, **changes):
    body = {
        "suite_id": wecom.app_id,
        "suite_secret": "suite-secret",
        "suite_ticket": wecom.latest_ticket(),
    }
    return {**body, **changes}


def test_suite_token_needs_a_pushed_ticket_and_the_right_secret(wecom):
    assert wecom.call(SUITE, suite_body(wecom, suite_ticket="made-up"))["errcode"] == 40085
    assert wecom.call(SUITE, suite_body(wecom, suite_ticket=None))["errcode"] == 40085
    assert wecom.call(SUITE, suite_body(wecom, suite_secret="wrong"))["errcode"] == 40080
    assert wecom.call(SUITE, suite_body(wecom, suite_id="wwunknown"))["errcode"] == 40083
    # §4: sent as GET the body is dropped -> 40083.
    assert wecom.call(SUITE, suite_body(wecom), method="GET")["errcode"] == 40083

    answer = wecom.call(SUITE, suite_body(wecom))
    assert set(answer) == {"suite_access_token", "expires_in"}  # no errcode on success (§4)
    assert answer["expires_in"] == 7200


def test_a_ticket_of_another_suite_is_refused(wecom, sandbox, receiver):
    other = {**wecom.app, "app_id": "wwsuite0000000002"}
    receiver.apps[other["app_id"]] = (other["token"], other["aes_key"])
    requests.post(f"{wecom.base_url}/sandbox/apps", json={**other, "server_url": receiver.base_url})
    other_ticket = receiver.wait_for(SuiteId="wwsuite0000000002").message["SuiteTicket"]
    assert wecom.call(SUITE, suite_body(wecom, suite_ticket=other_ticket))["errcode"] == 40085


def test_ticket_is_valid_30_minutes(wecom, clock):
    ticket = wecom.latest_ticket()
    clock.advance(29 * 60)
    assert "suite_access_token" in wecom.call(SUITE, suite_body(wecom, suite_ticket=ticket))
    clock.advance(61)
    assert wecom.call(SUITE, suite_body(wecom, suite_ticket=ticket))["errcode"] == 40085
    wecom.push("ticket")  # a fresh push makes it work again
    assert "suite_access_token" in wecom.call(SUITE, suite_body(wecom))


def test_same_suite_token_within_validity_then_42009(wecom, clock):
    first = wecom.call(SUITE, suite_body(wecom))
    clock.advance(3600)
    wecom.push("ticket")  # the one used above is older than 30 min now
    again = wecom.call(SUITE, suite_body(wecom))
    assert again["suite_access_token"] == first["suite_access_token"]
    assert again["expires_in"] == 3600  # what is left of it
    code = wecom.call(
        "/cgi-bin/service/get_pre_auth_code",
        method="GET",
        suite_access_token=first["suite_access_token"],
    )
    assert code["errcode"] == 0 and code["expires_in"] == 1200 and code["pre_auth_code"]

    clock.advance(3600)
    expired = wecom.call(
        "/cgi-bin/service/get_pre_auth_code",
        method="GET",
        suite_access_token=first["suite_access_token"],
    )
    assert expired["errcode"] == 42009
    wecom.push("ticket")
    fresh = wecom.call(SUITE, suite_body(wecom))
    assert fresh["suite_access_token"] != first["suite_access_token"]


def test_suite_token_errors(wecom):
    path = "/cgi-bin/service/get_pre_auth_code"
    assert wecom.call(path, method="GET")["errcode"] == 41022
    assert wecom.call(path, method="GET", suite_access_token="nope")["errcode"] == 40082
    error = wecom.call(path, method="GET", suite_access_token="nope")
    assert "more info at https://open.work.weixin.qq.com/devtool/query?e=40082" in error["errmsg"]


def test_permanent_code_response_shape(wecom):
    corp = wecom.install("wwcorp0001", "Corp One")
    assert corp["errcode"] == 0
    assert corp["access_token"] and corp["expires_in"] == 7200
    assert corp["permanent_code"]
    assert corp["auth_corp_info"]["corpid"] == "wwcorp0001"
    assert corp["auth_corp_info"]["corp_name"] == "Corp One"
    agent = corp["auth_info"]["agent"][0]
    assert agent["agentid"] > 1000000 and "privilege" in agent
    # wecom-suite.md §4: auth_user_info is top level, not inside auth_info.
    assert corp["auth_user_info"]["userid"] == "admin"
    assert "auth_user_info" not in corp["auth_info"]

    # The ready corp token is the one get_corp_token hands out while valid.
    body = {"auth_corpid": "wwcorp0001", "permanent_code": corp["permanent_code"]}
    token = wecom.call(CORP, body, suite_access_token=wecom.suite_token())
    assert set(token) == {"access_token", "expires_in"}  # no errcode on success
    assert token["access_token"] == corp["access_token"]

    info = wecom.call(
        "/cgi-bin/service/get_auth_info", body, suite_access_token=wecom.suite_token()
    )
    assert info["errcode"] == 0 and info["auth_corp_info"]["corpid"] == "wwcorp0001"
    assert info["auth_info"]["agent"][0]["agentid"] == agent["agentid"]


def test_auth_code_is_single_use_and_expires(wecom, clock):
    code = wecom.approve("wwcorp0002")["auth_code"]
    token = wecom.suite_token()
    assert wecom.call(PERMANENT, {"auth_code": code}, suite_access_token=token)["errcode"] == 0
    assert wecom.call(PERMANENT, {"auth_code": code}, suite_access_token=token)["errcode"] == 40078

    late = wecom.approve("wwcorp0003")["auth_code"]
    clock.advance(601)  # §3: valid 10 minutes
    assert wecom.call(PERMANENT, {"auth_code": late}, suite_access_token=token)["errcode"] == 40078
    assert (
        wecom.call(PERMANENT, {"auth_code": "nope"}, suite_access_token=token)["errcode"] == 40078
    )
    assert wecom.call(PERMANENT, {}, suite_access_token=token)["errcode"] == 41008


def test_corp_token_same_within_validity_and_checks_the_permanent_code(wecom, clock):
    corp = wecom.install("wwcorp0004")
    body = {"auth_corpid": "wwcorp0004", "permanent_code": corp["permanent_code"]}
    first = wecom.call(CORP, body, suite_access_token=wecom.suite_token())
    clock.advance(7100)
    wecom.push("ticket")
    assert (
        wecom.call(CORP, body, suite_access_token=wecom.suite_token())["access_token"]
        == first["access_token"]
    )
    clock.advance(100)
    wecom.push("ticket")
    renewed = wecom.call(CORP, body, suite_access_token=wecom.suite_token())
    assert renewed["access_token"] != first["access_token"]
    assert renewed["expires_in"] == 7200

    bad = {**body, "permanent_code": "wrong"}
    assert wecom.call(CORP, bad, suite_access_token=wecom.suite_token())["errcode"] == 40084
    assert (
        wecom.call(CORP, {"permanent_code": "x"}, suite_access_token=wecom.suite_token())["errcode"]
        == 41002
    )


def test_reinstall_issues_a_new_permanent_code_and_kills_the_old(wecom):
    old = wecom.install("wwcorp0005")["permanent_code"]
    new = wecom.install("wwcorp0005")["permanent_code"]
    assert new != old
    token = wecom.suite_token()
    assert (
        wecom.call(
            CORP, {"auth_corpid": "wwcorp0005", "permanent_code": old}, suite_access_token=token
        )["errcode"]
        == 40084
    )
    assert "access_token" in wecom.call(
        CORP, {"auth_corpid": "wwcorp0005", "permanent_code": new}, suite_access_token=token
    )


def test_cancel_auth_kills_code_and_tokens(wecom, receiver):
    corp = wecom.install("wwcorp0006")
    result = wecom.push("cancel_auth", tenant_id="wwcorp0006")
    assert result["delivered"] is True
    push = receiver.wait_for(InfoType="cancel_auth")
    assert push.message["AuthCorpId"] == "wwcorp0006" and push.message["SuiteId"] == wecom.app_id
    body = {"auth_corpid": "wwcorp0006", "permanent_code": corp["permanent_code"]}
    assert wecom.call(CORP, body, suite_access_token=wecom.suite_token())["errcode"] == 40084
    send = wecom.call(
        "/cgi-bin/message/send",
        {"touser": "a", "msgtype": "text"},
        access_token=corp["access_token"],
    )
    assert send["errcode"] == 40014


def test_reset_permanent_code_push_carries_a_code_for_the_new_one(wecom, receiver):
    old = wecom.install("wwcorp0007")["permanent_code"]
    result = wecom.push("reset_permanent_code", tenant_id="wwcorp0007")
    push = receiver.wait_for(InfoType="reset_permanent_code")
    assert push.message["AuthCode"] == result["auth_code"]
    new = wecom.call(
        PERMANENT, {"auth_code": result["auth_code"]}, suite_access_token=wecom.suite_token()
    )
    assert new["permanent_code"] != old
    body = {"auth_corpid": "wwcorp0007", "permanent_code": old}
    assert wecom.call(CORP, body, suite_access_token=wecom.suite_token())["errcode"] == 40084


def test_change_auth_and_change_contact_payloads(wecom, receiver):
    wecom.install("wwcorp0008")
    assert wecom.push("change_auth", tenant_id="wwcorp0008")["delivered"] is True
    change = receiver.wait_for(InfoType="change_auth").message
    assert list(change) == ["SuiteId", "InfoType", "TimeStamp", "AuthCorpId"]
    result = wecom.push(
        "change_contact",
        tenant_id="wwcorp0008",
        change_type="update_user",
        fields={"UserID": "lisi"},
    )
    assert result["delivered"] is True
    contact = receiver.wait_for(InfoType="change_contact").message
    assert contact["ChangeType"] == "update_user" and contact["UserID"] == "lisi"
    assert contact["AuthCorpId"] == "wwcorp0008" and contact["Department"] == "1"


def test_message_send_with_a_corp_token_is_recorded(wecom):
    corp = wecom.install("wwcorp0009")
    body = {"touser": "zhangsan", "msgtype": "text", "agentid": 1, "text": {"content": "hi"}}
    answer = wecom.call("/cgi-bin/message/send", body, access_token=corp["access_token"])
    assert answer["errcode"] == 0
    messages = requests.get(
        f"{wecom.base_url}/sandbox/messages", params={"tenant_id": "wwcorp0009"}
    ).json()
    assert [m["body"]["text"]["content"] for m in messages["messages"]] == ["hi"]


def test_set_session_info_checks_the_pre_auth_code(wecom):
    token = wecom.suite_token()
    code = wecom.call("/cgi-bin/service/get_pre_auth_code", method="GET", suite_access_token=token)[
        "pre_auth_code"
    ]
    path = "/cgi-bin/service/set_session_info"
    ok = wecom.call(
        path, {"pre_auth_code": code, "session_info": {"auth_type": 1}}, suite_access_token=token
    )
    assert ok == {"errcode": 0, "errmsg": "ok"}
    bad = wecom.call(
        path, {"pre_auth_code": "nope", "session_info": {"auth_type": 1}}, suite_access_token=token
    )
    assert bad["errcode"] == 40077
    assert (
        wecom.call(path, {"pre_auth_code": code}, method="GET", suite_access_token=token)["errcode"]
        == 43002
    )
