"""Interface licenses in the admin, with data made through the sandbox: a tenant's page shows its
license state, the members WeCom refused (a user/get through the proxy refused 701016 once the
trial is over, an unlicensed_notify), its corp's accounts and license orders; "Check licenses
now" is audited, enqueues licenses.sync_corp, and the rows appear once it ran; the app and
provider pages list license orders. The ledger's queries are bounded, newest first, and keep to
the app's tenants and to the license errcodes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from suite_server import db
from suite_server.billing import ledger, licenses
from suite_server.db import utcnow
from suite_server.jobs import runner
from suite_server.models import AppToken, AuditEntry, LicenseOrder, ProxyErrcode, TenantToken
from suite_server.tenants import views
from tests import factories
from tests.admin.conftest import USERNAME, post
from tests.api.conftest import api_key
from tests.authorization.conftest import drain, push, tenant_of
from tests.billing.test_licenses import CORP, DAY, PROVIDER, advance, buy, lic, provider, sync
from tests.gateway.helpers import tenant_call

__all__ = ["api_key", "provider"]  # the fixtures

PAGE = f"/admin/tenants/wwinstallsuite/{CORP}"


def section(body: str, marker: str, end: str = "</table>") -> str:
    return body.split(marker, 1)[1].split(end, 1)[0]


def tokens_run_out(suite, corp: str) -> None:
    """After the platform's clock moved on, our suite and corp tokens have run out there: make
    them look run out here too (our clock is not the sandbox's), so the next call gets new ones."""
    session = db.session()
    past = utcnow() - timedelta(minutes=1)
    tenant = tenant_of(suite, corp)
    for model, where in (
        (AppToken, AppToken.app_pk == suite.id),
        (TenantToken, TenantToken.tenant_pk == tenant.id),
    ):
        session.execute(
            update(model.__table__)
            .where(where)
            .values(expires_at=past, refresh_at=past, obtained_at=past - timedelta(hours=2))
        )
    session.commit()


def last_audit() -> AuditEntry:
    db.session().expire_all()
    return db.session().scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()


def test_a_call_refused_for_an_unlicensed_member_shows_on_the_tenant(
    app, platform, suite, provider, api_key, signed_in, monkeypatch
):
    push(platform, suite, "create_auth", tenant_id=CORP, name="Trial Corp")
    drain(app)
    sync(app)
    body = signed_in.get(PAGE).get_data(as_text=True)
    assert "trial" in section(body, 'id="license-state"', "</dd>")
    assert "1" in section(body, 'id="license-status"', "</dd>")
    assert "None refused for a license." in section(body, 'id="license-refused"')
    assert "No member holds an account." in section(body, 'id="license-accounts"')

    # The platform's clock passes the 90 days: a call for a member without an account is refused.
    advance(platform, suite, 91 * DAY)
    tokens_run_out(suite, CORP)
    refused = tenant_call(platform.server, api_key, suite, CORP)
    assert refused.status_code == 200 and refused.json()["errcode"] == 701016
    opened = platform.control(
        "licenses/open_app", app_id=suite.app_id, tenant_id=CORP, userid="wangwu"
    )
    assert opened["outcome"] == "unlicensed"
    drain(app)
    later = utcnow() + timedelta(days=91)  # our clock catches up
    monkeypatch.setattr(views, "utcnow", lambda: later)

    body = signed_in.get(PAGE).get_data(as_text=True)
    assert section(body, 'id="license-state"', "</dd>").startswith(' class="bad">unlicensed')
    [row] = section(body, 'id="license-refused"').split("<tbody>")[1].split("</tr>")[:-1]
    assert "/cgi-bin/user/get" in row and "701016" in row and "member unlicensed" in row
    assert "<td>1</td>" in row
    unlicensed = section(body, 'id="license-unlicensed"', "</dd>")
    assert "1, the last <code>wangwu</code>" in unlicensed
    # The same call is among the tenant's proxy errcodes too.
    assert "701016" in section(body, 'id="proxy-errcodes"')


def test_check_licenses_now_reads_accounts_and_orders_show(
    app, platform, suite, provider, api_key, signed_in
):
    push(platform, suite, "create_auth", tenant_id=CORP, name="Buying Corp")
    drain(app)
    body = signed_in.get(PAGE).get_data(as_text=True)
    assert "unknown" in section(body, 'id="license-state"', "</dd>")
    assert "never" in section(body, 'id="license-checked-at"', "</dd>")

    order_id = buy(platform, api_key, base=2)
    paid = platform.control(f"providers/{PROVIDER}/licenses/{order_id}/pay")
    drain(app)  # license_pay_success: the order is read back and stored
    first = paid["codes"][0]["active_code"]
    lic(platform, api_key, "active_account", {"active_code": first, "corpid": CORP, "userid": "zs"})
    # Activated on the platform, not yet read here.
    body = signed_in.get(PAGE).get_data(as_text=True)
    assert "No member holds an account." in section(body, 'id="license-accounts"')

    response = post(signed_in, PAGE, f"{PAGE}/check-licenses")
    assert response.status_code == 303 and response.headers["Location"] == PAGE
    entry = last_audit()
    assert (entry.actor, entry.action, entry.target) == (
        USERNAME,
        "tenant.check_licenses",
        f"tenant:wwinstallsuite/{CORP}",
    )
    assert entry.detail["provider"] == PROVIDER and entry.detail["queued"] is True
    assert entry.detail["job_id"] == f"licenses:{provider.id}:{CORP}"
    drain(app)

    body = signed_in.get(PAGE).get_data(as_text=True)
    assert "License check queued" in body
    assert "licensed" in section(body, 'id="license-state"', "</dd>")
    assert "1" in section(body, 'id="license-active-accounts"', "</dd>")
    assert "UTC" in section(body, 'id="license-checked-at"', "</dd>")
    assert "<code>zs</code>" in section(body, 'id="license-accounts"')
    assert "basic" in section(body, 'id="license-accounts"')
    orders = section(body, 'id="tenant-license-orders"')
    assert order_id in orders and "paid" in orders and "12 months" in orders

    for page in ("/admin/apps/wwinstallsuite", f"/admin/apps/{PROVIDER}"):
        listed = section(signed_in.get(page).get_data(as_text=True), 'id="app-license-orders"')
        assert order_id in listed and CORP in listed and ">paid<" in listed

    # Without the form's CSRF token the action is refused and nothing is recorded.
    count = len(db.session().scalars(select(AuditEntry)).all())
    assert signed_in.post(f"{PAGE}/check-licenses").status_code == 400
    assert len(db.session().scalars(select(AuditEntry)).all()) == count


def test_without_a_registered_provider_the_page_says_so(app, platform, suite, signed_in):
    push(platform, suite, "create_auth", tenant_id=CORP)
    drain(app)
    body = signed_in.get(PAGE).get_data(as_text=True)
    assert "provider account must be registered" in section(
        body, 'id="licenses-no-provider"', "</p>"
    )
    assert "Check licenses now" not in body
    response = post(signed_in, PAGE, f"{PAGE}/check-licenses")
    assert response.status_code == 303
    assert "register it" in signed_in.get(PAGE).get_data(as_text=True)
    entry = last_audit()
    assert entry.action == "tenant.check_licenses" and entry.detail == {"error": "no provider"}
    app_page = signed_in.get("/admin/apps/wwinstallsuite").get_data(as_text=True)
    assert 'id="licenses-no-provider"' in app_page


def test_a_check_already_waiting_is_not_queued_twice(app, signed_in):
    session = db.session()
    prov = factories.provider(session, corpid="wwwaitprov")
    suite = factories.wecom_app(session, app_id="wwwaitsuite", provider_corpid="wwwaitprov")
    factories.tenant(session, suite, tenant_id="wwwaiting")
    session.commit()
    job_id = f"licenses:{prov.id}:wwwaiting"
    # The hourly batch's check of the corp, not due yet (dropped when the test's app stops).
    assert runner.enqueue("licenses.sync_corp", prov.id, "wwwaiting", delay=600, job_id=job_id)
    page = "/admin/tenants/wwwaitsuite/wwwaiting"
    assert post(signed_in, page, f"{page}/check-licenses").status_code == 303
    assert "already waiting" in signed_in.get(page).get_data(as_text=True)
    entry = last_audit()
    assert entry.detail == {"provider": "wwwaitprov", "job_id": job_id, "queued": False}


def test_an_open_tenant_has_no_license_section(app, platform, component, signed_in):
    push(platform, component, "authorized", tenant_id="wxaccount1")
    drain(app)
    body = signed_in.get(f"/admin/tenants/{component.app_id}/wxaccount1").get_data(as_text=True)
    assert 'id="licenses"' not in body
    response = post(
        signed_in,
        f"/admin/tenants/{component.app_id}/wxaccount1",
        f"/admin/tenants/{component.app_id}/wxaccount1/check-licenses",
    )
    assert response.status_code == 303
    assert 'id="app-license-orders"' not in signed_in.get(f"/admin/apps/{component.app_id}").text
    entry = last_audit()
    assert entry.action == "tenant.check_licenses" and entry.detail == {"error": "no licenses"}
    unknown = f"/admin/tenants/{component.app_id}/wxnobody/check-licenses"
    response = post(signed_in, f"/admin/tenants/{component.app_id}/wxaccount1", unknown)
    assert response.status_code == 404


# -- the ledger's queries ------------------------------------------------------------------------


def _order(session, provider, order_id: str, corpid: str, created: int, status: int = 1):
    return licenses.store_order(
        session,
        provider,
        {
            "order_id": order_id,
            "corpid": corpid,
            "order_type": 1,
            "order_status": status,
            "account_count": {"base_count": 1},
            "account_duration": {"months": 1},
            "price": 100,
            "create_time": created,
        },
    )


def test_the_ledger_keeps_to_the_app_and_the_license_errcodes(app, signed_in):
    session = db.session()
    prov = factories.provider(session, corpid="wwledgerprov")
    other_prov = factories.provider(session, corpid="wwotherprov")
    suite = factories.wecom_app(session, app_id="wwledgersuite", provider_corpid="wwledgerprov")
    orphan = factories.wecom_app(session, app_id="wworphan", provider_corpid="wwnobody")
    for corp in ("wwa", "wwb"):
        factories.tenant(session, suite, tenant_id=corp)
    session.commit()
    _order(session, prov, "LO-a1", "wwa", 1700000000)
    _order(session, prov, "LO-a2<b>", "wwa", 1700100000, status=5)
    _order(session, prov, "LO-b", "wwb", 1700050000)
    _order(session, prov, "LO-stranger", "wwc", 1700200000)  # not a tenant of the suite
    _order(session, other_prov, "LO-other", "wwa", 1700300000)  # another provider's
    for errcode in (40014, 700999, 701016, 701020, 702000):
        session.add(
            ProxyErrcode(
                app_pk=suite.id,
                tenant_id="wwa",
                path="cgi-bin/user/get",
                errcode=errcode,
                count=2,
                last_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=errcode % 100),
            )
        )
    session.commit()

    ids = [o.order_id for o in ledger.orders_of_app(session, suite)]
    assert ids == ["LO-a2<b>", "LO-b", "LO-a1"]
    assert [o.order_id for o in ledger.orders_of_app(session, suite, limit=2)] == ids[:2]
    assert [o.order_id for o in ledger.orders_of_corp(session, prov.id, "wwa")] == [
        "LO-a2<b>",
        "LO-a1",
    ]
    assert [o.order_id for o in ledger.orders_of_provider(session, prov.id)][0] == "LO-stranger"
    assert [o.order_id for o in ledger.orders_of_app(session, prov)][0] == "LO-stranger"
    assert ledger.orders_of_app(session, orphan) == []
    refused = ledger.refused_calls(session, suite.id, "wwa")
    assert [r["errcode"] for r in refused] == [701020, 701016]
    assert ledger.refused_calls(session, suite.id, "wwb") == []

    listed = section(
        signed_in.get("/admin/apps/wwledgersuite").get_data(as_text=True), 'id="app-license-orders"'
    )
    assert "LO-a2&lt;b&gt;" in listed and "LO-a2<b>" not in listed
    assert "refunded" in listed and "LO-stranger" not in listed and "LO-other" not in listed
    stored = session.scalar(select(LicenseOrder).where(LicenseOrder.order_id == "LO-b"))
    assert stored.months == 1
