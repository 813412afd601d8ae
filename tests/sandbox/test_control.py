"""The control API: faults, call counts, bulk tenants, settings, clock, reset, registration."""

from __future__ import annotations

import time

import requests

CORP = "/cgi-bin/service/get_corp_token"


def test_errcode_fault_applies_to_count_calls_then_stops(wecom):
    corp = wecom.install("wwfault000000001")
    body = {"auth_corpid": "wwfault000000001", "permanent_code": corp["permanent_code"]}
    token = wecom.suite_token()
    fault = wecom.control("/faults", {"endpoint": "get_corp_token", "errcode": -1, "count": 2})
    assert fault.status_code == 201 and fault.json()["fault"]["count"] == 2
    assert wecom.call(CORP, body, suite_access_token=token)["errcode"] == -1
    assert wecom.call(CORP, body, suite_access_token=token)["errcode"] == -1
    assert "access_token" in wecom.call(CORP, body, suite_access_token=token)
    assert wecom.control("/faults", method="GET").json() == {"faults": []}


def test_http_status_and_delay_faults(open_app):
    open_app.control("/faults", {"endpoint": "api_component_token", "http_status": 503, "count": 1})
    body = {
        "component_appid": open_app.app_id,
        "component_appsecret": "component-secret",
        "component_verify_ticket": open_app.latest_ticket(),
    }
    failed = requests.post(open_app.base_url + "/cgi-bin/component/api_component_token", json=body)
    assert failed.status_code == 503
    assert "component_access_token" in open_app.call("/cgi-bin/component/api_component_token", body)

    open_app.control("/faults", {"endpoint": "api_component_token", "delay": 0.3, "count": 1})
    started = time.monotonic()
    slow = open_app.call("/cgi-bin/component/api_component_token", body)
    assert time.monotonic() - started >= 0.3
    assert "component_access_token" in slow  # a delay alone still answers normally


def test_rate_faults_and_tenant_scoped_faults_and_clearing(open_app):
    info = open_app.authorize("wxfaulty00000001")
    other = open_app.authorize("wxhealthy0000001")
    message = {"touser": "o1", "msgtype": "text", "text": {"content": "x"}}
    open_app.control(
        "/faults",
        {"endpoint": "custom_send", "errcode": 45009, "rate": 1.0, "tenant_id": "wxfaulty00000001"},
    )
    open_app.control("/faults", {"endpoint": "custom_send", "errcode": 45033, "rate": 0.0})
    for _ in range(3):
        answer = open_app.call(
            "/cgi-bin/message/custom/send", message, access_token=info["authorizer_access_token"]
        )
        assert answer["errcode"] == 45009
        assert (
            open_app.call(
                "/cgi-bin/message/custom/send",
                message,
                access_token=other["authorizer_access_token"],
            )["errcode"]
            == 0
        )
    assert open_app.control("/faults", method="DELETE").json() == {"deleted": 2}
    answer = open_app.call(
        "/cgi-bin/message/custom/send", message, access_token=info["authorizer_access_token"]
    )
    assert answer["errcode"] == 0


def test_bad_fault_rules_are_400(wecom):
    for rule in (
        {},
        {"endpoint": "x"},
        {"endpoint": "x", "errcode": 0},
        {"endpoint": "x", "errcode": 1, "http_status": 500},
        {"endpoint": "x", "http_status": 200},
        {"endpoint": "x", "errcode": 1, "count": 0},
        {"endpoint": "x", "errcode": 1, "rate": 2},
        {"endpoint": "x", "errcode": 1, "count": 1, "rate": 0.5},
        {"endpoint": "x", "delay": -1},
        {"endpoint": "x", "errcode": "1"},
        {"endpoint": "x", "errcode": 1, "surprise": True},
        [1, 2],
    ):
        response = wecom.control("/faults", rule)
        assert response.status_code == 400, rule
        assert response.json()["error"]


def test_calls_are_counted_per_endpoint_and_tenant(wecom):
    wecom.control("/calls", method="DELETE")
    corp = wecom.install("wwcounted0000001")
    body = {"auth_corpid": "wwcounted0000001", "permanent_code": corp["permanent_code"]}
    token = wecom.suite_token()
    for _ in range(3):
        wecom.call(CORP, body, suite_access_token=token)
    wecom.control("/faults", {"endpoint": "get_corp_token", "errcode": -1, "count": 1})
    wecom.call(CORP, body, suite_access_token=token)  # a faulted call is counted too
    calls = wecom.control("/calls", method="GET").json()
    assert calls["by_endpoint"]["get_corp_token"] == 4
    assert calls["by_tenant"]["get_corp_token"] == {"wwcounted0000001": 4}
    assert calls["by_endpoint"]["get_suite_token"] == 3  # install's pre-auth + exchange, and ours
    assert calls["by_tenant"]["get_permanent_code"] == {"wwcounted0000001": 1}
    assert calls["total"] == sum(calls["by_endpoint"].values())
    assert wecom.control("/calls", method="DELETE").json() == {
        "total": 0,
        "by_endpoint": {},
        "by_tenant": {},
    }


def test_bulk_tenants_have_exchangeable_codes(open_app):
    response = open_app.control(
        "/tenants/bulk", {"app_id": open_app.app_id, "count": 50, "prefix": "wxload"}
    )
    assert response.status_code == 201
    tenants = response.json()["tenants"]
    assert len(tenants) == 50 and tenants[0]["tenant_id"] == "wxload000001"
    assert len({t["auth_code"] for t in tenants}) == 50
    token = open_app.component_token()
    info = open_app.call(
        "/cgi-bin/component/api_query_auth",
        {"component_appid": open_app.app_id, "authorization_code": tenants[49]["auth_code"]},
        component_access_token=token,
    )["authorization_info"]
    assert info["authorizer_appid"] == "wxload000050"
    listed = open_app.call(
        "/cgi-bin/component/api_get_authorizer_list",
        {"component_appid": open_app.app_id, "offset": 0, "count": 100},
        component_access_token=token,
    )
    assert listed["total_count"] == 50
    for bad in (
        {"app_id": open_app.app_id, "count": 0},
        {"app_id": open_app.app_id, "count": "5"},
        {"app_id": "nope", "count": 1},
        {"app_id": open_app.app_id, "count": 1, "prefix": "a b"},
    ):
        assert open_app.control("/tenants/bulk", bad).status_code in (400, 404)


def test_settings_change_at_run_time_and_are_checked(wecom, clock):
    answer = wecom.control("/settings", {"token_ttl": 60})
    assert answer.status_code == 200 and answer.json()["settings"]["token_ttl"] == 60
    token = wecom.call(
        "/cgi-bin/service/get_suite_token",
        {
            "suite_id": wecom.app_id,
            "suite_secret": "suite-secret",
            "suite_ticket": wecom.latest_ticket(),
        },
    )
    assert token["expires_in"] == 60
    clock.advance(61)
    expired = wecom.call(
        "/cgi-bin/service/get_pre_auth_code",
        method="GET",
        suite_access_token=token["suite_access_token"],
    )
    assert expired["errcode"] == 42009
    for bad in (
        {"token_ttl": "1"},
        {"token_ttl": -5},
        {"nope": 1},
        {"strict_refresh": 1},
        {"ticket_interval": 0.5},
    ):
        response = wecom.control("/settings", bad)
        assert response.status_code == 400, bad
    assert wecom.control("/settings", method="GET").json()["settings"]["token_ttl"] == 60


def test_clock_endpoint_moves_time_for_http_only_clients(wecom):
    ticket = wecom.latest_ticket()
    before = wecom.control("/clock", method="GET").json()["now"]
    moved = wecom.control("/clock", {"advance": 1801}).json()
    assert moved["now"] - before >= 1801
    body = {"suite_id": wecom.app_id, "suite_secret": "suite-secret", "suite_ticket": ticket}
    assert wecom.call("/cgi-bin/service/get_suite_token", body)["errcode"] == 40085
    assert wecom.control("/clock", {"advance": -1}).status_code == 400


def test_tokens_can_be_invalidated_early(wecom):
    corp = wecom.install("wwinvalid0000001")
    token = wecom.suite_token()
    killed = wecom.control("/tokens/invalidate", {"app_id": wecom.app_id}).json()
    assert killed == {"invalidated": 1}
    assert (
        wecom.call("/cgi-bin/service/get_pre_auth_code", method="GET", suite_access_token=token)[
            "errcode"
        ]
        == 40082
    )
    assert wecom.suite_token() != token
    wecom.control("/tokens/invalidate", {"app_id": wecom.app_id, "tenant_id": "wwinvalid0000001"})
    body = {"auth_corpid": "wwinvalid0000001", "permanent_code": corp["permanent_code"]}
    renewed = wecom.call(CORP, body, suite_access_token=wecom.suite_token())
    assert renewed["access_token"] != corp["access_token"]


def test_reset_forgets_everything(wecom, sandbox):
    wecom.install("wwreset000000001")
    wecom.control("/settings", {"token_ttl": 10})
    assert wecom.control("/reset").json() == {"ok": True}
    assert wecom.control("/apps", method="GET").json() == {"apps": []}
    assert wecom.control("/tenants", method="GET").json() == {"tenants": []}
    assert sandbox.state.settings.token_ttl == 7200


def test_app_registration_is_validated(wecom, receiver):
    good = {**wecom.app, "server_url": receiver.base_url, "push_ticket": False}
    assert wecom.control("/apps", {**good}).status_code == 200  # re-registering updates
    for change in (
        {"platform": "dingtalk"},
        {"aes_key": "short"},
        {"aes_key": "!" * 43},
        {"server_url": "ftp://x"},
        {"app_id": "has space"},
        {"secret": None},
        {"token": 5},
        {"push_ticket": "yes"},
    ):
        response = wecom.control("/apps", {**good, **change})
        assert response.status_code == 400, change
    clash = wecom.control("/apps", {**good, "platform": "open"})
    assert clash.status_code == 409
    listed = wecom.control("/apps", method="GET").json()["apps"]
    assert [a["app_id"] for a in listed] == [wecom.app_id]
    shown = wecom.control(f"/apps/{wecom.app_id}", method="GET").json()
    assert shown["app"]["platform"] == "wecom" and shown["tickets"]
    assert wecom.control("/apps/nope", method="GET").status_code == 404


def test_push_requests_are_validated(wecom, open_app):
    cases = [
        (wecom, {"kind": "authorized"}, 400),
        (open_app, {"kind": "cancel_auth"}, 400),
        (wecom, {"kind": "change_auth"}, 400),
        (wecom, {"kind": "change_auth", "tenant_id": "wwnobody"}, 404),
        (wecom, {"kind": "ticket", "fields": {"bad tag": 1}}, 400),
        (wecom, {"kind": "ticket", "fields": ["x"]}, 400),
    ]
    for client, body, status in cases:
        response = client.control("/push", {"app_id": client.app_id, **body})
        assert response.status_code == status, body
    assert wecom.control("/push", {"app_id": "nope", "kind": "ticket"}).status_code == 404
    open_app.authorize("wxgone0000000001")
    bad_id = {
        "app_id": open_app.app_id,
        "kind": "text",
        "tenant_id": "wxgone0000000001",
        "msg_id": "1",
    }
    assert open_app.control("/push", bad_id).status_code == 400
    open_app.push("unauthorized", tenant_id="wxgone0000000001")
    again = open_app.control(
        "/push", {"app_id": open_app.app_id, "kind": "text", "tenant_id": "wxgone0000000001"}
    )
    assert again.status_code == 409


def test_index_page_shows_apps_tenants_pushes_and_calls(wecom):
    wecom.install("wwindexcorp00001", "Index Corp")
    page = requests.get(wecom.base_url + "/sandbox/")
    assert page.status_code == 200
    for text in (wecom.app_id, "Index Corp", "ticket", "get_permanent_code"):
        assert text in page.text
    assert requests.get(wecom.base_url + "/").status_code == 200
