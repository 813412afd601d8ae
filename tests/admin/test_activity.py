"""The activity charts, end to end: pushes from the sandbox over HTTP, token refreshes against it
(one refused), webhooks to a receiver that accepts and one that refuses; our clock held at fixed
times while they happen (time, not the network), the fold run, and the charts of the dashboard,
the app's page and the tenant's page read back from their SVG."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, update

from suite_server import db
from suite_server.callbacks import inbox
from suite_server.db import utcnow
from suite_server.dispatch import webhooks
from suite_server.dispatch.webhooks import delivery as webhook_delivery
from suite_server.models import (
    ActivityCount,
    AppToken,
    InboundEvent,
    Tenant,
    TenantToken,
    TokenRefresh,
    WebhookAttempt,
)
from suite_server.ops import activity
from suite_server.tokens import history
from suite_server.tokens.service import serve_app_token, serve_tenant_token
from tests.authorization.conftest import drain, push
from tests.dispatch.conftest import receivers  # noqa: F401
from tests.dispatch.receiving import add

TENANT = "wxchartsacct0001"
BUCKET = re.compile(r'<g class="bucket" data-start="([^"]+)" data-count="(\d+)">')
CHART = re.compile(r'<svg class="chart[^"]*"[^>]*data-metric="([a-z_]+)">(.*?)</svg>', re.S)


class Clock:
    """Our clock, held where the test puts it: what stamps pushes, webhook attempts and token
    refreshes, and what the fold and the charts take for now."""

    def __init__(self, monkeypatch, at) -> None:
        self.at = at
        for module in (inbox, webhook_delivery, history, activity):
            monkeypatch.setattr(module, "utcnow", self)

    def __call__(self):
        return self.at


def charts(html: str) -> dict[str, dict[str, int]]:
    """{metric: {bucket start (UTC, ISO): count}} of every chart on the page."""
    return {
        metric: {start: int(n) for start, n in BUCKET.findall(svg)}
        for metric, svg in CHART.findall(html)
    }


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def iso(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expire(model, **where) -> None:
    """Make a token row due, so the next serve refreshes it against the sandbox."""
    past = utcnow() - timedelta(hours=1)
    condition = [getattr(model, k) == v for k, v in where.items()]
    db.session().execute(update(model).where(*condition).values(expires_at=past, refresh_at=past))
    db.session().commit()


def rows() -> list[tuple]:
    return sorted(db.session().execute(select(ActivityCount.__table__)).all())


@pytest.fixture
def hour():
    """A whole UTC hour a few hours back (nothing the fixtures do at the real time falls in or
    just before it), not at the admin's midnight (so its previous hour is the same day)."""
    hour = activity.hour_of(utcnow()) - timedelta(hours=3)
    if hour.astimezone(ZoneInfo("Asia/Shanghai")).hour < 2:
        hour -= timedelta(hours=3)
    return hour


@pytest.fixture
def active(app, platform, component, receivers, signed_in, monkeypatch, hour):  # noqa: F811
    """The component with one tenant, a webhook receiver answering 200 and one answering 500
    (given up at once), then, with our clock held: a push 3 days ago; in the previous hour two
    messages, a token refresh and a refused one; in this hour one message, one tenant and one
    app token refresh. Returns the clock."""
    monkeypatch.setattr(webhook_delivery, "WEBHOOK_RETRY_WINDOW", timedelta(0))
    push(platform, component, "authorized", tenant_id=TENANT, name="Charts")
    drain(app)
    accepting, refusing = receivers(200), receivers(500)
    accepting.secret = webhooks.configure_app(db.session(), component, url=accepting.url)
    db.session().commit()
    add(component, refusing, "refusing", "text")
    tenant = db.session().scalar(select(Tenant).where(Tenant.tenant_id == TENANT))

    clock = Clock(monkeypatch, hour - timedelta(days=3) + timedelta(minutes=5))
    push(platform, component, "text", tenant_id=TENANT)
    drain(app)

    clock.at = hour - timedelta(minutes=40)
    for _ in range(2):
        push(platform, component, "text", tenant_id=TENANT)
        drain(app)
    expire(TenantToken, tenant_pk=tenant.id)
    serve_tenant_token(db.session(), tenant, due=True)
    expire(TenantToken, tenant_pk=tenant.id)
    platform.control("faults", endpoint="api_authorizer_token", errcode=45009, count=1)
    with pytest.raises(Exception, match="45009"):
        serve_tenant_token(db.session(), tenant, due=True)

    clock.at = hour + timedelta(minutes=20)
    push(platform, component, "text", tenant_id=TENANT)
    drain(app)
    serve_tenant_token(db.session(), tenant, due=True)  # still due: the refused one left it so
    expire(AppToken, app_pk=component.id)
    serve_app_token(db.session(), component, due=True)
    assert len(accepting.requests) == len(refusing.requests) == 4
    return clock


# What each page shows in the previous hour and in this one: (previous, current). The app level
# counts the app token's refresh too, the tenant level only the tenant's own.
APP_LEVEL = {
    "pushes": (2, 1),
    "refreshes": (1, 2),
    "refresh_failures": (1, 0),
    "deliveries": (2, 1),
    "delivery_failures": (2, 1),
}
TENANT_LEVEL = {**APP_LEVEL, "refreshes": (1, 1)}


def pages(component) -> dict[str, tuple[str, dict]]:
    return {
        "dashboard": ("/admin/", APP_LEVEL),
        "app": (f"/admin/apps/{component.app_id}", APP_LEVEL),
        "tenant": (f"/admin/tenants/{component.app_id}/{TENANT}", TENANT_LEVEL),
    }


def assert_day_charts(client, component, hour) -> None:
    for where, (url, expected) in pages(component).items():
        shown = charts(page(client, url))
        assert set(shown) == set(expected), where
        for metric, (before, now) in expected.items():
            buckets = shown[metric]
            assert len(buckets) == 24, (where, metric)
            assert list(buckets)[-1] == iso(hour)  # the current hour last
            assert buckets[iso(hour)] == now, (where, metric)
            assert buckets[iso(hour - timedelta(hours=1))] == before, (where, metric)
            assert sum(buckets.values()) == before + now, (where, metric)


def test_the_charts_show_each_hour_and_day_what_happened_in_it(signed_in, component, active, hour):
    activity.fold(db.session())
    assert_day_charts(signed_in, component, hour)

    # The month: one bar a day on the admin's clock (Asia/Shanghai), today's the sum of both
    # hours, and the push of three days ago (counted by the first fold's backfill).
    zone = ZoneInfo("Asia/Shanghai")
    today = hour.astimezone(zone).replace(hour=0)
    for where, (url, expected) in pages(component).items():
        html = page(signed_in, url + "?span=month")
        shown = charts(html)
        for metric, (before, now) in expected.items():
            buckets = shown[metric]
            assert len(buckets) == 30 and list(buckets)[-1] == iso(today), (where, metric)
            assert buckets[iso(today)] == before + now, (where, metric)
        three_days_ago = iso(today - timedelta(days=3))
        assert shown["pushes"][three_days_ago] == 1, where
        assert shown["deliveries"][three_days_ago] == shown["delivery_failures"][three_days_ago]
        assert shown["refreshes"][three_days_ago] == 0

    refused = signed_in.get("/admin/?span=year")
    assert refused.status_code == 400
    assert "The span of the charts is day or month." in refused.get_data(as_text=True)


def test_the_tenant_page_lists_its_refreshes_with_the_refused_ones_errcode(
    signed_in, component, active
):
    html = page(signed_in, f"/admin/tenants/{component.app_id}/{TENANT}")
    table = html.split('id="token-refreshes"')[1].split("</table>")[0]
    lines = re.findall(r"<tr><td>.*?</tr>", table, re.S)
    assert len(lines) == 3  # newest first: refreshed, refused, refreshed
    assert ">refreshed<" in lines[0] and "<code>" not in lines[0]
    assert ">failed<" in lines[1] and "<code>45009</code>" in lines[1]
    assert ">refreshed<" in lines[2]
    assert "access_token" not in table.lower()


def test_folding_is_idempotent_and_the_charts_outlive_the_raw_rows(
    signed_in, component, active, hour
):
    session = db.session()
    activity.fold(session)
    once = rows()
    activity.fold(session)
    assert rows() == once

    # Hours later the raw rows are pruned: what was folded stays.
    active.at = hour + timedelta(hours=3)
    activity.fold(session)
    session.execute(delete(InboundEvent))  # the deliveries and attempts go with them
    session.execute(delete(TokenRefresh))
    session.commit()
    assert session.scalar(select(WebhookAttempt.id).limit(1)) is None
    activity.fold(session)
    active.at = hour + timedelta(minutes=30)  # the charts as they were drawn then
    assert_day_charts(signed_in, component, hour)


def test_the_charts_read_activity_counts_only(app, component, active, hour):
    from sqlalchemy import event

    session = db.session()
    activity.fold(session)
    session.commit()
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        for span in activity.SPANS:
            for app_pk, tenant_id in ((None, ""), (component.id, ""), (component.id, TENANT)):
                got = activity.series(session, app_pk, tenant_id, span)
                assert all(len(v) == activity.SPANS[span] for v in got.counts.values())
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 6
    for statement in statements:
        assert "activity_counts" in statement
        for raw in ("inbound_events", "token_refreshes", "webhook_attempts", "webhook_deliveries"):
            assert raw not in statement
