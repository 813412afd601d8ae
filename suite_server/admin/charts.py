"""The activity charts of the dashboard, an app's page and a tenant's page, drawn here as inline
SVG: no script, no library, nothing fetched when the page is viewed. The admin's CSP
(`default-src 'self'`) refuses style="" attributes, so the drawing uses SVG's own attributes
for geometry and classes (admin.css) for colours.

The numbers come from ops/activity.py (activity_counts, folded every minute). Each bar is a
<g class="bucket"> with its start (UTC) and count as data attributes and a <title> ("14:00 · 37")
that browsers show on hover and screen readers read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from flask import Response, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from markupsafe import Markup, escape

from suite_server import db
from suite_server.admin import i18n
from suite_server.models import App, Tenant
from suite_server.models.activity import METRICS
from suite_server.ops import activity

LABELS = {
    "pushes": lazy_gettext("Pushes received"),
    "refreshes": lazy_gettext("Tokens refreshed"),
    "refresh_failures": lazy_gettext("Refresh failures"),
    "deliveries": lazy_gettext("Webhook deliveries"),
    "delivery_failures": lazy_gettext("Delivery failures"),
}
FAILURES = ("refresh_failures", "delivery_failures")
RECENT_REFRESHES = 10  # on a tenant's page

# The drawing's own units (the SVG scales to its box): plot area, margins for the labels.
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 480, 130, 34, 18, 6
LABEL_EVERY = {"day": 6, "month": 5}  # an x label every so many buckets


@dataclass(frozen=True)
class Chart:
    metric: str
    label: str
    total: int
    svg: Markup


@dataclass(frozen=True)
class Panel:
    span: str
    charts: list[Chart]
    refreshes: list | None  # a tenant's latest token refreshes; None on other pages


def panel(app: App | None = None, tenant: Tenant | None = None) -> Panel:
    """The charts of the page being viewed: of every app (no app), one app, or one tenant;
    over the span its ?span= names (day, the default, or month)."""
    span = request.args.get("span", "day")
    if span not in activity.SPANS:
        message = _("The span of the charts is day or month.")
        abort(Response(render_template("admin/error.html", message=message), 400))
    session = db.session()
    series = activity.series(
        session,
        app_pk=app.id if app is not None else None,
        tenant_id=tenant.tenant_id if tenant is not None else "",
        span=span,
        zone=i18n.zone(),
    )
    charts = [
        Chart(metric, str(LABELS[metric]), series.total(metric), draw(series, metric))
        for metric in METRICS
    ]
    refreshes = None
    if tenant is not None:
        refreshes = activity.recent_refreshes(
            session, tenant.app_pk, tenant.tenant_id, RECENT_REFRESHES
        )
    return Panel(span, charts, refreshes)


def bucket_label(start, span: str) -> str:
    """A bucket as its axis and title name it, on the admin's clock: 14:00, or 12-01."""
    return start.strftime("%H:00" if span == "day" else "%m-%d")


def draw(series: activity.Series, metric: str) -> Markup:
    """One metric's bars as an <svg> element."""
    counts = series.counts[metric]
    top = max(counts) or 1
    step = (WIDTH - LEFT) / len(counts)
    plot = HEIGHT - BOTTOM - TOP
    parts = [
        f'<svg class="chart{" failures" if metric in FAILURES else ""}" viewBox="0 0 {WIDTH} '
        f'{HEIGHT}" role="img" aria-label="{escape(LABELS[metric])}" data-metric="{metric}">',
        f'<text class="axis-label" x="{LEFT - 4}" y="{HEIGHT - BOTTOM}" text-anchor="end">0</text>',
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" '
        f'y2="{HEIGHT - BOTTOM}"/>',
    ]
    for i, (start, count) in enumerate(zip(series.starts, counts, strict=True)):
        x = LEFT + i * step
        height = plot * count / top
        name = bucket_label(start, series.span)
        utc = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts.append(
            f'<g class="bucket" data-start="{utc}" data-count="{count}">'
            f"<title>{name} · {count}</title>"
            f'<rect class="hit" x="{x:.1f}" y="{TOP}" width="{step:.1f}" height="{plot}"/>'
            f'<rect class="bar" x="{x + step * 0.1:.1f}" y="{TOP + plot - height:.1f}" '
            f'width="{step * 0.8:.1f}" height="{height:.1f}"/></g>'
        )
        if i % LABEL_EVERY[series.span] == 0:
            parts.append(
                f'<text class="axis-label" x="{x + step / 2:.1f}" y="{HEIGHT - 4}" '
                f'text-anchor="middle">{name}</text>'
            )
    if max(counts):  # the y axis's top: the highest bar's count
        parts.append(
            f'<text class="axis-label" x="{LEFT - 4}" y="{TOP + 9}" text-anchor="end">'
            f"{max(counts)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
