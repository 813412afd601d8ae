"""The licenses' and editions' rows of the "at risk" page, from rows as the billing code stores
them: each section lists what it should and nothing else, escaped, linked to the tenant's page;
the counts on /metrics agree; a page with none of them says nothing needs attention."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from suite_server import db
from suite_server.billing import risks
from suite_server.db import utcnow
from suite_server.models import (
    AppOrder,
    LicenseOrder,
    ProxyErrcode,
    Tenant,
    TenantLicense,
)
from tests import factories
from tests.ops.test_metrics import scrape, value

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=utcnow().tzinfo)
SUITE, PROVIDER = "wwrisksuite", "wwriskprov"


def agent(app_status, expired_time, **more) -> dict:
    return {
        "edition_info": {
            "agent": [
                {
                    "agentid": 1000002,
                    "edition_id": "ed_pro",
                    "edition_name": "专业版",
                    "app_status": app_status,
                    "user_limit": 50,
                    "expired_time": expired_time,
                    **more,
                }
            ]
        }
    }


def tenant(session, app, tenant_id: str, name: str = "", **fields) -> Tenant:
    row = Tenant(app_pk=app.id, tenant_id=tenant_id, name=name or tenant_id, credential="pc")
    for key, field_value in fields.items():
        setattr(row, key, field_value)
    session.add(row)
    session.flush()
    return row


def stamp(when: datetime) -> int:
    return int(when.timestamp())


def licensed(session, row: Tenant, **fields) -> None:
    session.add(TenantLicense(tenant_pk=row.id, **fields))


@pytest.fixture
def stored(app):
    """One tenant for each row the page should show, and one beside it that it should not."""
    session = db.session()
    provider = factories.provider(session, corpid=PROVIDER)
    suite = factories.wecom_app(session, app_id=SUITE, provider_corpid=PROVIDER)
    other = factories.open_app(session)
    day = timedelta(days=1)

    # Trials: ending in 7 days (shown); licensed, not checked, ended, far off, cancelled (not).
    trial = dict(license_status=1, active_accounts=0, trial_start=NOW - 83 * day)
    licensed(
        session,
        tenant(session, suite, "wwweek", "Week <b>Corp</b>"),
        **trial,
        trial_end=NOW + 7 * day - timedelta(hours=1),
    )
    licensed(
        session,
        tenant(session, suite, "wwbought"),
        **{**trial, "active_accounts": 2},
        trial_end=NOW + 3 * day,
    )
    licensed(
        session,
        tenant(session, suite, "wwnocheck"),
        **{**trial, "license_status": 0},
        trial_end=NOW + 3 * day,
    )
    licensed(session, tenant(session, suite, "wwended"), **trial, trial_end=NOW - day)
    licensed(session, tenant(session, suite, "wwfar"), **trial, trial_end=NOW + 30 * day)
    gone = tenant(session, suite, "wwgone", status="cancelled")
    licensed(session, gone, **trial, trial_end=NOW + 2 * day)

    # Unlicensed members: told 2 days ago (shown), 10 days ago (not); refused calls.
    licensed(
        session,
        tenant(session, suite, "wwtold"),
        unlicensed_count=3,
        unlicensed_userid="wang<wu>",
        unlicensed_at=NOW - 2 * day,
    )
    licensed(
        session,
        tenant(session, suite, "wwlongago"),
        unlicensed_count=1,
        unlicensed_userid="old",
        unlicensed_at=NOW - 10 * day,
    )
    tenant(session, suite, "wwrefused")
    for tenant_id, errcode, at in (
        ("wwrefused", 701016, NOW - day),  # shown
        ("wwrefused", 60011, NOW - day),  # not a license errcode
        ("", 701016, NOW - day),  # an app call: no tenant
        ("wwgone", 701016, NOW - day),  # cancelled
    ):
        session.add(
            ProxyErrcode(
                app_pk=suite.id,
                tenant_id=tenant_id,
                path="cgi-bin/user/get",
                errcode=errcode,
                count=4,
                last_errmsg="no license",
                last_at=at,
            )
        )

    # Editions: expired by status and by date, over seats, expiring; paid and fine, not a
    # number, an Open tenant with a WeCom-like auth_info (not).
    tenant(session, suite, "wwtrialover", auth_info=agent(2, stamp(NOW - day)))
    tenant(session, suite, "wwlapsed", auth_info=agent(3, stamp(NOW - day)))
    tenant(session, suite, "wwcrowded", auth_info=agent(6, stamp(NOW + 200 * day)))
    tenant(session, suite, "wwpastgrace", auth_info=agent(7, stamp(NOW + 200 * day)))
    tenant(session, suite, "wwsoon", auth_info=agent(3, stamp(NOW + 5 * day)))
    tenant(session, suite, "wwfine", auth_info=agent(3, stamp(NOW + 200 * day)))
    tenant(session, suite, "wwodd", auth_info=agent("x", "tomorrow"))
    tenant(session, suite, "wwnoedition", auth_info={"auth_corp_info": {}})
    tenant(session, other, "wxaccount", auth_info=agent(2, stamp(NOW - day)))

    # Refunds: a paid-app order refunded (shown), one paid (not), one refunded long ago (not);
    # license orders refund requested and refused (shown), paid (not).
    tenant(session, suite, "wwbuyer", "Buyer")
    for order_id, status, updated in (
        ("OR<refund>", 5, NOW - day),
        ("OR-paid", 1, NOW - day),
        ("OR-old", 5, NOW - 40 * day),
    ):
        session.add(
            AppOrder(
                app_pk=suite.id,
                order_id=order_id,
                tenant_id="wwbuyer",
                order_status=status,
                price=500000,
                answer={},
                updated_at=updated,
            )
        )
    for order_id, status, corp in (
        ("LO-asked", 4, "wwbuyer"),
        ("LO-refused", 6, "wwstranger"),
        ("LO-paid", 1, "wwbuyer"),
    ):
        session.add(
            LicenseOrder(
                provider_pk=provider.id,
                order_id=order_id,
                corpid=corp,
                order_status=status,
                price=10000,
                answer={},
                updated_at=NOW - day,
            )
        )
    session.commit()
    return suite


def table(body: str, element_id: str) -> str:
    return body.split(f'id="{element_id}"', 1)[1].split("</table>", 1)[0]


def link(tenant_id: str, app_id: str = SUITE) -> str:
    return f'href="/admin/tenants/{app_id}/{tenant_id}"'


def test_the_page_lists_each_risk(signed_in, stored, monkeypatch):
    monkeypatch.setattr(risks, "utcnow", lambda: NOW)
    page = signed_in.get("/admin/at-risk")
    assert page.status_code == 200
    body = page.get_data(as_text=True)

    trials = table(body, "trials-ending")
    assert link("wwweek") in trials and "Week &lt;b&gt;Corp&lt;/b&gt;" in trials
    assert ">7</td>" in trials and "<b>Corp" not in trials
    for absent in ("wwbought", "wwnocheck", "wwended", "wwfar", "wwgone"):
        assert absent not in trials

    unlicensed = table(body, "unlicensed-seen")
    assert link("wwtold") in unlicensed and "<code>wang&lt;wu&gt;</code>" in unlicensed
    assert link("wwrefused") in unlicensed and "errcode 701016" in unlicensed
    for absent in ("wwlongago", "60011", "wwgone"):
        assert absent not in unlicensed

    editions = table(body, "editions-at-risk")
    rows = editions.split("<tr>")[2:]  # after the header row
    expected = ["wwtrialover", "wwlapsed", "wwcrowded", "wwpastgrace", "wwsoon"]
    # Expired first, then over seats, then expiring; by expiry, then as installed, within each.
    assert [next(t for t in expected if t in row) for row in rows] == expected
    assert "over its seats, past the grace (7)" in editions
    assert "expiring in 5 days" in editions
    for absent in ("wwfine", "wwodd", "wwnoedition", "wxaccount"):
        assert absent not in editions

    refunds = table(body, "refunds")
    assert "OR&lt;refund&gt;" in refunds and "OR<refund>" not in refunds
    assert "LO-asked" in refunds and "LO-refused" in refunds
    for absent in ("OR-paid", "OR-old", "LO-paid"):
        assert absent not in refunds
    assert link("wwbuyer") in refunds  # the license order's corp is a tenant of the suite
    assert "<code>wwstranger</code>" in refunds and link("wwstranger") not in refunds
    assert "refund requested" in refunds and "refund refused" in refunds


def test_metrics_count_what_the_page_lists(signed_in, stored, monkeypatch):
    monkeypatch.setattr(risks, "utcnow", lambda: NOW)
    metrics = scrape(signed_in)
    assert value(metrics, "suite_server_license_trials_ending") == 1
    assert value(metrics, "suite_server_tenants_unlicensed_seen") == 2
    assert value(metrics, 'suite_server_editions_at_risk{reason="expired"}') == 2
    assert value(metrics, 'suite_server_editions_at_risk{reason="over_seats"}') == 2
    assert value(metrics, 'suite_server_editions_at_risk{reason="expiring"}') == 1
    assert value(metrics, 'suite_server_refunds_recent{kind="app_order"}') == 1
    assert value(metrics, 'suite_server_refunds_recent{kind="license_order"}') == 2


def test_each_list_is_capped(stored):
    session = db.session()
    assert len(risks.editions_at_risk(session, NOW)) == 5
    assert len(risks.editions_at_risk(session, NOW, limit=2)) == 2
    assert len(risks.unlicensed_seen(session, NOW, limit=1)) == 1
    assert len(risks.refunds(session, NOW, limit=2)) == 2


def test_nothing_at_risk_says_so(signed_in, app):
    body = signed_in.get("/admin/at-risk").get_data(as_text=True)
    assert "Nothing needs attention" in body
    for element_id in ("trials-ending", "unlicensed-seen", "editions-at-risk", "refunds"):
        assert f'id="{element_id}"' not in body
    metrics = scrape(signed_in)
    assert value(metrics, "suite_server_license_trials_ending") == 0
    assert 'suite_server_editions_at_risk{reason="expired"} 0.0' in metrics
