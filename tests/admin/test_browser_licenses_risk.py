"""End to end in headless Chromium against the server over HTTP and the sandbox: a tenant whose
license trial ends in a week, read by the license sync, is on the "at risk" page (our clock
moved 83 days on: the server runs in this process), and its row leads to the tenant's page.

Skipped like tests/admin/test_browser.py when Chromium or Playwright is missing here (a
failure under CI)."""

from __future__ import annotations

from datetime import timedelta

from suite_server.billing import risks
from suite_server.db import utcnow
from tests.admin.browsing import sign_in, snap
from tests.authorization.conftest import drain, push
from tests.billing.test_licenses import license_of, provider, sync  # noqa: F401

CORP = "wwtrial-e2e"


def test_a_trial_ending_in_a_week_leads_to_its_tenant(
    app,
    platform,
    suite,
    provider,  # noqa: F811
    admin_user,
    page,
    monkeypatch,
):
    push(platform, suite, "create_auth", tenant_id=CORP, name="Trial Corp")
    drain(app)
    sync(app)
    assert license_of(suite, CORP).trial_end is not None
    later = utcnow() + timedelta(days=83)
    monkeypatch.setattr(risks, "utcnow", lambda: later)
    tenant_page = f"**/admin/tenants/{suite.app_id}/{CORP}"

    sign_in(page)
    page.click("nav >> text=At risk")
    assert page.locator("h2:has-text('License trials ending')").count() == 1
    row = page.locator("#trials-ending tbody tr")
    assert row.count() == 1
    assert "Trial Corp" in row.inner_text()
    assert row.locator("td").nth(3).inner_text() == "7"
    # The sandbox's trial edition (15 days) is long over by then.
    expired = page.locator(f"#editions-at-risk tbody tr:has-text('{CORP}')")
    assert expired.locator("td").nth(3).inner_text() == "expired"
    snap(page, "at_risk_licenses")

    row.locator(f"a:has-text('{CORP}')").click()
    page.wait_for_url(tenant_page)
    assert page.locator("h1").inner_text().startswith("Trial Corp")
