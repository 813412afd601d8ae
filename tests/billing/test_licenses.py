"""Interface licenses through the sandbox over HTTP: a license payment and an auto-activation
reach the provider's webhook as `license.*` with the order and accounts read back; each tenant's
license state (trial, licensed) is synced from get_app_license_info and shown in the token API;
a member blocked for lack of a license is counted on the tenant and told as `license.unlicensed`.
Buying and activating go through the provider proxy, as the ISV's own services do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from suite_server import db
from suite_server.billing import licenses
from suite_server.db import utcnow
from suite_server.models import App, LicenseAccount, LicenseOrder, TenantLicense
from suite_server.tenants import views
from tests import factories
from tests.authorization.conftest import drain, push, tenant_of
from tests.billing.test_orders import tenant_view
from tests.dispatch.test_lifecycle import hooked, received
from tests.gateway.helpers import proxied

PROVIDER = "wwprov"  # the provider the dispatch tests' suite is linked to
CORP = "wwlicensed"
DAY = 86400


@pytest.fixture
def provider(platform) -> App:
    row = factories.provider(db.session(), corpid=PROVIDER, secret="the-provider-secret")
    platform.register_provider(row)
    return row


def lic(platform, key: str, name: str, body: dict) -> dict:
    """A license call through the provider proxy, as the ISV's shop service makes it."""
    path = f"/providers/{PROVIDER}/proxy/cgi-bin/license/{name}"
    response = proxied(platform.server, key, path, "POST", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["errcode"] == 0, answer
    return answer


def buy(platform, key: str, corp: str = CORP, base: int = 2) -> str:
    body = {
        "corpid": corp,
        "buyer_userid": "boss",
        "account_count": {"base_count": base},
        "account_duration": {"months": 12},
    }
    return lic(platform, key, "create_new_order", body)["order_id"]


def license_of(suite: App, corp: str) -> TenantLicense | None:
    db.session().expire_all()
    return db.session().get(TenantLicense, tenant_of(suite, corp).id)


def sync(app) -> None:
    licenses.sync()
    drain(app)


def advance(platform, suite: App, seconds: int) -> None:
    """Move the platform's clock on; the suite's ticket aged with it, so a new one is pushed."""
    platform.control("clock", advance=seconds)
    assert platform.control("push", app_id=suite.app_id, kind="ticket")["delivered"]


def test_payment_and_auto_activation_reach_the_provider_webhook(
    app, platform, suite, provider, receivers, api_key
):
    receiver = receivers(200)
    hooked(provider, receiver)
    push(platform, suite, "create_auth", tenant_id=CORP, name="Licensed Corp")
    drain(app)
    sync(app)
    view = tenant_view(platform, suite, CORP)["license"]
    assert (view["state"], view["license_status"], view["active_accounts"]) == ("trial", 1, 0)
    row = license_of(suite, CORP)
    assert (row.trial_end - row.trial_start).days == 90 and row.check_time == row.trial_end

    order_id = buy(platform, key=api_key)
    paid = platform.control(f"providers/{PROVIDER}/licenses/{order_id}/pay")
    drain(app)
    order = db.session().scalar(select(LicenseOrder).where(LicenseOrder.order_id == order_id))
    assert (order.corpid, order.order_status, order.base_count, order.months) == (CORP, 1, 2, 12)
    assert order.pay_time is not None
    [body] = [b for b in received(receiver) if b["kind"] == "license.paid"]
    assert body["tenant_id"] == CORP and body["app_id"] == PROVIDER
    assert body["order"]["order_id"] == order_id and body["order"]["order_status"] == 1
    assert body["buyer_userid"]

    first, second = (code["active_code"] for code in paid["codes"])
    lic(
        platform,
        api_key,
        "active_account",
        {"active_code": first, "corpid": CORP, "userid": "zhangsan"},
    )
    lic(platform, api_key, "set_auto_active_status", {"corpid": CORP, "auto_active_status": 1})
    advance(platform, suite, 91 * DAY)
    opened = platform.control(
        "licenses/open_app", app_id=suite.app_id, tenant_id=CORP, userid="lisi"
    )
    assert opened["outcome"] == "auto_activated" and opened["active_code"] == second
    drain(app)
    [body] = [b for b in received(receiver) if b["kind"] == "license.auto_activated"]
    [account] = body["accounts"]
    assert (account["userid"], account["active_code"], account["type"]) == ("lisi", second, 1)
    db.session().expire_all()
    members = (
        db.session()
        .scalars(select(LicenseAccount.userid).where(LicenseAccount.corpid == CORP))
        .all()
    )
    assert sorted(members) == ["lisi", "zhangsan"]
    view = tenant_view(platform, suite, CORP)["license"]
    assert (view["state"], view["active_accounts"]) == ("licensed", 2)


def test_an_unlicensed_member_is_counted_on_the_tenant(
    app, platform, suite, provider, receivers, api_key, monkeypatch
):
    receiver = receivers(200)
    hooked(suite, receiver)
    push(platform, suite, "create_auth", tenant_id=CORP)
    drain(app)
    advance(platform, suite, 91 * DAY)
    opened = platform.control(
        "licenses/open_app", app_id=suite.app_id, tenant_id=CORP, userid="wangwu"
    )
    assert opened["outcome"] == "unlicensed"
    drain(app)
    row = license_of(suite, CORP)
    assert (row.unlicensed_count, row.unlicensed_userid) == (1, "wangwu")
    [body] = [b for b in received(receiver) if b["kind"] == "license.unlicensed"]
    assert body["userid"] == "wangwu" and body["tenant"]["license"]["unlicensed_count"] == 1
    sync(app)
    view = tenant_view(platform, suite, CORP)["license"]
    assert (view["state"], view["unlicensed_userid"]) == ("trial", "wangwu")
    # Our clock catches up with the platform's: the trial is over, no member holds an account.
    later = utcnow() + timedelta(days=91)
    monkeypatch.setattr(views, "utcnow", lambda: later)
    view = tenant_view(platform, suite, CORP)["license"]
    assert (view["state"], view["unlicensed_count"]) == ("unlicensed", 1)
