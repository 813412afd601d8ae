"""End to end in headless Chromium: an admin whose browser asks for English switches the admin to
Chinese from the header, walks every page of the admin and meets no English outside data
(tests/admin/untranslated.py), then switches back. Skipped with the reason when Chromium or
Playwright is missing here (failed under CI)."""

from __future__ import annotations

from tests.admin.browsing import sign_in, snap
from tests.admin.test_pages import world  # noqa: F401
from tests.admin.test_translations import every_page, everything  # noqa: F401
from tests.admin.untranslated import untranslated


def test_switch_to_chinese_walk_every_page_and_back(admin_user, everything, page):  # noqa: F811
    sign_in(page)
    assert page.locator("header nav").inner_text().startswith("Dashboard")
    page.click("header form.language button:has-text('中文')")
    page.wait_for_selector("header nav a:has-text('概览')")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    snap(page, "dashboard-zh")

    left = {}
    for endpoint, urls in every_page(everything).items():
        if endpoint == "admin.login":
            continue  # signed in: it sends us on to the dashboard
        for url in urls:
            page.goto(url)
            assert page.locator("html").get_attribute("lang") == "zh-CN", url
            found = untranslated(page.content())
            if found:
                left[url] = found
    assert not left, "\n".join(f"{url}: {texts}" for url, texts in left.items())

    page.goto("/admin/tenants")
    page.click("header form.language button:has-text('English')")
    page.wait_for_url("**/admin/tenants")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("header nav").inner_text().startswith("Dashboard")
    assert page.locator("h1").inner_text() == "Tenants"
