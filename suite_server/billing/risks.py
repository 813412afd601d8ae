"""What of WeCom licenses and paid-app editions needs a person soon (isv-capabilities §4, §8):
trials ending, members refused for lack of a license, editions expired or over their seats,
refunds. Each list is capped for the admin's "at risk" page; the counts are /metrics' gauges
(billing/gauges.py). `now` is our clock unless given: trials end by the platform's dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from suite_server.billing import ledger, orders
from suite_server.db import json_number, utcnow
from suite_server.models import App, AppOrder, LicenseOrder, ProxyErrcode, Tenant, TenantLicense

LIMIT = 100  # rows per list, as the other lists of the page (admin/dashboard.AT_RISK_LIMIT)
TRIAL_WARNING = timedelta(days=14)
UNLICENSED_RECENT = timedelta(days=7)
EDITION_WARNING = timedelta(days=14)
REFUNDS_RECENT = timedelta(days=30)
DAY = timedelta(days=1)
# Paid-app orders: 4 refund requested, 5 refunded (billing/orders.STATUSES). License orders: the
# same, and 6 refund refused.
APP_ORDER_REFUNDS = (4, 5)
LICENSE_ORDER_REFUNDS = (4, 5, 6)
# edition_info agent app_status: 2 trial expired, 4 paid expired, 6 over its seats (within the
# 7 days' grace), 7 over its seats past the grace.
EXPIRED_STATUSES = (2, 4)
OVER_SEATS_STATUSES = (6, 7)
APP_STATUSES = {
    1: "trial",
    2: "trial expired",
    3: "paid",
    4: "paid, expired",
    5: "unlimited trial",
    6: "over its seats, within the 7 days' grace",
    7: "over its seats, past the grace",
}
EDITION_REASONS = ("expired", "over_seats", "expiring")


# -- trials ending -------------------------------------------------------------------------------


def _trial_ending(now: datetime) -> ColumnElement[bool]:
    # Still in trial as tenants/views.license_state says it: checked, no member holds an account.
    return and_(
        Tenant.status == "active",
        TenantLicense.license_status == 1,
        TenantLicense.active_accounts == 0,
        TenantLicense.trial_end > now,
        TenantLicense.trial_end <= now + TRIAL_WARNING,
    )


def trials_ending(
    session: Session, now: datetime | None = None, limit: int = LIMIT
) -> list[dict[str, Any]]:
    """Tenants whose license trial ends within 14 days with no member licensed, soonest first."""
    now = now or utcnow()
    rows = session.execute(
        select(App.app_id, Tenant.tenant_id, Tenant.name, TenantLicense.trial_end)
        .join(Tenant, Tenant.id == TenantLicense.tenant_pk)
        .join(App, App.id == Tenant.app_pk)
        .where(_trial_ending(now))
        .order_by(TenantLicense.trial_end, Tenant.id)
        .limit(limit)
    )
    return [{**row._asdict(), "days_left": _days_until(row.trial_end, now)} for row in rows]


def count_trials_ending(session: Session, now: datetime | None = None) -> int:
    return session.scalar(
        select(func.count())
        .select_from(TenantLicense)
        .join(Tenant, Tenant.id == TenantLicense.tenant_pk)
        .where(_trial_ending(now or utcnow()))
    )


def _days_until(when: datetime, now: datetime) -> int:
    """Whole days left, a part day counting as one: a trial ending in 6 days 23 hours is 7."""
    return -(-(when - now) // DAY)


# -- unlicensed members seen ---------------------------------------------------------------------


def _notified_since(since: datetime) -> ColumnElement[bool]:
    return TenantLicense.unlicensed_at >= since


def _refused_since(since: datetime) -> ColumnElement[bool]:
    low, high = ledger.LICENSE_ERRCODES.start, ledger.LICENSE_ERRCODES.stop
    return and_(
        ProxyErrcode.errcode >= low, ProxyErrcode.errcode < high, ProxyErrcode.last_at >= since
    )


def unlicensed_seen(
    session: Session, now: datetime | None = None, limit: int = LIMIT
) -> list[dict[str, Any]]:
    """Active tenants with a member seen without a license in the last 7 days: the platform told
    us (unlicensed_notify: the member) or refused a call through our proxy (701xxx: the path and
    errcode). Newest first; a tenant may appear once for each."""
    since = (now or utcnow()) - UNLICENSED_RECENT
    notified = session.execute(
        select(
            App.app_id,
            Tenant.tenant_id,
            Tenant.name,
            TenantLicense.unlicensed_userid,
            TenantLicense.unlicensed_count,
            TenantLicense.unlicensed_at,
        )
        .join(Tenant, Tenant.id == TenantLicense.tenant_pk)
        .join(App, App.id == Tenant.app_pk)
        .where(Tenant.status == "active", _notified_since(since))
        .order_by(TenantLicense.unlicensed_at.desc())
        .limit(limit)
    )
    refused = session.execute(
        select(
            App.app_id,
            Tenant.tenant_id,
            Tenant.name,
            ProxyErrcode.path,
            ProxyErrcode.errcode,
            ProxyErrcode.count,
            ProxyErrcode.last_errmsg,
            ProxyErrcode.last_at,
        )
        .join(App, App.id == ProxyErrcode.app_pk)
        .join(
            Tenant,
            and_(Tenant.app_pk == ProxyErrcode.app_pk, Tenant.tenant_id == ProxyErrcode.tenant_id),
        )
        .where(Tenant.status == "active", _refused_since(since))
        .order_by(ProxyErrcode.last_at.desc())
        .limit(limit)
    )
    rows = [
        {
            "source": "notified",
            "app_id": row.app_id,
            "tenant_id": row.tenant_id,
            "name": row.name,
            "userid": row.unlicensed_userid,
            "path": None,
            "errcode": None,
            "errmsg": None,
            "count": row.unlicensed_count,
            "at": row.unlicensed_at,
        }
        for row in notified
    ] + [
        {
            "source": "refused",
            "app_id": row.app_id,
            "tenant_id": row.tenant_id,
            "name": row.name,
            "userid": None,
            "path": row.path,
            "errcode": row.errcode,
            "errmsg": row.last_errmsg,
            "count": row.count,
            "at": row.last_at,
        }
        for row in refused
    ]
    rows.sort(key=lambda row: row["at"], reverse=True)
    return rows[:limit]


def count_unlicensed_seen(session: Session, now: datetime | None = None) -> int:
    """Active tenants seen with an unlicensed member in the last 7 days, each counted once."""
    since = (now or utcnow()) - UNLICENSED_RECENT
    notified = exists().where(TenantLicense.tenant_pk == Tenant.id, _notified_since(since))
    refused = exists().where(
        ProxyErrcode.app_pk == Tenant.app_pk,
        ProxyErrcode.tenant_id == Tenant.tenant_id,
        _refused_since(since),
    )
    return session.scalar(
        select(func.count()).where(Tenant.status == "active", or_(notified, refused))
    )


# -- editions at risk ----------------------------------------------------------------------------


def _agent_number(session: Session, key: str) -> ColumnElement[int]:
    """auth_info.edition_info.agent[0].<key> as a number, NULL when absent or not a number."""
    return json_number(session, Tenant.auth_info[("edition_info", "agent", 0, key)])


def _edition_parts(session: Session, now: datetime):
    status = _agent_number(session, "app_status")
    expired = _agent_number(session, "expired_time")
    now_ts = int(now.timestamp())
    soon_ts = int((now + EDITION_WARNING).timestamp())
    has_expiry = expired > 0
    reason = case(
        (or_(status.in_(EXPIRED_STATUSES), and_(has_expiry, expired <= now_ts)), "expired"),
        (status.in_(OVER_SEATS_STATUSES), "over_seats"),
        else_="expiring",
    )
    at_risk = and_(
        Tenant.status == "active",
        App.platform == "wecom",
        or_(
            status.in_(EXPIRED_STATUSES + OVER_SEATS_STATUSES),
            and_(has_expiry, expired <= soon_ts),
        ),
    )
    return status, expired, reason, at_risk


def editions_at_risk(
    session: Session, now: datetime | None = None, limit: int = LIMIT
) -> list[dict[str, Any]]:
    """Active WeCom tenants whose paid-app edition has expired (app_status 2 or 4, or its
    expired_time is past), is over its seats (6, 7) or expires within 14 days. `reason` is the
    first of expired, over_seats, expiring that holds; expired first, then by expiry."""
    now = now or utcnow()
    status, expired, reason, at_risk = _edition_parts(session, now)
    rank = case((reason == "expired", 0), (reason == "over_seats", 1), else_=2)
    rows = session.execute(
        select(
            App.app_id,
            Tenant.tenant_id,
            Tenant.name,
            Tenant.auth_info["edition_info"].label("edition_info"),
            status.label("app_status"),
            expired.label("expired_time"),
            reason.label("reason"),
        )
        .join(App, App.id == Tenant.app_pk)
        .where(at_risk)
        .order_by(rank, func.coalesce(expired, 0), Tenant.id)
        .limit(limit)
    )
    result = []
    for row in rows:
        agent = _first_agent(row.edition_info)
        expires = datetime.fromtimestamp(row.expired_time, UTC) if row.expired_time else None
        result.append(
            {
                "app_id": row.app_id,
                "tenant_id": row.tenant_id,
                "name": row.name,
                "reason": row.reason,
                "edition_id": agent.get("edition_id"),
                "edition_name": agent.get("edition_name"),
                "app_status": row.app_status,
                "status_label": APP_STATUSES.get(row.app_status, str(row.app_status)),
                "user_limit": agent.get("user_limit"),
                "expired_time": expires,
                "days_left": _days_until(expires, now) if expires and expires > now else None,
            }
        )
    return result


def _first_agent(edition_info: Any) -> dict[str, Any]:
    agents = edition_info.get("agent") if isinstance(edition_info, dict) else None
    first = agents[0] if isinstance(agents, list) and agents else None
    return first if isinstance(first, dict) else {}


def count_editions_at_risk(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Tenants per reason (expired, over_seats, expiring), each reason present, zero or not."""
    _status, _expired, reason, at_risk = _edition_parts(session, now or utcnow())
    # Grouped outside: PostgreSQL does not see a CASE with bound parameters in SELECT and in
    # GROUP BY as the same expression.
    tenants = (
        select(reason.label("reason"))
        .select_from(Tenant)
        .join(App, App.id == Tenant.app_pk)
        .where(at_risk)
        .subquery()
    )
    counts = dict.fromkeys(EDITION_REASONS, 0)
    for name, count in session.execute(
        select(tenants.c.reason, func.count()).group_by(tenants.c.reason)
    ):
        counts[name] = count
    return counts


# -- refunds -------------------------------------------------------------------------------------


def refunds(
    session: Session, now: datetime | None = None, limit: int = LIMIT
) -> list[dict[str, Any]]:
    """Paid-app orders refunded or awaiting a refund, and license orders refunded, awaiting or
    refused one, updated in the last 30 days, newest first. `tenant_app_id` is the app whose
    tenant page shows the corp (None: the corp is not a tenant here)."""
    since = (now or utcnow()) - REFUNDS_RECENT
    app_orders = session.execute(
        select(AppOrder, App.app_id, Tenant.name, Tenant.id.label("tenant_pk"))
        .join(App, App.id == AppOrder.app_pk)
        .outerjoin(
            Tenant, and_(Tenant.app_pk == AppOrder.app_pk, Tenant.tenant_id == AppOrder.tenant_id)
        )
        .where(AppOrder.order_status.in_(APP_ORDER_REFUNDS), AppOrder.updated_at >= since)
        .order_by(AppOrder.updated_at.desc())
        .limit(limit)
    )
    # A license order is the provider's, for a corp: link to the corp's tenant of one of the
    # provider's suites, when it has one.
    suite = aliased(App)
    tenant_app = (
        select(suite.app_id)
        .join(Tenant, Tenant.app_pk == suite.id)
        .where(suite.provider_corpid == App.app_id, Tenant.tenant_id == LicenseOrder.corpid)
        .order_by(Tenant.id)
        .limit(1)
        .scalar_subquery()
    )
    license_orders = session.execute(
        select(LicenseOrder, App.app_id, tenant_app.label("tenant_app_id"))
        .join(App, App.id == LicenseOrder.provider_pk)
        .where(
            LicenseOrder.order_status.in_(LICENSE_ORDER_REFUNDS), LicenseOrder.updated_at >= since
        )
        .order_by(LicenseOrder.updated_at.desc())
        .limit(limit)
    )
    rows = [
        {
            "kind": "app_order",
            "app_id": app_id,
            "tenant_id": order.tenant_id,
            "name": name,
            "tenant_app_id": app_id if tenant_pk is not None else None,
            "order_id": order.order_id,
            "status": orders.STATUSES.get(order.order_status, str(order.order_status)),
            "order_status": order.order_status,
            "price": order.price,
            "updated_at": order.updated_at,
        }
        for order, app_id, name, tenant_pk in app_orders
    ] + [
        {
            "kind": "license_order",
            "app_id": provider_id,
            "tenant_id": order.corpid,
            "name": None,
            "tenant_app_id": tenant_app_id,
            "order_id": order.order_id,
            "status": ledger.status_name(order.order_status),
            "order_status": order.order_status,
            "price": order.price,
            "updated_at": order.updated_at,
        }
        for order, provider_id, tenant_app_id in license_orders
    ]
    rows.sort(key=lambda row: row["updated_at"], reverse=True)
    return rows[:limit]


def count_refunds(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Refund orders of the last 30 days per kind (app_order, license_order)."""
    since = (now or utcnow()) - REFUNDS_RECENT
    app_orders = select(func.count()).where(
        AppOrder.order_status.in_(APP_ORDER_REFUNDS), AppOrder.updated_at >= since
    )
    license_orders = select(func.count()).where(
        LicenseOrder.order_status.in_(LICENSE_ORDER_REFUNDS), LicenseOrder.updated_at >= since
    )
    return {
        "app_order": session.scalar(app_orders),
        "license_order": session.scalar(license_orders),
    }
