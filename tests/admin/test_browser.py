"""End to end in headless Chromium (Debian's chromium driven by Playwright) against the server
over HTTP and the sandbox: sign in, find a tenant created through the sandbox, refresh its
token and see the new expiry; re-process a failed event; add a webhook receiver, see a message
reach it signed with the secret shown once, disable and remove it.

Skipped with the reason when Chromium or Playwright is missing here; under CI (CI=true), where
.ci/run installs both, missing is a failure."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import select, update

from suite_server import db
from suite_server.db import utcnow
from suite_server.models import App, InboundEvent, TenantToken, WebhookReceiver
from tests.admin.browsing import sign_in, snap
from tests.admin.conftest import USERNAME
from tests.authorization.conftest import drain, push, tenant_of
from tests.dispatch.conftest import receivers  # noqa: F401


def shown_time(element) -> datetime:
    """The moment a <time> shows (on the admin's clock), read from its machine-readable UTC."""
    return datetime.fromisoformat(element.locator("time").get_attribute("datetime"))


def test_find_a_sandbox_tenant_and_refresh_its_token(app, platform, suite, admin_user, page):
    push(platform, suite, "create_auth", tenant_id="wwcorp-e2e", name="Browser Corp")
    drain(app)
    tenant = tenant_of(suite, "wwcorp-e2e")
    assert tenant.status == "active"
    # Our copy of the token has run out: the page shows a past expiry until the refresh.
    past = utcnow() - timedelta(minutes=5)
    db.session().execute(
        update(TenantToken.__table__)
        .where(TenantToken.tenant_pk == tenant.id)
        .values(expires_at=past, obtained_at=past - timedelta(hours=2))
    )
    db.session().commit()

    sign_in(page)
    snap(page, "dashboard")
    page.click("nav >> text=Tenants")
    page.fill("#f-q", "wwcorp-e2")
    page.click("button:has-text('Search')")
    snap(page, "tenants")
    page.click("a:has-text('wwcorp-e2e')")
    page.wait_for_url("**/admin/tenants/wwinstallsuite/wwcorp-e2e")
    assert page.locator("h1").inner_text().startswith("Browser Corp")
    assert page.locator("#credential").inner_text() == "present"
    before = shown_time(page.locator("#token-expires"))
    assert before < utcnow()

    page.click("button:has-text('Refresh token now')")
    page.wait_for_selector(".flash.ok")
    # WeCom hands back the token it gave while that one is valid, and the page says so.
    assert "WeCom handed back the token we already had" in page.locator(".flash.ok").inner_text()
    after = shown_time(page.locator("#token-expires"))
    assert after > utcnow() + timedelta(minutes=100)
    snap(page, "tenant")
    db.session().expire_all()
    stored = db.session().scalar(select(TenantToken).where(TenantToken.tenant_pk == tenant.id))
    assert stored.expires_at.replace(microsecond=0) == after

    page.click("nav >> text=Audit log")
    assert page.locator("td:has-text('tenant.refresh_token')").count() == 1
    snap(page, "audit")


def test_reprocess_a_failed_event(app, platform, component, admin_user, page):
    platform.control("faults", endpoint="api_query_auth", errcode=61009, count=1)
    push(platform, component, "authorized", tenant_id="wxaccount-e2e", name="Browser Blog")
    drain(app)
    assert tenant_of(component, "wxaccount-e2e") is None

    sign_in(page)
    page.click("nav >> text=At risk")
    assert page.locator("h2:has-text('Failed events')").count() == 1
    snap(page, "at_risk")
    page.click("nav >> text=Events")
    page.select_option("#f-status", "failed")
    page.click("button:has-text('Filter')")
    snap(page, "events")
    page.click("tbody tr:has-text('authorized') a >> nth=0")
    assert page.locator("#event-status").inner_text() == "failed"
    assert "61009" in page.locator("#event-error").inner_text()
    assert "<AuthorizationCode>" in page.locator("pre.payload").inner_text()
    snap(page, "event")

    page.click("button:has-text('Re-process')")
    page.wait_for_selector(".flash.ok")
    drain(app)
    deadline = time.monotonic() + 15
    while page.locator("#event-status").inner_text() != "done" and time.monotonic() < deadline:
        page.reload()
    assert page.locator("#event-status").inner_text() == "done"
    page.click("a:has-text('wxaccount-e2e')")
    assert page.locator("#tenant-status").inner_text() == "active"
    db.session().expire_all()
    event = db.session().scalar(select(InboundEvent).where(InboundEvent.kind == "authorized"))
    assert event.status == "done"
    page.click("nav >> text=Apps")
    page.click(f"a:has-text('{component.app_id}')")
    snap(page, "app")


def test_rotate_the_aes_key_then_reload(app, platform, suite, admin_user, page):
    """Reloading the page shown after a rotation shows the page again, without the key, and
    rotates nothing; a confirmation left open in another tab rotates nothing either. The key the
    console still uses stays accepted as the previous one."""
    console_key = suite.aes_key
    sign_in(page)
    page.goto(f"/admin/apps/{suite.app_id}")
    page.click("a:has-text('Rotate AES key')")
    assert "Rotate the EncodingAESKey" in page.locator("h1").inner_text()
    other_tab = page.context.new_page()
    other_tab.goto(page.url)  # the same confirmation, open in a second tab
    page.click("button:has-text('Rotate the key')")
    page.wait_for_url(f"**/admin/apps/{suite.app_id}")
    shown = page.locator("#shown-once").input_value()
    db.session().expire_all()
    stored = db.session().get(App, suite.id)
    assert (stored.aes_key, stored.previous_aes_key) == (shown, console_key)

    page.reload()
    assert page.locator("#shown-once").count() == 0
    other_tab.click("button:has-text('Rotate the key')")
    assert "Not rotated" in other_tab.locator(".flash.error").inner_text()
    db.session().expire_all()
    stored = db.session().get(App, suite.id)
    assert (stored.aes_key, stored.previous_aes_key) == (shown, console_key)
    # The confirmation page now says when the current key was made, and by whom.
    page.goto(f"/admin/apps/{suite.app_id}/rotate-aes-key")
    assert f"by {USERNAME}" in page.locator("#last-rotation").inner_text()
    # The console's key still decrypts: a ticket it pushes is accepted.
    app.extensions["suite_server.callback_keys"].clear()
    assert platform.control("push", app_id=suite.app_id, kind="ticket")["delivered"]


def test_add_a_receiver_see_a_message_reach_it_then_disable_and_remove_it(
    app,
    platform,
    suite,
    admin_user,
    page,
    receivers,  # noqa: F811
):
    push(platform, suite, "create_auth", tenant_id="wwcorp-hooks", name="Hooks Corp")
    drain(app)
    hook = receivers(200)
    sign_in(page)
    page.goto(f"/admin/apps/{suite.app_id}")
    page.click("#receivers-link")
    assert page.locator("h1").inner_text().startswith("Webhook receivers")
    assert page.locator("#no-receivers").count() == 1
    page.fill("#name", "texts")
    page.fill("#url", hook.url)
    page.fill("#matches", "text")
    page.click("button:has-text('Add receiver')")
    page.wait_for_selector(".flash.ok")
    hook.secret = page.locator("#shown-once").input_value()
    db.session().expire_all()
    stored = db.session().scalar(select(WebhookReceiver).where(WebhookReceiver.name == "texts"))
    assert stored.secret == hook.secret and stored.matches == "text"
    snap(page, "receivers")

    push(platform, suite, "text", tenant_id="wwcorp-hooks", content="to the receiver")
    drain(app)
    [request] = hook.requests  # the text, not the install's tenant.authorized before it
    assert request.verify_ok and b"to the receiver" in request.body
    page.reload()
    assert page.locator("#shown-once").count() == 0  # shown once only
    section = page.locator("#receiver-texts")
    assert section.locator("tbody .badge.delivered").count() == 1

    section.locator("label:has-text('Enabled') input").uncheck()
    section.locator("button:has-text('Save texts')").click()
    page.wait_for_selector(".flash.ok")
    assert "saved enabled" in page.locator(".flash.ok").inner_text()
    assert page.locator("#receiver-texts h2 .badge.failed").inner_text() == "disabled"
    push(platform, suite, "text", tenant_id="wwcorp-hooks", content="not sent")
    drain(app)
    assert len(hook.requests) == 1

    page.locator("#receiver-texts a:has-text('Remove')").click()
    assert "Remove the receiver texts" in page.locator("h1").inner_text()
    page.click("button:has-text('Remove texts')")
    page.wait_for_selector(".flash.ok")
    assert "removed, with its 1 deliveries" in page.locator(".flash.ok").inner_text()
    assert page.locator("#no-receivers").count() == 1
    page.click("a:has-text('Audit log')")
    assert page.locator("td:has-text('receiver.remove')").count() == 1
