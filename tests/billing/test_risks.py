"""What of licenses and editions is at risk (billing/risks.py), through the sandbox over HTTP: a
tenant whose license trial ends in a week is on the admin's "at risk" page and counted on
/metrics; a member seen without a license (the platform's notice, a call the proxy saw refused
with 701016); an edition that expires; refunds of paid-app and license orders. Our clock is
moved by patching the module's utcnow or passing `now`, never the network."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from suite_server import db
from suite_server.billing import licenses, risks
from suite_server.db import utcnow
from suite_server.models import AppToken, Tenant, TenantToken
from tests.admin.conftest import admin_user, client, signed_in  # noqa: F401
from tests.authorization.conftest import drain, push, tenant_of
from tests.billing.test_licenses import (  # noqa: F401
    DAY,
    PROVIDER,
    advance,
    buy,
    lic,
    license_of,
    provider,
    sync,
)
from tests.billing.test_orders import act, place
from tests.gateway.helpers import tenant_call
from tests.ops.test_metrics import scrape, value

TRIALING, PAID_UP = "wwtrialing", "wwpaidup"


def section(page: str, element_id: str) -> str:
    """The table with this id on the page, or "" when the page has none."""
    if f'id="{element_id}"' not in page:
        return ""
    return page.split(f'id="{element_id}"', 1)[1].split("</table>", 1)[0]


def expire_tokens(suite) -> None:
    past = utcnow() - timedelta(seconds=1)
    db.session().execute(
        update(AppToken.__table__).where(AppToken.app_pk == suite.id).values(expires_at=past)
    )
    tenants = select(Tenant.id).where(Tenant.app_pk == suite.id)
    db.session().execute(
        update(TenantToken.__table__)
        .where(TenantToken.tenant_pk.in_(tenants))
        .values(expires_at=past)
    )
    db.session().commit()


def test_a_trial_ending_in_a_week_is_on_the_at_risk_page(
    app,
    platform,
    suite,
    provider,  # noqa: F811
    api_key,
    signed_in,  # noqa: F811
    monkeypatch,
):
    push(platform, suite, "create_auth", tenant_id=TRIALING, name="Trialing <Corp>")
    push(platform, suite, "create_auth", tenant_id=PAID_UP, name="Paid Corp")
    drain(app)
    order_id = buy(platform, api_key, corp=PAID_UP, base=1)
    [code] = platform.control(f"providers/{PROVIDER}/licenses/{order_id}/pay")["codes"]
    drain(app)
    activation = {"active_code": code["active_code"], "corpid": PAID_UP, "userid": "zhangsan"}
    lic(platform, api_key, "active_account", activation)
    sync(app)
    licenses.sync_corp_job(provider.id, PAID_UP)  # read again now that a member is licensed
    trial = license_of(suite, TRIALING)
    assert (trial.license_status, trial.active_accounts) == (1, 0)
    assert license_of(suite, PAID_UP).active_accounts == 1
    # Today the trials have 90 days left: nothing to tell.
    assert risks.trials_ending(db.session()) == []
    assert value(scrape(signed_in), "suite_server_license_trials_ending") == 0

    later = utcnow() + timedelta(days=83)
    monkeypatch.setattr(risks, "utcnow", lambda: later)
    [row] = risks.trials_ending(db.session())
    assert (row["app_id"], row["tenant_id"], row["days_left"]) == (suite.app_id, TRIALING, 7)
    assert row["trial_end"] == trial.trial_end

    page = signed_in.get("/admin/at-risk")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Nothing needs attention" not in body
    listed = section(body, "trials-ending")
    assert f'href="/admin/tenants/{suite.app_id}/{TRIALING}"' in listed
    assert "Trialing &lt;Corp&gt;" in listed and "<Corp>" not in listed
    assert ">7</td>" in listed and PAID_UP not in listed
    metrics = scrape(signed_in)
    assert value(metrics, "suite_server_license_trials_ending") == 1
    # The sandbox's trial edition (15 days) has expired by then, for both corps.
    assert value(metrics, 'suite_server_editions_at_risk{reason="expired"}') == 2


def test_members_seen_without_a_license(
    app,
    platform,
    suite,
    provider,  # noqa: F811
    api_key,
    signed_in,  # noqa: F811
):
    push(platform, suite, "create_auth", tenant_id=TRIALING, name="Trialing Corp")
    drain(app)
    assert risks.unlicensed_seen(db.session()) == []
    advance(platform, suite, 91 * DAY)
    opened = platform.control(
        "licenses/open_app", app_id=suite.app_id, tenant_id=TRIALING, userid="wangwu"
    )
    assert opened["outcome"] == "unlicensed"
    drain(app)
    # Our tokens were cut for the platform's old clock: let them be fetched again.
    expire_tokens(suite)
    # A call about a member without an account, made by another service through our proxy.
    answer = tenant_call(platform.server, api_key, suite, TRIALING).json()
    assert answer["errcode"] == 701016, answer

    rows = risks.unlicensed_seen(db.session())
    assert [row["source"] for row in rows] == ["refused", "notified"]  # newest first
    refused, notified = rows
    assert (notified["tenant_id"], notified["userid"], notified["count"]) == (TRIALING, "wangwu", 1)
    assert refused["errcode"] == 701016 and refused["path"].endswith("user/get")
    assert refused["tenant_id"] == TRIALING and refused["count"] == 1
    assert risks.count_unlicensed_seen(db.session()) == 1  # one tenant, seen twice

    listed = section(signed_in.get("/admin/at-risk").get_data(as_text=True), "unlicensed-seen")
    assert "<code>wangwu</code>" in listed and "errcode 701016" in listed
    assert listed.count(f'href="/admin/tenants/{suite.app_id}/{TRIALING}"') == 2
    assert value(scrape(signed_in), "suite_server_tenants_unlicensed_seen") == 1
    # A week on, with nothing new, the tenant drops off.
    week = utcnow() + timedelta(days=8)
    assert risks.unlicensed_seen(db.session(), now=week) == []
    assert risks.count_unlicensed_seen(db.session(), now=week) == 0


def test_an_edition_expiring_then_expired(app, platform, suite, signed_in):  # noqa: F811
    push(platform, suite, "create_auth", tenant_id=TRIALING, name="Trialing Corp")
    drain(app)
    # The sandbox's trial edition lasts 15 days: not yet within the 14 days' warning.
    assert risks.editions_at_risk(db.session()) == []
    soon = utcnow() + timedelta(days=2)
    [row] = risks.editions_at_risk(db.session(), now=soon)
    assert (row["tenant_id"], row["reason"], row["app_status"]) == (TRIALING, "expiring", 1)
    assert row["days_left"] == 13 and row["edition_id"] == "sandbox_trial"
    assert risks.count_editions_at_risk(db.session(), now=soon) == {
        "expired": 0,
        "over_seats": 0,
        "expiring": 1,
    }

    advance(platform, suite, 16 * DAY)  # the trial edition expires: change_editon is pushed
    platform.join()
    drain(app)
    assert tenant_of(suite, TRIALING).auth_info["edition_info"]["agent"][0]["app_status"] == 2
    [row] = risks.editions_at_risk(db.session())
    assert (row["reason"], row["app_status"], row["status_label"]) == (
        "expired",
        2,
        "trial expired",
    )
    listed = section(signed_in.get("/admin/at-risk").get_data(as_text=True), "editions-at-risk")
    assert f'href="/admin/tenants/{suite.app_id}/{TRIALING}"' in listed
    assert ">expired</td>" in listed and "trial expired (2)" in listed
    metrics = scrape(signed_in)
    assert value(metrics, 'suite_server_editions_at_risk{reason="expired"}') == 1
    assert value(metrics, 'suite_server_editions_at_risk{reason="expiring"}') == 0


def test_refunds_of_paid_app_and_license_orders(
    app,
    platform,
    suite,
    provider,  # noqa: F811
    api_key,
    signed_in,  # noqa: F811
):
    push(platform, suite, "create_auth", tenant_id=PAID_UP, name="Paid Corp")
    drain(app)
    app_order = place(platform, suite, PAID_UP, user_count=20)
    act(platform, suite, app_order, "pay")
    drain(app)
    act(platform, suite, app_order, "refund")
    refunded = buy(platform, api_key, corp=PAID_UP)
    platform.control(f"providers/{PROVIDER}/licenses/{refunded}/pay")
    platform.control(f"providers/{PROVIDER}/licenses/{refunded}/refund")
    kept = buy(platform, api_key, corp=PAID_UP)
    platform.control(f"providers/{PROVIDER}/licenses/{kept}/pay")
    platform.control(f"providers/{PROVIDER}/licenses/{kept}/refund", accept=False)
    unpaid = buy(platform, api_key, corp=PAID_UP)
    drain(app)

    rows = {row["order_id"]: row for row in risks.refunds(db.session())}
    assert set(rows) == {app_order, refunded, kept}  # not the paid-then-unpaid others
    assert unpaid not in rows
    assert (rows[app_order]["kind"], rows[app_order]["status"]) == ("app_order", "refunded")
    assert rows[app_order]["tenant_app_id"] == suite.app_id
    assert (rows[refunded]["kind"], rows[refunded]["status"]) == ("license_order", "refunded")
    assert rows[kept]["status"] == "refund refused"
    # A license order is the provider's: its corp links to the corp's tenant of the suite.
    assert rows[kept]["app_id"] == PROVIDER and rows[kept]["tenant_app_id"] == suite.app_id
    assert risks.count_refunds(db.session()) == {"app_order": 1, "license_order": 2}

    listed = section(signed_in.get("/admin/at-risk").get_data(as_text=True), "refunds")
    assert all(order_id in listed for order_id in (app_order, refunded, kept))
    assert f'href="/admin/apps/{PROVIDER}"' in listed
    assert f'href="/admin/tenants/{suite.app_id}/{PAID_UP}"' in listed
    metrics = scrape(signed_in)
    assert value(metrics, 'suite_server_refunds_recent{kind="app_order"}') == 1
    assert value(metrics, 'suite_server_refunds_recent{kind="license_order"}') == 2
    month = utcnow() + timedelta(days=31)
    assert risks.refunds(db.session(), now=month) == []
    assert risks.count_refunds(db.session(), now=month) == {"app_order": 0, "license_order": 0}
