"""The 90-day trial of WeCom licenses on the sandbox clock, a member-scoped call refused once it
is over, and what a member opening the app meets: auto-activation or unlicensed_notify."""

from __future__ import annotations

from tests.sandbox.conftest import START, WecomClient
from tests.sandbox.licensing import (
    CORP,
    DAY,
    MONTH,
    OTHER,
    activate,
    bought,
    code_info,
    lic,
    user_get,
)
from tests.sandbox.test_customized import PROVIDER, provider
from tests.sandbox.test_providers import decrypt

__all__ = ["provider"]  # the fixture


def test_the_trial_runs_90_days_from_the_first_install(wecom, provider, receiver, clock):
    corp_token = wecom.install(CORP)["access_token"]
    body = {"corpid": CORP, "suite_id": wecom.app_id}
    info = lic(wecom, "get_app_license_info", body)
    trial_end = START + 90 * DAY
    assert info == {
        "errcode": 0,
        "errmsg": "ok",
        "license_status": 1,
        "trail_info": {"start_time": START, "end_time": trial_end},
        "license_check_time": trial_end,
    }
    assert user_get(wecom, corp_token, "zhangsan")["errcode"] == 0

    # Uninstalled and installed again later: the trial still counts from the first install.
    clock.advance(30 * DAY)
    wecom.push("cancel_auth", tenant_id=CORP)
    wecom.push("ticket")  # the suite's ticket aged with the clock
    wecom.install(CORP)
    assert lic(wecom, "get_app_license_info", body)["trail_info"]["start_time"] == START

    clock.advance(60 * DAY - 1)
    wecom.push("ticket")
    corp_token = wecom.install(CORP)["access_token"]
    assert user_get(wecom, corp_token, "zhangsan")["errcode"] == 0
    clock.advance(1)
    refused = user_get(wecom, corp_token, "zhangsan")
    assert refused["errcode"] == 701016 and "hint:" in refused["errmsg"]
    [code] = [c["active_code"] for c in bought(wecom, base=1, external=0)]
    assert activate(wecom, code, "zhangsan") == 0
    assert user_get(wecom, corp_token, "zhangsan")["errcode"] == 0
    assert user_get(wecom, corp_token, "lisi")["errcode"] == 701016

    assert lic(wecom, "get_app_license_info", {**body, "suite_id": "wwnosuite"})["errcode"] == 40083
    assert lic(wecom, "get_app_license_info", {**body, "corpid": OTHER})["errcode"] == 40013
    assert lic(wecom, "get_app_license_info", {"corpid": CORP})["errcode"] == 40058


def test_apps_of_an_unregistered_provider_are_never_refused(wecom, clock):
    wecom.install(CORP)
    clock.advance(365 * DAY)
    wecom.push("ticket")
    corp_token = wecom.install(CORP)["access_token"]
    assert user_get(wecom, corp_token, "zhangsan")["errcode"] == 0
    opened = wecom.control(
        "/licenses/open_app", {"app_id": wecom.app_id, "tenant_id": CORP, "userid": "x"}
    )
    assert opened.status_code == 409 and "not registered" in opened.json()["error"]


def open_app(client: WecomClient, userid: str, corpid: str = CORP) -> dict:
    body = {"app_id": client.app_id, "tenant_id": corpid, "userid": userid}
    response = client.control("/licenses/open_app", body)
    assert response.status_code == 200, response.text
    return response.json()


def test_auto_activation_or_unlicensed_notify_when_a_member_opens_the_app(
    wecom, provider, receiver, clock
):
    agent_id = wecom.install(CORP)["auth_info"]["agent"][0]["agentid"]
    switch = {"corpid": CORP, "auto_active_status": 1}
    assert lic(wecom, "get_auto_active_status", {"corpid": CORP})["auto_active_status"] == 0
    assert open_app(wecom, "zhangsan") == {"outcome": "trial", "active_code": None, "push": None}

    clock.advance(90 * DAY)
    opened = open_app(wecom, "zhangsan")  # auto-activation is off
    assert opened["outcome"] == "unlicensed" and opened["push"]["channel"] == "data"
    got = receiver.wait_for(channel="data", Event="unlicensed_notify")
    assert got.error is None  # wechatpy opened it for the corp
    assert got.message["MsgType"] == "event" and got.message["FromUserName"] == "zhangsan"
    assert (got.message["ToUserName"], got.message["AgentID"]) == (CORP, str(agent_id))

    assert lic(wecom, "set_auto_active_status", switch)["errcode"] == 0
    assert lic(wecom, "get_auto_active_status", {"corpid": CORP})["auto_active_status"] == 1
    assert open_app(wecom, "zhangsan")["outcome"] == "unlicensed"  # no code to take

    [first] = [c["active_code"] for c in bought(wecom, base=1, external=1) if c["type"] == 1]
    opened = open_app(wecom, "zhangsan")
    assert opened["outcome"] == "auto_activated" and opened["active_code"] == first
    message, receive_id = decrypt(receiver.wait_for(channel="system", InfoType="auto_activate"))
    assert receive_id == PROVIDER and message["AuthCorpId"] == CORP and message["Scene"] == "1"
    account = message["AccountList"]
    assert (account["ActiveCode"], account["Type"], account["UserId"]) == (first, "1", "zhangsan")
    assert int(account["ExpireTime"]) == START + 90 * DAY + 12 * MONTH
    assert "PreviousStatus" not in account
    assert open_app(wecom, "zhangsan")["outcome"] == "licensed"
    assert code_info(wecom, first)["active_info"]["userid"] == "zhangsan"

    # Expired a year later, the next free code replaces it, and the push says what it replaced.
    clock.advance(12 * MONTH)
    [second] = [c["active_code"] for c in bought(wecom, base=1, external=0)]
    assert open_app(wecom, "zhangsan")["active_code"] == second
    pushes = receiver.wait_for_count(2, channel="system", InfoType="auto_activate")
    account = decrypt(pushes[-1])[0]["AccountList"]
    assert (account["PreviousStatus"], account["PreviousActiveCode"]) == ("1", first)

    assert lic(wecom, "set_auto_active_status", {**switch, "auto_active_status": 0})["errcode"] == 0
    assert open_app(wecom, "lisi")["outcome"] == "unlicensed"
    assert lic(wecom, "set_auto_active_status", {**switch, "auto_active_status": 2})["errcode"]
    assert lic(wecom, "set_auto_active_status", {**switch, "corpid": OTHER})["errcode"] == 40013

    for bad, status in (
        ({"app_id": wecom.app_id, "tenant_id": CORP}, 400),
        ({"app_id": wecom.app_id, "tenant_id": CORP, "userid": "x" * 65}, 400),
        ({"app_id": wecom.app_id, "tenant_id": OTHER, "userid": "x"}, 404),
        ({"app_id": "wwnosuite", "tenant_id": CORP, "userid": "x"}, 404),
    ):
        assert wecom.control("/licenses/open_app", bad).status_code == status, bad
    wecom.push("cancel_auth", tenant_id=CORP)
    revoked = {"app_id": wecom.app_id, "tenant_id": CORP, "userid": "x"}
    assert wecom.control("/licenses/open_app", revoked).status_code == 409
