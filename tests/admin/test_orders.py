"""Paid-app orders in the admin: a tenant's page shows its edition and its orders newest first;
a suite's page shows its latest orders of every corp, escaped."""

from __future__ import annotations

from suite_server import db
from suite_server.billing import orders
from suite_server.models import Tenant
from tests import factories

EDITION = {
    "agent": [
        {
            "agentid": 1000002,
            "edition_id": "ed_pro",
            "edition_name": "专业版",
            "app_status": 3,
            "user_limit": 50,
            "expired_time": 1800000000,
        }
    ]
}


def answer(order_id: str, corp: str, order_time: int, **more) -> dict:
    return {
        "errcode": 0,
        "errmsg": "ok",
        "orderid": order_id,
        "order_status": 1,
        "order_type": 0,
        "paid_corpid": corp,
        "edition_id": "ed_pro",
        "edition_name": "专业版",
        "price": 500000,
        "user_count": 50,
        "order_period": 365,
        "order_time": order_time,
        "paid_time": order_time + 60,
        "begin_time": order_time + 60,
        "end_time": order_time + 60 + 365 * 86400,
        **more,
    }


def test_the_tenant_and_app_pages_show_edition_and_orders(signed_in, app):
    session = db.session()
    suite = factories.wecom_app(session, app_id="wwpaidsuite")
    tenant = Tenant(
        app_pk=suite.id, tenant_id="wwbuyer", name="Buyer", credential="pc", auth_info={}
    )
    tenant.auth_info = {"edition_info": EDITION}
    session.add(tenant)
    session.commit()
    orders.store_order(session, suite, answer("OR-old", "wwbuyer", 1700000000))
    orders.store_order(session, suite, answer("OR-new", "wwbuyer", 1700100000, order_status=5))
    orders.store_order(session, suite, answer("OR<b>other", "wwother", 1700200000))
    session.commit()

    page = signed_in.get("/admin/tenants/wwpaidsuite/wwbuyer")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    edition = body.split('id="edition"', 1)[1].split("</dl>", 1)[0]
    assert "专业版" in edition and "ed_pro" in edition and "50" in edition
    assert "2027-01-15T08:00:00+00:00" in edition  # expired_time 1800000000, as ISO
    listed = body.split('id="tenant-orders"', 1)[1].split("</table>", 1)[0]
    assert listed.index("OR-new") < listed.index("OR-old")  # newest first
    assert "refunded" in listed and "paid" in listed and "OR&lt;b&gt;other" not in listed

    page = signed_in.get("/admin/apps/wwpaidsuite")
    assert page.status_code == 200
    listed = page.get_data(as_text=True).split('id="app-orders"', 1)[1].split("</table>", 1)[0]
    assert "OR&lt;b&gt;other" in listed and "OR<b>other" not in listed
    assert listed.index("OR&lt;b&gt;other") < listed.index("OR-new") < listed.index("OR-old")
    assert "wwother" in listed and "wwbuyer" in listed


def test_a_tenant_without_an_edition_says_so(signed_in, app):
    session = db.session()
    suite = factories.wecom_app(session, app_id="wwfreesuite")
    session.add(Tenant(app_pk=suite.id, tenant_id="wwfree", name="Free", credential="pc"))
    session.commit()
    body = signed_in.get("/admin/tenants/wwfreesuite/wwfree").get_data(as_text=True)
    assert "none in the auth info" in body and "No orders." in body
