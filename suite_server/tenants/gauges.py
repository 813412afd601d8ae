"""The tenants' series on /metrics, registered from create_app."""

from __future__ import annotations

from sqlalchemy import func, select

from suite_server import db
from suite_server.models import Tenant
from suite_server.ops import metrics


def register() -> None:
    metrics.gauge("suite_server_tenants", "Tenants by status", by_status, labels=["status"])


def by_status() -> list[tuple[list[str], int]]:
    session = db.session()
    counts = session.execute(select(Tenant.status, func.count()).group_by(Tenant.status)).all()
    session.rollback()
    return [([status], count) for status, count in counts]
