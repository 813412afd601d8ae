"""Interface licenses through the sandbox over HTTP: a license payment and an auto-activation
reach the provider's webhook as `license.*` with the order and accounts read back; each tenant's
license state (trial, licensed) is synced from get_app_license_info and shown in the token API;
a member blocked for lack of a license is counted on the tenant and told as `license.unlicensed`.
Buying and activating go through the provider proxy, as the ISV's own services do."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from suite_server import db
from suite_server.billing import licenses
from suite_server.db import utcnow
from suite_server.models import (
    App,
    InboundEvent,
    LicenseAccount,
    LicenseOrder,
    TenantLicense,
)
from suite_server.processing import pipeline
from suite_server.tenants import views
from tests import factories
from tests.authorization.conftest import DEAD_URL, drain, miss_pushes, push, tenant_of
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


def pushes_of(provider: App, kind: str) -> list[InboundEvent]:
    db.session().expire_all()
    query = select(InboundEvent).where(
        InboundEvent.app_pk == provider.id, InboundEvent.kind == kind
    )
    return list(db.session().scalars(query.order_by(InboundEvent.id)))


def test_a_refund_is_read_back_and_told_once(
    app, platform, suite, provider, receivers, api_key, fast_retries
):
    receiver = receivers(200)
    hooked(provider, receiver)
    # The corp installed on the platform, but its push never reached us: not a tenant here.
    miss_pushes(platform, suite, True)
    platform.control("push", app_id=suite.app_id, kind="create_auth", tenant_id="wwnotyet")
    miss_pushes(platform, suite, False)
    order_id = buy(platform, api_key, corp="wwnotyet")
    platform.control(f"providers/{PROVIDER}/licenses/{order_id}/pay")
    drain(app)
    platform.control("faults", endpoint="license_get_order", errcode=-1, count=2)
    platform.control(f"providers/{PROVIDER}/licenses/{order_id}/refund", accept=True)
    drain(app)

    [event] = pushes_of(provider, "license_refund")
    assert (event.status, event.attempts, event.tenant_id) == ("done", 3, "wwnotyet")
    order = db.session().scalar(select(LicenseOrder).where(LicenseOrder.order_id == order_id))
    assert order.order_status == 5
    kinds = [b["kind"] for b in received(receiver)]
    assert kinds == ["license.paid", "license.refunded"]
    refunded = received(receiver)[1]
    assert refunded["tenant"] is None and refunded["order"]["order_status"] == 5
    assert pipeline.process(event.id) is None  # done: a second run tells nothing new
    drain(app)
    assert len(received(receiver)) == 2


def test_the_sync_checks_each_corp_once_a_day_and_keeps_what_it_could_not_read(
    app, platform, suite, provider
):
    push(platform, suite, "create_auth", tenant_id="wwfresh")
    drain(app)
    # A tenant here the platform does not know: get_app_license_info refuses it (40013).
    factories.tenant(db.session(), suite, tenant_id="wwghost")
    sync(app)
    fresh, ghost = license_of(suite, "wwfresh"), license_of(suite, "wwghost")
    assert fresh.license_status == 1 and fresh.check_error is None
    assert ghost.license_status is None and "40013" in ghost.check_error
    assert ghost.checked_at is not None  # tried: not asked again before the day is over
    calls = platform.calls().get("get_app_license_info", 0)

    sync(app)  # nothing is due
    assert platform.calls().get("get_app_license_info", 0) == calls
    db.session().execute(
        update(TenantLicense)
        .where(TenantLicense.tenant_pk == tenant_of(suite, "wwfresh").id)
        .values(checked_at=utcnow() - licenses.CHECK_EVERY - timedelta(minutes=1))
    )
    db.session().commit()
    assert licenses.sync() == 1
    drain(app)
    assert platform.calls().get("get_app_license_info", 0) == calls + 1


def test_a_payment_whose_push_was_lost_is_caught_up_and_told_once(
    app, platform, suite, provider, receivers, api_key
):
    receiver = receivers(200)
    hooked(provider, receiver)
    push(platform, suite, "create_auth", tenant_id=CORP)
    drain(app)
    order_id = buy(platform, api_key)
    platform.control(
        "providers",
        corpid=provider.app_id,
        secret=provider.secret,
        token=provider.token,
        aes_key=provider.aes_key,
        server_url=DEAD_URL,
    )
    assert not platform.control(f"providers/{PROVIDER}/licenses/{order_id}/pay")["push"][
        "delivered"
    ]
    platform.register_provider(provider)  # pushes reach us again
    assert pushes_of(provider, "license_pay_success") == []

    sync(app)
    order = db.session().scalar(select(LicenseOrder).where(LicenseOrder.order_id == order_id))
    assert order.order_status == 1
    [body] = received(receiver)
    assert (body["kind"], body["caught_up"]) == ("license.paid", True)
    assert body["order"]["order_id"] == order_id

    # The push comes late after all: stored and done, and not told a second time.
    again = platform.control(
        f"providers/{PROVIDER}/push",
        kind="license_pay_success",
        auth_corpid=CORP,
        fields={"OrderId": order_id, "BuyerUserId": "boss"},
    )
    assert again["delivered"]
    drain(app)
    assert [e.status for e in pushes_of(provider, "license_pay_success")] == ["done"]
    assert len(received(receiver)) == 1


def test_two_syncs_of_one_corp_at_once_keep_one_row_per_account(app, provider):
    """A push's sync and the hourly job's can run at once for one corp. The second to write a
    new member's row finds the first's and updates it; it used to fail on the unique key."""
    provider_pk, now = provider.id, utcnow()
    year = [{"userid": "zhangsan", "type": 1, "active": now, "expire": now + timedelta(days=365)}]
    two_years = [{**year[0], "expire": now + timedelta(days=730)}]
    first = db.session()
    licenses._replace_accounts(first, provider, CORP, year)  # written, not yet committed
    failed = []

    def second_sync() -> None:
        with app.app_context():
            session = db.session()
            try:
                other = session.get(App, provider_pk)
                licenses._replace_accounts(session, other, CORP, two_years)  # waits for the first
                session.commit()
            except Exception as error:  # reported by the test
                failed.append(error)

    thread = threading.Thread(target=second_sync)
    thread.start()
    time.sleep(0.5)  # it has read the corp's rows (none yet) and waits on ours
    first.commit()
    thread.join(timeout=10)
    assert not thread.is_alive() and failed == []
    first.expire_all()
    [row] = first.scalars(select(LicenseAccount).where(LicenseAccount.corpid == CORP)).all()
    assert (row.userid, row.expire_time) == ("zhangsan", two_years[0]["expire"])
