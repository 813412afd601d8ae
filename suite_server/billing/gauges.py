"""The licenses' and paid-app editions' series on /metrics (billing/risks.py counts them),
registered from create_app: what the "at risk" page lists, as numbers to alert on."""

from __future__ import annotations

from suite_server import db
from suite_server.billing import risks
from suite_server.ops import metrics


def register() -> None:
    metrics.gauge(
        "suite_server_license_trials_ending",
        "WeCom tenants in their license trial, no member licensed, the trial ending within 14 days",
        trials_ending,
    )
    metrics.gauge(
        "suite_server_tenants_unlicensed_seen",
        "Active tenants with a member seen without a license (unlicensed_notify or a 701xxx "
        "errcode through the proxy) in the last 7 days",
        unlicensed_seen,
    )
    metrics.gauge(
        "suite_server_editions_at_risk",
        "Active WeCom tenants whose paid-app edition is expired, over its seats or expiring "
        "within 14 days, by reason (expired, over_seats, expiring)",
        editions_at_risk,
        labels=["reason"],
    )
    metrics.gauge(
        "suite_server_refunds_recent",
        "Orders refunded, awaiting or refused a refund in the last 30 days, by kind (app_order: "
        "paid app, license_order: interface licenses)",
        refunds_recent,
        labels=["kind"],
    )


def _read(count):
    session = db.session()
    try:
        return count(session)
    finally:
        session.rollback()


def trials_ending() -> int:
    return _read(risks.count_trials_ending)


def unlicensed_seen() -> int:
    return _read(risks.count_unlicensed_seen)


def editions_at_risk() -> list[tuple[list[str], int]]:
    return [([reason], n) for reason, n in _read(risks.count_editions_at_risk).items()]


def refunds_recent() -> list[tuple[list[str], int]]:
    return [([kind], n) for kind, n in _read(risks.count_refunds).items()]
