"""In headless Chromium, under the admin's real CSP: the charts are drawn (bars with height and
the stylesheet's colours, so nothing the CSP refuses is needed), no CSP violation is reported,
and the 30-day link switches them without a script. The counts come from activity_counts rows
written here: test_activity.py shows how real activity gets there."""

from __future__ import annotations

from datetime import timedelta

from suite_server import db
from suite_server.models import ActivityCount
from suite_server.ops import activity
from tests import factories
from tests.admin.browsing import sign_in, snap

ACCENT, BAD = "rgb(27, 95, 180)", "rgb(179, 38, 30)"  # admin.css --accent and --bad


def test_the_charts_draw_under_the_csp(app, admin_user, page):
    session = db.session()
    suite = factories.wecom_app(session)
    hour = activity.hour_of(activity.utcnow())
    for metric, count in (("pushes", 40), ("delivery_failures", 3)):
        session.add(
            ActivityCount(app_pk=suite.id, tenant_id="", metric=metric, hour=hour, count=count)
        )
        session.add(
            ActivityCount(
                app_pk=suite.id,
                tenant_id="",
                metric=metric,
                hour=hour - timedelta(hours=2),
                count=count // 2,
            )
        )
    session.commit()
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    sign_in(page)
    bars = page.locator("#chart-pushes g.bucket")
    assert bars.count() == 24
    current = bars.nth(23)
    assert current.get_attribute("data-count") == "40"
    assert current.locator("title").text_content().endswith("· 40")
    bar = current.locator("rect.bar")
    assert bar.bounding_box()["height"] > 20
    assert bar.evaluate("e => getComputedStyle(e).fill") == ACCENT
    failure = page.locator("#chart-delivery_failures g.bucket rect.bar").nth(23)
    assert failure.evaluate("e => getComputedStyle(e).fill") == BAD
    assert page.locator("#chart-pushes figcaption strong").inner_text() == "60"
    snap(page, "charts")

    page.click("text=Last 30 days")
    page.wait_for_url("**/admin/?span=month#activity")
    assert page.locator("#chart-pushes g.bucket").count() == 30
    assert page.locator("#chart-pushes g.bucket").nth(29).get_attribute("data-count") in (
        "40",
        "60",
    )
    assert refused == []
