"""The admin's browser tests share one headless Chromium per test session (Playwright's sync
API allows one instance per thread): the fixtures `browser` and `page` (tests/admin/conftest.py
makes them available), and signing in. Chromium or Playwright missing: the tests are skipped
with the reason, or fail under CI (.ci/run installs both)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# The flags a closed machine needs: no sandboxing as root, and no calls home at start.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Set to a folder (docs/screenshots) to save a picture of each main page as the tests pass.
SCREENSHOTS = os.environ.get("ADMIN_SCREENSHOTS")


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI installs it: .ci/run)")
    pytest.skip(f"{reason}: end-to-end admin tests skipped (apt-get install chromium)")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install -e '.[test]')")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _missing(f"Chromium is not installed at {CHROMIUM}")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Error as exc:
            _missing(f"Chromium at {CHROMIUM} did not start: {exc}")
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def snap(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def sign_in(page) -> None:
    from tests.admin.conftest import PASSWORD, USERNAME  # noqa: PLC0415 - it imports this module

    page.goto("/admin/")
    assert "/admin/login" in page.url  # no session: the login page
    snap(page, "login")
    page.fill("#username", USERNAME)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/admin/")
    assert page.locator("h1").inner_text() == "Dashboard"
