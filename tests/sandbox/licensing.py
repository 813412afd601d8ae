"""What the license tests share: the provider's license calls, buying and paying an order,
activating a code, and a member-scoped call on the corp token."""

from __future__ import annotations

from tests.sandbox.conftest import WecomClient
from tests.sandbox.test_customized import PROVIDER, provider_token

CORP, OTHER = "wwcorp2101", "wwcorp2102"
MONTH, DAY = 31 * 86400, 86400
USER_GET = "/cgi-bin/user/get"


def lic(client: WecomClient, name: str, body: dict | None = None, **params: str) -> dict:
    """A license API call on the provider token (unless the caller gives another token)."""
    params = params or {"provider_access_token": provider_token(client)}
    return client.call(f"/cgi-bin/license/{name}", body or {}, **params)


def buy(
    client: WecomClient, corpid: str = CORP, base: int = 2, external: int = 1, months: int = 12
):
    body = {
        "corpid": corpid,
        "buyer_userid": "boss",
        "account_count": {"base_count": base, "external_contact_count": external},
        "account_duration": {"months": months},
    }
    answer = lic(client, "create_new_order", body)
    assert answer["errcode"] == 0, answer
    return answer["order_id"]


def pay(client: WecomClient, order_id: str) -> dict:
    response = client.control(f"/providers/{PROVIDER}/licenses/{order_id}/pay")
    assert response.status_code == 200, response.text
    return response.json()


def bought(client: WecomClient, corpid: str = CORP, **counts: int) -> list[dict]:
    """Buy and pay an order: its codes, [{active_code, type}]."""
    return pay(client, buy(client, corpid, **counts))["codes"]


def activate(client: WecomClient, code: str, userid: str, corpid: str = CORP) -> int:
    body = {"active_code": code, "corpid": corpid, "userid": userid}
    return lic(client, "active_account", body)["errcode"]


def code_info(client: WecomClient, code: str, corpid: str = CORP) -> dict:
    return lic(client, "get_active_info_by_code", {"corpid": corpid, "active_code": code})


def user_get(client: WecomClient, corp_token: str, userid: str) -> dict:
    return client.call(USER_GET, method="GET", userid=userid, access_token=corp_token)
