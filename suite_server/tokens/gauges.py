"""The tokens' series on /metrics, registered from create_app."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import case, func, or_, select

from suite_server import db
from suite_server.db import utcnow
from suite_server.models import App, Tenant, TenantToken
from suite_server.ops import metrics
from suite_server.tokens.policy import LAST_SECONDS, SAME_UNTIL_EXPIRY


def register() -> None:
    metrics.gauge(
        "suite_server_tokens_expiring",
        "Active tenants without a token that could be served now (none, or too close to "
        "expiry: TOKEN_MIN_REMAINING, or the last seconds of a WeCom token)",
        expiring,
    )


def expiring() -> int:
    """Active tenants a request would have to refresh first: no token, or one too close to its
    expiry (WeCom serves its token to the last seconds)."""
    session = db.session()
    now = utcnow()
    window = timedelta(seconds=current_app.config["TOKEN_MIN_REMAINING"])
    floor = case(
        (App.platform.in_(SAME_UNTIL_EXPIRY), now + timedelta(seconds=LAST_SECONDS)),
        else_=now + window,
    )
    count = session.scalar(
        select(func.count())
        .select_from(Tenant)
        .join(App, App.id == Tenant.app_pk)
        .outerjoin(TenantToken, TenantToken.tenant_pk == Tenant.id)
        .where(
            Tenant.status == "active",
            or_(TenantToken.expires_at.is_(None), TenantToken.expires_at < floor),
        )
    )
    session.rollback()
    return count
