"""End to end in headless Chromium against the server over HTTP and the sandbox: a tenant whose
license trial ends in a week, read by the license sync, is on the "at risk" page (our clock
moved 83 days on: the server runs in this process), and its row leads to the tenant's page.

Skipped like tests/admin/test_browser.py when Chromium or Playwright is missing here (a
failure under CI). Playwright's sync API drives one instance per thread, and test_browser.py's
session-wide one may be open in the test thread: this test drives its own in a thread of its
own."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from suite_server.billing import risks
from suite_server.db import utcnow
from tests.admin.test_browser import ARGS, CHROMIUM, _missing, sign_in, snap
from tests.authorization.conftest import drain, push
from tests.billing.test_licenses import license_of, provider, sync  # noqa: F401

CORP = "wwtrial-e2e"


@pytest.fixture
def in_chromium(live_server) -> Callable[[Callable], None]:
    """Runs `scenario(page)` on a new tab of a headless Chromium pointed at the server."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install -e '.[test]')")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _missing(f"Chromium is not installed at {CHROMIUM}")

    def run(scenario: Callable) -> None:
        raised: list[BaseException] = []

        def drive() -> None:
            try:
                with sync_playwright() as playwright:
                    try:
                        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                    except Error as exc:
                        _missing(f"Chromium at {CHROMIUM} did not start: {exc}")
                    try:
                        context = chromium.new_context(
                            base_url=live_server, viewport={"width": 1280, "height": 900}
                        )
                        context.set_default_timeout(15_000)
                        scenario(context.new_page())
                    finally:
                        chromium.close()
            except BaseException as exc:  # a failed assertion, or a skip: told in the test
                raised.append(exc)

        thread = threading.Thread(target=drive)
        thread.start()
        thread.join(timeout=180)
        assert not thread.is_alive(), "the browser scenario did not end within 180 s"
        if raised:
            raise raised[0]

    return run


def test_a_trial_ending_in_a_week_leads_to_its_tenant(
    app,
    platform,
    suite,
    provider,  # noqa: F811
    admin_user,
    in_chromium,
    monkeypatch,
):
    push(platform, suite, "create_auth", tenant_id=CORP, name="Trial Corp")
    drain(app)
    sync(app)
    assert license_of(suite, CORP).trial_end is not None
    later = utcnow() + timedelta(days=83)
    monkeypatch.setattr(risks, "utcnow", lambda: later)
    tenant_page = f"**/admin/tenants/{suite.app_id}/{CORP}"  # read here: no database there

    def scenario(page) -> None:
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

    in_chromium(scenario)
