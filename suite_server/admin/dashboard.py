"""What the dashboard and the "at risk" page read: per-app health, and what needs a person now."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, defer

from suite_server.apps import key_mismatches, overview
from suite_server.authorization import capabilities
from suite_server.billing import risks
from suite_server.db import utcnow
from suite_server.gateway import quota
from suite_server.models import (
    App,
    AppToken,
    InboundEvent,
    Tenant,
    TenantToken,
    WebhookDelivery,
)
from suite_server.models.tenants import STATUSES as TENANT_STATUSES

RECENT = timedelta(hours=1)
AT_RISK_LIMIT = 100
# An app card's count of tenants in each status (models.tenants.STATUSES), in the admin's
# language; the English keeps the status's own name, as the tenant filter spells it.
TENANT_COUNTS = {
    "active": lazy_gettext("%(n)s active"),
    "cancelled": lazy_gettext("%(n)s cancelled"),
    "needs_reauth": lazy_gettext("%(n)s needs_reauth"),
}


def tenant_count(status: str, count: int) -> str:
    """ "3 active" on an app card."""
    phrase = TENANT_COUNTS.get(status)
    return str(phrase) % {"n": count} if phrase is not None else f"{count} {status}"


@dataclass
class AppHealth:
    app_id: str
    platform: str
    kind: str  # suite, template or component (providers are not apps here: providers.overview)
    name: str
    test_mode: bool
    ticket_age: int | None  # seconds since the newest ticket was pushed
    ticket_state: str  # ok, stale, missing (apps.ticket_state)
    token_expires_at: datetime | None
    tenants: dict[str, int] = field(default_factory=dict)  # by status
    refreshes: int = 0  # tenant tokens obtained in the last hour
    refresh_failures: int = 0  # tenant tokens whose refresh failed in the last hour
    events: dict[str, int] = field(default_factory=dict)  # pending, failed
    failing_webhooks: int = 0


def _failing_webhook():
    # Failed for good, or still retrying after a failed attempt.
    return or_(
        WebhookDelivery.status == "failed",
        (WebhookDelivery.status == "pending") & WebhookDelivery.last_error.is_not(None),
    )


def health(session: Session, now: datetime | None = None) -> list[AppHealth]:
    now = now or utcnow()
    since = now - RECENT
    pks = dict(session.execute(select(App.app_id, App.id)).all())
    result = {
        row["app_id"]: AppHealth(
            app_id=row["app_id"],
            platform=row["platform"],
            kind=row["kind"],
            name=row["name"],
            test_mode=row["test_mode"],
            ticket_age=row["ticket_age"],
            ticket_state=row["ticket_state"],
            token_expires_at=(
                datetime.fromisoformat(row["token_expires_at"]) if row["token_expires_at"] else None
            ),
            tenants={status: 0 for status in TENANT_STATUSES},
            events={"pending": 0, "failed": 0},
        )
        for row in overview(session, now)
    }
    by_pk = defaultdict(lambda: AppHealth("", "", "", "", False, None, "ok", None))
    # An app registered between the queries, or a provider account (its system events), is left
    # out of this page, not an error.
    by_pk.update({pks[app_id]: health for app_id, health in result.items() if app_id in pks})

    for app_pk, status, count in session.execute(
        select(Tenant.app_pk, Tenant.status, func.count()).group_by(Tenant.app_pk, Tenant.status)
    ):
        by_pk[app_pk].tenants[status] = count
    tokens = (
        select(
            Tenant.app_pk,
            func.count().filter(TenantToken.obtained_at >= since),
            func.count().filter(TenantToken.last_error_at >= since),
        )
        .join(Tenant, Tenant.id == TenantToken.tenant_pk)
        .where(or_(TenantToken.obtained_at >= since, TenantToken.last_error_at >= since))
        .group_by(Tenant.app_pk)
    )
    for app_pk, refreshes, failures in session.execute(tokens):
        by_pk[app_pk].refreshes, by_pk[app_pk].refresh_failures = refreshes, failures
    for app_pk, status, count in session.execute(
        select(InboundEvent.app_pk, InboundEvent.status, func.count())
        .where(InboundEvent.status.in_(("pending", "failed")))
        .group_by(InboundEvent.app_pk, InboundEvent.status)
    ):
        by_pk[app_pk].events[status] = count
    for app_pk, count in session.execute(
        select(WebhookDelivery.app_pk, func.count())
        .where(_failing_webhook())
        .group_by(WebhookDelivery.app_pk)
    ):
        by_pk[app_pk].failing_webhooks = count
    return list(result.values())


@dataclass
class AtRisk:
    stale_apps: list[AppHealth]
    key_mismatches: list[Any]  # rows: app_id, since, last (apps.key_mismatches)
    needs_reauth: list[Any]  # rows: app_id, tenant_id, name, status_reason, install_url
    failed_tokens: list[Any]  # rows: kind, app_id, tenant_id, last_error, last_error_at
    failed_events: list[Any]  # (InboundEvent, app_id)
    failing_webhooks: list[Any]  # (WebhookDelivery, app_id)
    # Licenses and paid-app editions (billing/risks.py): rows as its functions give them.
    trials_ending: list[dict[str, Any]] = field(default_factory=list)
    unlicensed_seen: list[dict[str, Any]] = field(default_factory=list)
    editions_at_risk: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    # Open Platform accounts refused for their daily API quota today (gateway/quota.py).
    over_quota: list[dict[str, Any]] = field(default_factory=list)
    # Open accounts banned, frozen or deregistered, and those missing a permission set their
    # app needs (authorization/capabilities.py).
    accounts_at_risk: list[dict[str, Any]] = field(default_factory=list)
    missing_sets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.stale_apps
            or self.key_mismatches
            or self.needs_reauth
            or self.failed_tokens
            or self.failed_events
            or self.failing_webhooks
            or self.trials_ending
            or self.unlicensed_seen
            or self.editions_at_risk
            or self.refunds
            or self.over_quota
            or self.accounts_at_risk
            or self.missing_sets
        )


def at_risk(session: Session, public_url: str, now: datetime | None = None) -> AtRisk:
    """One page of what a person should look at now, each list capped at AT_RISK_LIMIT."""
    stale = [app for app in health(session, now) if app.ticket_state != "ok"]
    reauth = [
        {**row._asdict(), "install_url": f"{public_url}/install/{row.app_id}"}
        for row in session.execute(
            select(
                App.app_id,
                Tenant.tenant_id,
                Tenant.name,
                Tenant.status_reason,
                Tenant.updated_at,
            )
            .join(App, App.id == Tenant.app_pk)
            .where(Tenant.status == "needs_reauth")
            .order_by(Tenant.id.desc())
            .limit(AT_RISK_LIMIT)
        )
    ]
    # last_error is cleared by a successful refresh: what is left is a refresh failing now.
    failed_tokens = [
        {
            "kind": _("provider token") if row.kind == "provider" else _("app token"),
            "app_id": row.app_id,
            "tenant_id": None,
            "last_error": row.last_error,
            "last_error_at": row.last_error_at,
        }
        for row in session.execute(
            select(App.app_id, App.kind, AppToken.last_error, AppToken.last_error_at)
            .join(App, App.id == AppToken.app_pk)
            .where(AppToken.last_error.is_not(None))
            .order_by(AppToken.last_error_at.desc())
        )
    ] + [
        {
            "kind": _("tenant token"),
            "app_id": row.app_id,
            "tenant_id": row.tenant_id,
            "last_error": row.last_error,
            "last_error_at": row.last_error_at,
        }
        for row in session.execute(
            select(App.app_id, Tenant.tenant_id, TenantToken.last_error, TenantToken.last_error_at)
            .join(Tenant, Tenant.id == TenantToken.tenant_pk)
            .join(App, App.id == Tenant.app_pk)
            .where(TenantToken.last_error.is_not(None), Tenant.status == "active")
            .order_by(TenantToken.last_error_at.desc())
            .limit(AT_RISK_LIMIT)
        )
    ]
    failed_events = session.execute(
        select(InboundEvent, App.app_id)
        .join(App, App.id == InboundEvent.app_pk)
        .where(InboundEvent.status == "failed")
        .options(defer(InboundEvent.payload), defer(InboundEvent.raw))
        .order_by(InboundEvent.id.desc())
        .limit(AT_RISK_LIMIT)
    ).all()
    failing_webhooks = session.execute(
        select(WebhookDelivery, App.app_id)
        .join(App, App.id == WebhookDelivery.app_pk)
        .where(_failing_webhook())
        .options(defer(WebhookDelivery.body))
        .order_by(WebhookDelivery.id.desc())
        .limit(AT_RISK_LIMIT)
    ).all()
    return AtRisk(
        stale,
        key_mismatches(session),
        reauth,
        failed_tokens,
        list(failed_events),
        list(failing_webhooks),
        trials_ending=risks.trials_ending(session, now, AT_RISK_LIMIT),
        unlicensed_seen=risks.unlicensed_seen(session, now, AT_RISK_LIMIT),
        editions_at_risk=risks.editions_at_risk(session, now, AT_RISK_LIMIT),
        refunds=risks.refunds(session, now, AT_RISK_LIMIT),
        over_quota=quota.over_quota(session, now, AT_RISK_LIMIT),
        accounts_at_risk=capabilities.accounts_at_risk(session, AT_RISK_LIMIT),
        missing_sets=capabilities.missing_sets(session, AT_RISK_LIMIT),
    )
