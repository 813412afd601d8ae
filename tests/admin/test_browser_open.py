"""End to end in headless Chromium, for an Open component (pattern: test_browser.py): an admin
follows a code deployment from the component's page to its targets and stops it; opens a mini
program's API quota page from its tenant page, asks for a path's quota and resets it; and sees
a registration on the component's page.

Skipped with the reason when Chromium or Playwright is missing here (failed under CI)."""

from __future__ import annotations

from tests.admin.browsing import sign_in, snap
from tests.api.conftest import api_key
from tests.authorization.conftest import drain, push
from tests.releases.test_deployments import VERSION, api, mini_programs, settle, template

__all__ = ["api_key"]  # the fixture


def test_follow_a_deployment_and_stop_it(app, platform, component, api_key, admin_user, page):
    mini_programs(app, platform, component, ["wxmp01", "wxmp02"])
    template_id = template(platform, api_key, component)
    platform.control("settings", audit_delay=86400)  # the verdicts come tomorrow
    body = {"template_id": template_id, "user_version": VERSION, "targets": "all"}
    started = api(platform, api_key, "POST", f"/apps/{component.app_id}/deployments", json=body)
    deployment = started.json()["deployment"]
    settle(
        app,
        platform,
        deployment["id"],
        api_key,
        component,
        lambda body: body["progress"] == {"auditing": 2},
    )
    registration = {"kind": "beta", "name": "Cafe Trial", "openid": "oOwner"}
    api(platform, api_key, "POST", f"/apps/{component.app_id}/registrations", json=registration)

    sign_in(page)
    page.goto(f"/admin/apps/{component.app_id}")
    assert "Cafe Trial" in page.locator("#registrations").inner_text()
    page.click(f"#deployments a:has-text('{deployment['id']}')")
    page.wait_for_url(f"**/deployments/{deployment['id']}")
    assert page.locator("#deployment-progress").inner_text() == "auditing 2"
    rows = page.locator("#targets tbody tr")
    listed = page.locator("#targets").inner_text()
    assert rows.count() == 2 and "wxmp01" in listed and "wxmp02" in listed
    snap(page, "deployment")
    page.click("button:has-text('Stop')")
    page.wait_for_selector(".flash.ok")
    assert page.locator("#deployment-status").inner_text() == "stopped"


def test_ask_a_quota_and_reset_it(app, platform, component, admin_user, page):
    push(platform, component, "authorized", tenant_id="wxquota", account_type="mini_program")
    drain(app)
    limits = {"appid": "wxquota", "cgi_path": "/cgi-bin/message/custom/send", "daily_limit": 7}
    platform.control("quota", **limits)

    sign_in(page)
    page.goto(f"/admin/tenants/{component.app_id}/wxquota")
    page.click("#quota-link")
    page.fill("#cgi_path", "/cgi-bin/message/custom/send")
    page.click("button:has-text('Ask')")
    page.wait_for_selector("#quota")
    assert page.locator("#quota-limit").inner_text() == "7"
    assert page.locator("#clears-left").inner_text().startswith("10 of 10")
    page.click("button:has-text('Reset quota now')")
    page.wait_for_selector(".flash.ok")
    assert page.locator("#clears-left").inner_text().startswith("9 of 10")
    snap(page, "quota")
