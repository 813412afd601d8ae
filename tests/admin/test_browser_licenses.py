"""End to end in headless Chromium (pattern: test_browser.py): a corp in trial installed through
the sandbox buys licenses through the provider proxy and pays on the sandbox; an admin opens its
tenant page, sees the license section, clicks "Check licenses now" and, once the job ran, sees
the member holding an account and the paid order; the suite's page lists the order.

Skipped with the reason when Chromium or Playwright is missing here (failed under CI)."""

from __future__ import annotations

from sqlalchemy import select

from suite_server import db
from suite_server.models import AuditEntry
from tests.admin.browsing import sign_in, snap
from tests.api.conftest import api_key
from tests.authorization.conftest import drain, push
from tests.billing.test_licenses import CORP, PROVIDER, buy, lic, provider, sync

__all__ = ["api_key", "provider"]  # the fixtures


def test_see_a_tenants_licenses_and_check_them_now(
    app, platform, suite, provider, api_key, admin_user, page
):
    push(platform, suite, "create_auth", tenant_id=CORP, name="Licence Corp")
    drain(app)
    sync(app)
    order_id = buy(platform, api_key, base=1)
    paid = platform.control(f"providers/{PROVIDER}/licenses/{order_id}/pay")
    drain(app)
    code = paid["codes"][0]["active_code"]
    lic(platform, api_key, "active_account", {"active_code": code, "corpid": CORP, "userid": "ww1"})

    sign_in(page)
    page.goto(f"/admin/tenants/{suite.app_id}/{CORP}")
    assert page.locator("h2:has-text('License')").count() == 1
    assert page.locator("#license-state").inner_text().startswith("trial")
    assert "No member holds an account." in page.locator("#license-accounts").inner_text()
    orders = page.locator("#tenant-license-orders").inner_text()
    assert order_id in orders and "paid" in orders

    page.click("button:has-text('Check licenses now')")
    page.wait_for_selector(".flash.ok")
    assert "License check queued" in page.locator(".flash.ok").inner_text()
    drain(app)
    page.reload()
    assert page.locator("#license-state").inner_text().startswith("licensed")
    assert page.locator("#license-active-accounts").inner_text().startswith("1")
    accounts = page.locator("#license-accounts").inner_text()
    assert "ww1" in accounts and "basic" in accounts
    snap(page, "tenant-licenses")
    db.session().expire_all()
    entry = db.session().scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.action == "tenant.check_licenses" and entry.detail["queued"] is True

    page.click(f"dd a[href='/admin/apps/{suite.app_id}']")
    page.wait_for_url(f"**/admin/apps/{suite.app_id}")
    listed = page.locator("#app-license-orders").inner_text()
    assert order_id in listed and CORP in listed
