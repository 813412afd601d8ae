"""Paid-app orders and editions (应用付费, isv-capabilities.md §8): the order pushes to the command
URL with PaidCorpId, get_order and get_order_list agreeing with them, and the corp's
edition_info in get_permanent_code / get_auth_info moving from trial to paid to expired."""

from __future__ import annotations

import requests

from tests.sandbox.conftest import START as CLOCK_START
from tests.sandbox.conftest import WecomClient
from tests.sandbox.test_customized import install as install_customized
from tests.sandbox.test_customized import provider, template

__all__ = ["provider", "template"]  # the fixtures

CORP = "wwcorp2201"
START = int(CLOCK_START)
DAY = 86400
TRIAL_DAYS = 15
AUTH_INFO = "/cgi-bin/service/get_auth_info"
GET_ORDER = "/cgi-bin/service/get_order"
ORDER_LIST = "/cgi-bin/service/get_order_list"


def orders_path(client: WecomClient, tail: str = "") -> str:
    return f"/apps/{client.app_id}/orders{tail}"


def open_order(client: WecomClient, corpid: str = CORP, **details) -> dict:
    response = client.control(orders_path(client), {"tenant_id": corpid, **details})
    assert response.status_code == 201, response.text
    return response.json()


def act(client: WecomClient, orderid: str, action: str, body: dict | None = None) -> dict:
    response = client.control(orders_path(client, f"/{orderid}/{action}"), body)
    assert response.status_code == 200, response.text
    return response.json()


def get_order(client: WecomClient, orderid: str) -> dict:
    return client.call(GET_ORDER, {"orderid": orderid}, suite_access_token=client.suite_token())


def edition_of(client: WecomClient, permanent_code: str, corpid: str = CORP) -> dict:
    answer = client.call(
        AUTH_INFO,
        {"auth_corpid": corpid, "permanent_code": permanent_code},
        suite_access_token=client.suite_token(),
    )
    assert answer["errcode"] == 0, answer
    [agent] = answer["edition_info"]["agent"]
    return agent


def move_clock(client: WecomClient, seconds: int) -> None:
    """Through the control API, so that editions expiring on the way are pushed; then a fresh
    suite_ticket, since the last one aged with the clock."""
    assert client.control("/clock", {"advance": seconds}).status_code == 200
    client.push("ticket")


def order_pushes(receiver, kind: str, count: int = 1) -> list[dict]:
    found = receiver.wait_for_count(count, channel="command", InfoType=kind)
    assert all(r.error is None for r in found)  # wechatpy opened them for the suite id
    return [r.message for r in found]


def test_installs_start_on_the_trial_edition(wecom, provider, template, receiver):
    answer = wecom.install(CORP)
    agent_id = answer["auth_info"]["agent"][0]["agentid"]
    trial = {
        "agentid": agent_id,
        "edition_id": "sandbox_trial",
        "edition_name": "试用版",
        "app_status": 1,
        "user_limit": 0,
        "expired_time": START + TRIAL_DAYS * DAY,
        "is_virtual_version": False,
        "is_shared_from_other_corp": False,
    }
    assert answer["edition_info"] == {"agent": [trial]}
    assert edition_of(wecom, answer["permanent_code"]) == trial
    # 代开发 templates are not sold in the app market: no edition_info.
    assert "edition_info" not in install_customized(template)


def test_an_order_paid_moves_the_corp_onto_its_edition(wecom, receiver):
    permanent_code = wecom.install(CORP)["permanent_code"]
    move_clock(wecom, DAY)
    opened = open_order(wecom, edition_id="ed_pro", edition_name="专业版", user_count=20)
    order = opened["order"]
    assert opened["push"]["delivered"] is True and opened["push"]["channel"] == "command"
    [message] = order_pushes(receiver, "open_order")
    assert set(message) == {
        "SuiteId",
        "PaidCorpId",
        "InfoType",
        "TimeStamp",
        "OrderId",
        "OperatorId",
    }
    assert (message["SuiteId"], message["PaidCorpId"]) == (wecom.app_id, CORP)
    assert (message["OrderId"], message["OperatorId"]) == (order["orderid"], "admin")

    fetched = get_order(wecom, order["orderid"])
    assert fetched == {"errcode": 0, "errmsg": "ok", **order}
    assert fetched["order_status"] == 0 and fetched["paid_corpid"] == CORP
    assert (fetched["suiteid"], fetched["edition_id"], fetched["edition_name"]) == (
        wecom.app_id,
        "ed_pro",
        "专业版",
    )
    assert (fetched["user_count"], fetched["order_period"]) == (20, 365)
    assert fetched["order_time"] == START + DAY and fetched["paid_time"] == 0
    assert fetched["price"] == 200000 and fetched["operator_id"] == "admin"
    assert fetched["order_from"] == 0 and fetched["operator_corpid"] == CORP

    paid = act(wecom, order["orderid"], "pay")
    assert [p["kind"] for p in paid["pushes"]] == ["pay_for_app_success", "change_editon"]
    assert all(p["delivered"] for p in paid["pushes"])
    [success] = order_pushes(receiver, "pay_for_app_success")
    assert success["OrderId"] == order["orderid"] and success["PaidCorpId"] == CORP
    [changed] = order_pushes(receiver, "change_editon")
    assert set(changed) == {"SuiteId", "PaidCorpId", "InfoType", "TimeStamp"}
    assert changed["PaidCorpId"] == CORP

    end = START + DAY + 365 * DAY
    fetched = get_order(wecom, order["orderid"])
    assert fetched["order_status"] == 1 and fetched["paid_time"] == START + DAY
    assert (fetched["begin_time"], fetched["end_time"]) == (START + DAY, end)
    edition = edition_of(wecom, permanent_code)
    assert edition == paid["edition"]
    assert (edition["edition_id"], edition["app_status"]) == ("ed_pro", 3)
    assert (edition["user_limit"], edition["expired_time"]) == (20, end)
    listed = wecom.call(
        ORDER_LIST,
        {"start_time": START, "end_time": START + DAY},
        suite_access_token=wecom.suite_token(),
    )["order_list"]
    assert listed == [{k: v for k, v in fetched.items() if k not in ("errcode", "errmsg")}]

    # A renewal of the same edition begins when the running period ends.
    renewal = open_order(wecom, edition_id="ed_pro", edition_name="专业版", order_type=2)
    act(wecom, renewal["order"]["orderid"], "pay")
    renewed = get_order(wecom, renewal["order"]["orderid"])
    assert (renewed["begin_time"], renewed["end_time"]) == (end, end + 365 * DAY)
    assert edition_of(wecom, permanent_code)["expired_time"] == end + 365 * DAY

    # When the paid period is over the edition reads expired, and the suite is told once.
    move_clock(wecom, 2 * 365 * DAY)
    assert edition_of(wecom, permanent_code)["app_status"] == 4
    assert len(order_pushes(receiver, "change_editon", 3)) == 3
    move_clock(wecom, DAY)
    assert (
        len(
            [r for r in receiver.snapshot() if (r.message or {}).get("InfoType") == "change_editon"]
        )
        == 3
    )


def test_the_trial_edition_expires_on_the_sandbox_clock(wecom, receiver, clock):
    permanent_code = wecom.install(CORP)["permanent_code"]
    clock.advance(TRIAL_DAYS * DAY - 1)  # moved directly: nothing is pushed
    wecom.push("ticket")
    assert edition_of(wecom, permanent_code)["app_status"] == 1
    move_clock(wecom, 1)
    assert edition_of(wecom, permanent_code)["app_status"] == 2
    [changed] = order_pushes(receiver, "change_editon")
    assert (changed["SuiteId"], changed["PaidCorpId"]) == (wecom.app_id, CORP)

    # Paying after the trial: paid from now; a refund puts the expired trial back.
    order = open_order(wecom)["order"]
    paid = act(wecom, order["orderid"], "pay")["edition"]
    assert (paid["edition_id"], paid["app_status"], paid["user_limit"]) == (
        "sandbox_standard",
        3,
        10,
    )
    refunded = act(wecom, order["orderid"], "refund")
    assert [p["kind"] for p in refunded["pushes"]] == ["refund", "change_editon"]
    [refund] = order_pushes(receiver, "refund")
    assert (refund["OrderId"], refund["PaidCorpId"]) == (order["orderid"], CORP)
    assert get_order(wecom, order["orderid"])["order_status"] == 5
    edition = edition_of(wecom, permanent_code)
    assert (edition["edition_id"], edition["app_status"]) == ("sandbox_trial", 2)
    assert edition == refunded["edition"]


def test_changing_an_unpaid_order_replaces_it(wecom, receiver):
    wecom.install(CORP)
    first = open_order(wecom, user_count=5, order_from=1)["order"]
    assert "operator_id" not in first and first["operator_corpid"] == "wwprovider000001"
    assert "OperatorId" not in order_pushes(receiver, "open_order")[0]
    changed = act(wecom, first["orderid"], "change", {"user_count": 8})
    new, old = changed["order"], changed["old_order"]
    assert new["orderid"] != first["orderid"] and old["order_status"] == 2
    assert (new["order_status"], new["user_count"]) == (0, 8)
    assert new["price"] == 80000 and new["edition_id"] == first["edition_id"]
    [message] = order_pushes(receiver, "change_order")
    assert set(message) == {
        "SuiteId",
        "PaidCorpId",
        "InfoType",
        "TimeStamp",
        "OldOrderId",
        "NewOrderId",
    }
    assert (message["OldOrderId"], message["NewOrderId"]) == (first["orderid"], new["orderid"])
    assert get_order(wecom, first["orderid"])["order_status"] == 2
    assert get_order(wecom, new["orderid"])["user_count"] == 8

    for path, status in (
        (f"/{first['orderid']}/pay", 409),  # closed
        (f"/{first['orderid']}/change", 400),  # nothing to change
        (f"/{new['orderid']}/refund", 409),  # unpaid
        ("/Nnone/pay", 404),
    ):
        assert wecom.control(orders_path(wecom, path), {}).status_code == status, path
    act(wecom, new["orderid"], "pay")
    again = wecom.control(orders_path(wecom, f"/{new['orderid']}/change"), {"user_count": 9})
    assert again.status_code == 409  # paid orders are not changed
    listed = wecom.control(orders_path(wecom), method="GET").json()["orders"]
    assert [o["order_status"] for o in listed] == [2, 1]


def test_order_requests_are_checked(wecom, template, receiver):
    wecom.install(CORP)
    path = orders_path(wecom)
    for bad, status in (
        ({}, 400),
        ({"tenant_id": "wwnocorp"}, 404),
        ({"tenant_id": CORP, "user_count": 0}, 400),
        ({"tenant_id": CORP, "order_period": "365"}, 400),
        ({"tenant_id": CORP, "order_type": 4}, 400),
        ({"tenant_id": CORP, "edition_id": "x" * 65}, 400),
    ):
        assert wecom.control(path, bad).status_code == status, bad
    assert wecom.control(orders_path(template), {"tenant_id": CORP}).status_code == 400
    assert wecom.control("/apps/wwnosuite/orders", {"tenant_id": CORP}).status_code == 404
    for raw in (b"{", b"[]", b"42"):
        response = requests.post(wecom.base_url + "/sandbox" + path, data=raw, timeout=10)
        assert response.status_code == 400 and response.json()["error"]
    wecom.push("cancel_auth", tenant_id=CORP)
    assert wecom.control(path, {"tenant_id": CORP}).status_code == 409


def test_get_order_and_get_order_list_refusals(wecom, template, receiver):
    wecom.install(CORP)
    orderid = open_order(wecom)["order"]["orderid"]
    suite = wecom.suite_token()
    assert wecom.call(GET_ORDER, {}, suite_access_token=suite)["errcode"] == 40058
    assert wecom.call(GET_ORDER, {"orderid": 5}, suite_access_token=suite)["errcode"] == 47001
    other = template.call(
        GET_ORDER, {"orderid": orderid}, suite_access_token=template.suite_token()
    )
    assert other["errcode"] == 40058  # another suite's order
    assert wecom.call(GET_ORDER, {"orderid": orderid}, suite_access_token="x")["errcode"] == 40082
    assert wecom.call(GET_ORDER, method="GET", suite_access_token=suite)["errcode"] == 43002
    span = {"start_time": START, "end_time": START + 10}
    for body, errcode in (
        ({"start_time": START}, 40058),
        ({**span, "end_time": START - 1}, 40058),
        ({**span, "start_time": "x"}, 47001),
        ({**span, "test_mode": 2}, 40058),
    ):
        assert wecom.call(ORDER_LIST, body, suite_access_token=suite)["errcode"] == errcode, body
    assert (
        wecom.call(ORDER_LIST, {**span, "test_mode": 1}, suite_access_token=suite)["order_list"]
        == []
    )
    later = {"start_time": START + 1, "end_time": START + 10}
    assert wecom.call(ORDER_LIST, later, suite_access_token=suite)["order_list"] == []

    wecom.control("/calls", method="DELETE")
    rule = {"endpoint": "get_order", "errcode": 45009, "count": 1}
    assert wecom.control("/faults", rule).status_code == 201
    assert wecom.call(GET_ORDER, {"orderid": orderid}, suite_access_token=suite)["errcode"] == 45009
    assert wecom.call(GET_ORDER, {"orderid": orderid}, suite_access_token=suite)["errcode"] == 0
    calls = wecom.control("/calls", method="GET").json()
    assert calls["by_tenant"]["get_order"] == {CORP: 2}
