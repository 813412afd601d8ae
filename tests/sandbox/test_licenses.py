"""WeCom licenses (接口许可, isv-capabilities.md §4): the provider's license API, payment and
refund as control actions with their system-event pushes, the activation rules, the 90-day
trial on the sandbox clock, auto-activation against unlicensed_notify, and a member-scoped call
refused once the trial is over."""

from __future__ import annotations

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sandbox.conftest import START
from tests.sandbox.licensing import (
    CORP,
    DAY,
    MONTH,
    OTHER,
    activate,
    bought,
    buy,
    code_info,
    lic,
    pay,
)
from tests.sandbox.test_customized import PROVIDER, provider, provider_token
from tests.sandbox.test_providers import decrypt
from tests.sandbox.test_robustness import VALUES as ROBUSTNESS_VALUES

__all__ = ["provider"]  # the fixture


def test_a_paid_order_makes_its_codes_and_tells_the_system_url(wecom, provider, receiver):
    wecom.install(CORP)
    order_id = buy(wecom)
    order = lic(wecom, "get_order", {"order_id": order_id})["order"]
    assert order["order_status"] == 0 and order["order_type"] == 1 and order["corpid"] == CORP
    assert order["account_count"] == {"base_count": 2, "external_contact_count": 1}
    assert order["account_duration"] == {"months": 12} and order["create_time"] == START
    assert "pay_time" not in order and order["price"] > 0
    assert lic(wecom, "list_order_account", {"order_id": order_id})["account_list"] == []

    paid = pay(wecom, order_id)
    assert paid["push"]["delivered"] is True and paid["push"]["channel"] == "system"
    assert sorted(c["type"] for c in paid["codes"]) == [1, 1, 2]
    got = receiver.wait_for(channel="system", InfoType="license_pay_success")
    assert got.error is None  # wechatpy opened it for the provider corpid
    message, receive_id = decrypt(got)
    assert receive_id == PROVIDER
    assert set(message) == {
        "ServiceCorpId", "InfoType", "AuthCorpId", "TimeStamp", "OrderId", "BuyerUserId"
    }  # fmt: skip
    assert (message["ServiceCorpId"], message["AuthCorpId"]) == (PROVIDER, CORP)
    assert (message["OrderId"], message["BuyerUserId"]) == (order_id, "boss")

    order = lic(wecom, "get_order", {"order_id": order_id})["order"]
    assert order["order_status"] == 1 and order["pay_time"] == START
    accounts = lic(wecom, "list_order_account", {"order_id": order_id, "limit": 2})
    assert accounts["has_more"] == 1 and len(accounts["account_list"]) == 2
    rest = lic(
        wecom, "list_order_account", {"order_id": order_id, "cursor": accounts["next_cursor"]}
    )
    assert rest["has_more"] == 0 and rest["next_cursor"] == ""
    listed = {
        (a["active_code"], a["type"]) for a in accounts["account_list"] + rest["account_list"]
    }
    assert listed == {(c["active_code"], c["type"]) for c in paid["codes"]}
    orders = lic(wecom, "list_order", {"corpid": CORP})["order_list"]
    assert orders == [{"order_id": order_id, "order_type": 1}]
    assert lic(wecom, "list_order", {"corpid": OTHER})["order_list"] == []

    # Paying twice, or what does not exist, is refused by the control API.
    assert wecom.control(f"/providers/{PROVIDER}/licenses/{order_id}/pay").status_code == 409
    assert wecom.control(f"/providers/{PROVIDER}/licenses/OInone/pay").status_code == 404
    assert wecom.control(f"/providers/wwnobody/licenses/{order_id}/pay").status_code == 404
    book = wecom.control(f"/providers/{PROVIDER}/licenses", method="GET").json()
    assert [o["order_id"] for o in book["orders"]] == [order_id] and len(book["codes"]) == 3


def test_orders_are_refused_as_the_platform_refuses_them(wecom, provider, receiver):
    good = {
        "corpid": CORP,
        "buyer_userid": "boss",
        "account_count": {"base_count": 1},
        "account_duration": {"months": 1},
    }
    assert lic(wecom, "create_new_order", good)["errcode"] == 701015  # not authorized yet
    wecom.install(CORP)
    for change, errcode in (
        ({"corpid": ""}, 41002),
        ({"buyer_userid": None}, 40058),
        ({"account_count": {"base_count": 0}}, 40058),
        ({"account_count": {"base_count": 10001}}, 40058),
        ({"account_count": {"base_count": "1"}}, 47001),
        ({"account_count": None}, 40058),
        ({"account_duration": {"months": 0}}, 40058),
        ({"account_duration": {"months": 61}}, 40058),
        ({"account_duration": []}, 47001),
    ):
        assert lic(wecom, "create_new_order", {**good, **change})["errcode"] == errcode, change
    with_days = lic(wecom, "create_new_order", {**good, "account_duration": {"days": 10}})
    assert lic(wecom, "get_order", {"order_id": with_days["order_id"]})["order"][
        "account_duration"
    ] == {"months": 0, "days": 10}
    # Only the provider token: a suite token or none is refused like get_customized_auth_url.
    assert lic(wecom, "create_new_order", good, provider_access_token="x")["errcode"] == 40082
    suite = wecom.suite_token()
    assert lic(wecom, "list_order", {}, provider_access_token=suite)["errcode"] == 40082
    assert lic(wecom, "list_order", {}, other="x")["errcode"] == 41022
    answer = requests.get(
        f"{wecom.base_url}/cgi-bin/license/list_order",
        params={"provider_access_token": provider_token(wecom)},
        timeout=10,
    ).json()
    assert answer["errcode"] == 43002  # POST only

    # Cancelling: unpaid orders only, of the corp named.
    order_id = lic(wecom, "create_new_order", good)["order_id"]
    assert lic(wecom, "cancel_order", {"corpid": OTHER, "order_id": order_id})["errcode"] == 701005
    assert lic(wecom, "cancel_order", {"corpid": CORP, "order_id": order_id})["errcode"] == 0
    assert lic(wecom, "get_order", {"order_id": order_id})["order"]["order_status"] == 2
    assert lic(wecom, "cancel_order", {"corpid": CORP, "order_id": order_id})["errcode"] == 701005
    assert wecom.control(f"/providers/{PROVIDER}/licenses/{order_id}/pay").status_code == 409
    paid = buy(wecom)
    pay(wecom, paid)
    assert lic(wecom, "cancel_order", {"corpid": CORP, "order_id": paid})["errcode"] == 701005
    assert lic(wecom, "get_order", {"order_id": "OInone"})["errcode"] == 701005

    # A corp that cancelled its authorization can no longer be sold accounts.
    wecom.push("cancel_auth", tenant_id=CORP)
    assert lic(wecom, "create_new_order", good)["errcode"] == 701015


def test_activation_rules_and_their_errcodes(wecom, provider, receiver, clock):
    wecom.install(CORP)
    wecom.install(OTHER, "Corp Two")
    codes = bought(wecom, base=3, external=1)
    basic = [c["active_code"] for c in codes if c["type"] == 1]
    external = next(c["active_code"] for c in codes if c["type"] == 2)
    [elsewhere] = [c["active_code"] for c in bought(wecom, OTHER, base=1, external=0)]

    assert code_info(wecom, basic[0])["active_info"] == {
        "active_code": basic[0],
        "type": 1,
        "status": 1,
        "create_time": START,
    }
    assert activate(wecom, basic[0], "zhangsan") == 0
    info = code_info(wecom, basic[0])["active_info"]
    assert (info["status"], info["userid"], info["active_time"]) == (2, "zhangsan", START)
    assert info["expire_time"] == START + 12 * MONTH
    assert activate(wecom, basic[0], "lisi") == 701003  # the code is bound
    assert activate(wecom, basic[1], "zhangsan") == 701011  # zhangsan holds a basic one
    assert activate(wecom, external, "zhangsan") == 0  # another type
    assert activate(wecom, "LCNOTACODE", "lisi") == 701002
    assert activate(wecom, elsewhere, "lisi") == 701019  # OTHER's code
    assert code_info(wecom, elsewhere)["errcode"] == 701019
    assert lic(wecom, "active_account", {"corpid": CORP, "userid": "x"})["errcode"] == 40058

    by_user = lic(wecom, "get_active_info_by_user", {"corpid": CORP, "userid": "zhangsan"})
    assert by_user["active_status"] == 1
    assert {i["active_code"] for i in by_user["active_info_list"]} == {basic[0], external}
    nobody = lic(wecom, "get_active_info_by_user", {"corpid": CORP, "userid": "nobody"})
    assert (nobody["active_status"], nobody["active_info_list"]) == (0, [])

    batch = lic(
        wecom,
        "batch_active_account",
        {
            "corpid": CORP,
            "active_list": [
                {"active_code": basic[1], "userid": "lisi"},
                {"active_code": basic[0], "userid": "wangwu"},
            ],
        },
    )
    assert [r["errcode"] for r in batch["active_result"]] == [0, 701003]
    assert lic(wecom, "batch_active_account", {"corpid": CORP, "active_list": []})["errcode"]
    looked_up = lic(
        wecom,
        "batch_get_active_info_by_code",
        {"corpid": CORP, "active_code_list": [basic[1], "LCNOTACODE"]},
    )
    assert [i["userid"] for i in looked_up["active_info_list"]] == ["lisi"]
    assert looked_up["invalid_active_code_list"] == ["LCNOTACODE"]
    actived = lic(wecom, "list_actived_account", {"corpid": CORP})["account_list"]
    assert sorted((a["userid"], a["type"]) for a in actived) == [
        ("lisi", 1),
        ("zhangsan", 1),
        ("zhangsan", 2),
    ]

    # A year of 31-day months later zhangsan's basic account has expired: a new code merges it.
    clock.advance(12 * MONTH)
    assert code_info(wecom, basic[0])["active_info"]["status"] == 3
    assert "zhangsan" not in {
        a["userid"] for a in lic(wecom, "list_actived_account", {"corpid": CORP})["account_list"]
    }
    assert activate(wecom, basic[2], "zhangsan") == 701012  # unbound for over 365 days
    [renewal] = [c["active_code"] for c in bought(wecom, base=1, external=0)]
    assert activate(wecom, renewal, "zhangsan") == 0
    old, new = code_info(wecom, basic[0])["active_info"], code_info(wecom, renewal)["active_info"]
    assert old["status"] == 5 and old["merge_info"] == {"to_active_code": renewal}
    assert new["status"] == 2 and new["merge_info"] == {"from_active_code": basic[0]}


def test_codes_die_when_unbound_for_a_year_or_refunded(wecom, provider, receiver, clock):
    wecom.install(CORP)
    [late] = [c["active_code"] for c in bought(wecom, base=1, external=0)]
    clock.advance(365 * DAY - 1)
    code = bought(wecom, base=1, external=0)[0]["active_code"]
    clock.advance(1)
    assert activate(wecom, late, "zhangsan") == 701012
    assert activate(wecom, code, "zhangsan") == 0  # bought a second later, still in time

    order_id = buy(wecom, base=2, external=0)
    codes = [c["active_code"] for c in pay(wecom, order_id)["codes"]]
    assert activate(wecom, codes[0], "lisi") == 0
    refund = f"/providers/{PROVIDER}/licenses/{order_id}/refund"
    assert wecom.control(refund).status_code == 409  # an account of it is in use

    refused = wecom.control(refund, {"accept": False})
    assert refused.status_code == 200 and refused.json()["order"]["order_status"] == 6
    message, _ = decrypt(receiver.wait_for(channel="system", InfoType="license_refund"))
    assert (message["OrderId"], message["OrderStatus"], message["AuthCorpId"]) == (
        order_id,
        "2",
        CORP,
    )

    other = buy(wecom, base=1, external=0)
    [spare] = [c["active_code"] for c in pay(wecom, other)["codes"]]
    granted = wecom.control(f"/providers/{PROVIDER}/licenses/{other}/refund", {})
    assert granted.status_code == 200 and granted.json()["order"]["order_status"] == 5
    pushes = receiver.wait_for_count(2, channel="system", InfoType="license_refund")
    message, _ = decrypt(pushes[-1])
    assert (message["OrderId"], message["OrderStatus"]) == (other, "1")
    assert activate(wecom, spare, "wangwu") == 701002  # the refunded order's codes are void
    assert wecom.control(f"/providers/{PROVIDER}/licenses/{other}/refund").status_code == 409
    unpaid = buy(wecom)
    assert wecom.control(f"/providers/{PROVIDER}/licenses/{unpaid}/refund").status_code == 409
    assert wecom.control(refund, {"accept": "no"}).status_code == 400


def test_license_calls_are_counted_and_faults_apply(wecom, provider, receiver):
    wecom.install(CORP)
    wecom.control("/calls", method="DELETE")
    order_id = buy(wecom)
    lic(wecom, "get_order", {"order_id": order_id})
    calls = wecom.control("/calls", method="GET").json()
    assert calls["by_endpoint"]["create_new_order"] == 1
    assert calls["by_endpoint"]["license_get_order"] == 1
    assert calls["by_tenant"]["create_new_order"] == {CORP: 1}

    rule = {"endpoint": "active_account", "errcode": -1, "count": 1}
    assert wecom.control("/faults", rule).status_code == 201
    [code] = [c["active_code"] for c in pay(wecom, order_id)["codes"] if c["type"] == 2]
    assert activate(wecom, code, "zhangsan") == -1
    assert activate(wecom, code, "zhangsan") == 0


# fmt: off
FIELDS = [
    "corpid", "buyer_userid", "account_count", "account_duration", "order_id", "active_code",
    "userid", "active_list", "active_code_list", "cursor", "limit", "start_time", "end_time",
    "suite_id", "auto_active_status",
]
# fmt: on
VALUES = st.one_of(
    ROBUSTNESS_VALUES,
    st.lists(st.dictionaries(st.sampled_from(["active_code", "userid"]), st.text()), max_size=2),
    st.dictionaries(st.sampled_from(["base_count", "months", "days"]), st.integers(), max_size=3),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), body=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=6))
def test_license_apis_answer_errcodes_for_any_json(sandbox, wecom, provider, data, body):
    paths = sorted(
        rule.rule
        for rule in sandbox.app.url_map.iter_rules()
        if rule.endpoint.startswith("sandbox_license_api.")
    )
    assert len(paths) == 14
    response = requests.post(
        wecom.base_url + data.draw(st.sampled_from(paths)),
        json=body,
        params={"provider_access_token": provider_token(wecom)},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json().get("errcode") != -1, (body, response.text)


def test_license_control_actions_answer_4xx_for_garbage(wecom, provider):
    paths = [
        f"/sandbox/providers/{PROVIDER}/licenses/OI1/pay",
        f"/sandbox/providers/{PROVIDER}/licenses/OI1/refund",
        "/sandbox/licenses/open_app",
    ]
    for path in paths:
        for raw in (b"{", b"[]", b"42", b'"x"', b"\xff\xfe"):
            response = requests.post(wecom.base_url + path, data=raw, timeout=10)
            assert 400 <= response.status_code < 500, (path, raw, response.text)
            assert response.json()["error"]
