"""Drop rules (faults.py): a successful answer that lacks a field, for the server's "an exchange
answer that lacks a field never loses a credential" tests."""

from __future__ import annotations

PERMANENT = "/cgi-bin/service/get_permanent_code"


def add_rule(client, **rule) -> dict:
    response = client.control("/faults", rule)
    assert response.status_code == 201, response.text
    return response.json()["fault"]


def exchange(client, corpid: str) -> dict:
    code = client.approve(corpid)["auth_code"]
    return client.call(PERMANENT, {"auth_code": code}, suite_access_token=client.suite_token())


def test_a_drop_rule_takes_a_field_out_of_the_next_successful_answer(wecom):
    rule = add_rule(wecom, endpoint="get_permanent_code", drop="auth_user_info", count=1)
    assert rule["drop"] == "auth_user_info" and rule["errcode"] is None
    # A failing call is answered as usual and does not use the rule up.
    failed = wecom.call(PERMANENT, {"auth_code": "nope"}, suite_access_token=wecom.suite_token())
    assert failed["errcode"] == 40078
    assert len(wecom.control("/faults", method="GET").json()["faults"]) == 1

    dropped = exchange(wecom, "wwcorp0001")
    assert dropped["errcode"] == 0 and "auth_user_info" not in dropped
    assert dropped["permanent_code"] and dropped["access_token"]  # nothing else is missing
    assert wecom.control("/faults", method="GET").json()["faults"] == []
    assert "auth_user_info" in exchange(wecom, "wwcorp0002")


def test_dotted_paths_and_several_rules_at_once(wecom):
    add_rule(wecom, endpoint="get_permanent_code", drop="auth_corp_info.corp_name", count=1)
    add_rule(wecom, endpoint="get_permanent_code", drop="access_token", count=1)
    add_rule(wecom, endpoint="get_permanent_code", drop="expires_in", count=1)
    add_rule(wecom, endpoint="get_permanent_code", drop="no.such.key", count=1)
    answer = exchange(wecom, "wwcorp0001")
    assert "corp_name" not in answer["auth_corp_info"] and answer["auth_corp_info"]["corpid"]
    assert "access_token" not in answer and "expires_in" not in answer
    assert answer["permanent_code"] and answer["state"] == ""
    assert wecom.control("/faults", method="GET").json()["faults"] == []  # all used up


def test_drop_rules_for_one_tenant_and_on_token_endpoints(wecom):
    add_rule(wecom, endpoint="get_corp_token", drop="expires_in", tenant_id="wwcorp0002")
    first = exchange(wecom, "wwcorp0001")
    second = exchange(wecom, "wwcorp0002")
    token = wecom.suite_token()
    body = {"auth_corpid": "wwcorp0001", "permanent_code": first["permanent_code"]}
    one = wecom.call("/cgi-bin/service/get_corp_token", body, suite_access_token=token)
    assert set(one) == {"access_token", "expires_in"}
    body = {"auth_corpid": "wwcorp0002", "permanent_code": second["permanent_code"]}
    two = wecom.call("/cgi-bin/service/get_corp_token", body, suite_access_token=token)
    assert set(two) == {"access_token"}  # no errcode on success, and no expires_in now


def test_bad_drop_rules_are_400(wecom):
    for bad in (
        {"endpoint": "get_permanent_code", "drop": 5},
        {"endpoint": "get_permanent_code", "drop": ""},
        {"endpoint": "get_permanent_code", "drop": "a..b"},
        {"endpoint": "get_permanent_code", "drop": "a b"},
        {"endpoint": "get_permanent_code", "drop": "state", "errcode": 40001},
        {"endpoint": "get_permanent_code", "drop": "state", "http_status": 500},
        {"endpoint": "get_permanent_code", "drop": "state", "delay": 1},
        {"endpoint": "get_permanent_code", "drop": "state", "count": 0},
    ):
        response = wecom.control("/faults", bad)
        assert response.status_code == 400 and response.json()["error"], bad
