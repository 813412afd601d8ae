"""Interface licenses (接口许可, isv-capabilities §4): what the provider's license pushes say, and
each WeCom tenant's license state kept fresh.

- The pushes on the provider's system event URL (`license_pay_success`, `license_refund`,
  `auto_activate`) are processed after `success` from the stored event: the order is read back
  with `license/get_order` and stored in `license_orders`, then the corp is synced (below), then
  one lifecycle event (`license.paid`, `license.refunded`, `license.auto_activated`) is noted for
  the provider, in the same transaction.
- `unlicensed_notify` on a suite's data URL (a member opened the app without a license after
  the trial) is counted on the tenant and becomes `license.unlicensed`; no upstream call.
- Syncing a corp: `get_app_license_info` for each of its active tenants among the provider's
  apps (`tenant_licenses`), and `list_actived_account` for the members holding an account
  (`license_accounts`, replaced by what the platform lists). The job `licenses.sync` (hourly)
  syncs corps never checked or checked more than a day ago, a bounded batch per run.

Beside authorization/ on the data's path, run by processing/pipeline.py. `process` does not
commit: the caller marks the event done in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session, aliased

from suite_server import db
from suite_server.billing.orders import first_time, number, unix_time
from suite_server.db import insert_ignoring_conflict, iso, utcnow
from suite_server.errors import UpstreamError
from suite_server.jobs import runner
from suite_server.jobs.tasks import task
from suite_server.models import (
    App,
    InboundEvent,
    LicenseAccount,
    LicenseOrder,
    Tenant,
    TenantLicense,
)
from suite_server.protocol import kinds, xml
from suite_server.tenants import events, lifecycle
from suite_server.tokens.service import TokenUnavailable, with_app_token
from suite_server.upstream import api_for

log = logging.getLogger(__name__)

# The push (or event) and the lifecycle kind it makes.
KINDS = {
    "license_pay_success": "license.paid",
    "license_refund": "license.refunded",
    "auto_activate": "license.auto_activated",
    kinds.UNLICENSED: "license.unlicensed",
}
BASIC = 1  # account type: 1 basic (基础帐号), 2 interop (互通帐号)
PAGE = 1000  # list_actived_account's largest page
CHECK_EVERY = timedelta(days=1)
SYNC_BATCH = 1000  # corps enqueued per run of licenses.sync
RETRIES = 5
CATCH_UP = timedelta(days=31)  # list_order's longest span
UNSETTLED = (0, 1, 4)  # unpaid, paid (may be refunded), refund requested: read again
TOLD = {1: "license.paid", 5: "license.refunded", 6: "license.refunded"}  # by order_status
_TIMES = ("create_time", "pay_time")


def process(session: Session, app: App, event: InboundEvent, api, token: str | None) -> str:
    """Act on one stored license push (`app` the provider, `token` its token) or
    unlicensed_notify (`app` the suite, no token); returns the outcome. Raises UpstreamError for
    the caller to retry or fail. Does not commit."""
    fields = xml.parse(event.payload)
    if event.kind == kinds.UNLICENSED:
        return _unlicensed(session, app, event, fields)
    corp = fields.get("AuthCorpId") or event.tenant_id or ""
    body: dict[str, Any] = {"corp_id": corp}
    if event.kind == "auto_activate":
        body["scene"] = number(fields.get("Scene"))
        pushed = xml.items(event.payload, "AccountList")
        body["accounts"] = [_pushed_account(item) for item in pushed]
    else:
        order_id = fields.get("OrderId", "")
        if not order_id:
            return "ignored"
        answer = api.license(token, "get_order", {"order_id": order_id})
        order = store_order(session, app, answer.get("order") or {})
        if not first_time(order, KINDS[event.kind]):
            return "done"  # told already: the daily catch-up found it before this push came
        corp = body["corp_id"] = corp or order.corpid
        body["order"] = order_json(order)
        if fields.get("BuyerUserId"):
            body["buyer_userid"] = fields["BuyerUserId"]
    if corp:
        sync_corp(session, app, corp, api, token)
    events.emit_kind(session, app.id, corp, KINDS[event.kind], body)
    return "done"


def _unlicensed(session: Session, app: App, event: InboundEvent, fields: dict[str, str]) -> str:
    tenant = lifecycle.find_tenant(session, app, event.tenant_id)
    if tenant is None:
        return "ignored"
    row = _license_row(session, tenant)
    row.unlicensed_count = (row.unlicensed_count or 0) + 1
    row.unlicensed_userid = fields.get("FromUserName", "")[:64] or None
    row.unlicensed_at = event.received_at or utcnow()
    body = {"userid": row.unlicensed_userid, "unlicensed_count": row.unlicensed_count}
    events.emit_kind(session, app.id, tenant.tenant_id, KINDS[kinds.UNLICENSED], body)
    return "done"


def _pushed_account(item: dict[str, str]) -> dict[str, Any]:
    return {
        "active_code": item.get("ActiveCode"),
        "userid": item.get("UserId"),
        "type": number(item.get("Type")),
        "expire_time": iso(unix_time(item.get("ExpireTime"))),
        "previous_status": number(item.get("PreviousStatus")) or None,
        "previous_active_code": item.get("PreviousActiveCode") or None,
    }


# --- syncing a corp -----------------------------------------------------------------------------


def sync_corp(
    session: Session, provider: App, corpid: str, api, token: str, now: datetime | None = None
) -> list[TenantLicense]:
    """Read the corp's accounts and, for each of its active tenants among the provider's apps,
    the app's license info; store both. Busy or token errors raise (the caller retries); an
    error about one tenant (never installed, 40013...) is kept on its row. Does not commit."""
    now = now or utcnow()
    _catch_up_orders(session, provider, corpid, api, token, now)
    accounts = _accounts(api, token, corpid)
    _replace_accounts(session, provider, corpid, accounts)
    active = sum(
        1 for a in accounts if a["type"] == BASIC and (a["expire"] is None or a["expire"] > now)
    )
    rows = []
    for tenant, app in session.execute(
        select(Tenant, App)
        .join(App, App.id == Tenant.app_pk)
        .where(
            App.provider_corpid == provider.app_id,
            App.platform == "wecom",
            App.kind.in_(("suite", "template")),
            Tenant.tenant_id == corpid,
            Tenant.status == "active",
        )
    ).all():
        row = _license_row(session, tenant)
        try:
            info = api.license(
                token, "get_app_license_info", {"corpid": corpid, "suite_id": app.app_id}
            )
        except UpstreamError as exc:
            if exc.kind in ("busy", "token"):
                raise
            row.check_error = f"{exc.endpoint}: errcode {exc.errcode} {exc.errmsg}"[:300]
        else:
            trial = info.get("trail_info") or info.get("trial_info") or {}  # sic: `trail`
            row.license_status = number(info.get("license_status"))
            row.trial_start = unix_time(trial.get("start_time"))
            row.trial_end = unix_time(trial.get("end_time"))
            row.check_time = unix_time(info.get("license_check_time"))
            row.check_error = None
        row.active_accounts = active
        row.checked_at = now
        rows.append(row)
    session.flush()
    return rows


def _catch_up_orders(
    session: Session, provider: App, corpid: str, api, token: str, now: datetime
) -> None:
    """Orders of the corp placed in the last CATCH_UP (list_order's longest span) that may
    have moved since we stored them, read again: a payment or refund whose push was lost is
    stored and told (with `caught_up`), once, as its push would have been."""
    where = and_(LicenseOrder.provider_pk == provider.id, LicenseOrder.corpid == corpid)
    known = dict(
        session.execute(select(LicenseOrder.order_id, LicenseOrder.order_status).where(where)).all()
    )
    span = {"start_time": int((now - CATCH_UP).timestamp()), "end_time": int(now.timestamp())}
    listed = _pages(api, token, "list_order", {"corpid": corpid, **span}, "order_list")
    for order_id in [str(item.get("order_id") or "") for item in listed]:
        if not order_id or (order_id in known and known[order_id] not in UNSETTLED):
            continue
        answer = api.license(token, "get_order", {"order_id": order_id})
        order = store_order(session, provider, answer.get("order") or {})
        kind = TOLD.get(order.order_status)
        if kind and first_time(order, kind):
            body = {"corp_id": corpid, "order": order_json(order), "caught_up": True}
            events.emit_kind(session, provider.id, corpid, kind, body)


def _pages(api, token: str, name: str, body: dict[str, Any], key: str) -> Iterator[dict]:
    """The objects of the list `key` over the pages of a cursor-paged license call."""
    cursor = ""
    while True:
        paging = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
        answer = api.license(token, name, {**body, **paging})
        yield from (item for item in answer.get(key) or [] if isinstance(item, dict))
        cursor = answer.get("next_cursor") or ""
        if not answer.get("has_more") or not cursor:
            return


def _accounts(api, token: str, corpid: str) -> list[dict[str, Any]]:
    """Every member of the corp holding an account (list_actived_account)."""
    return [
        {
            "userid": str(item["userid"])[:64],
            "type": number(item.get("type")) or BASIC,
            "active": unix_time(item.get("active_time")),
            "expire": unix_time(item.get("expire_time")),
        }
        for item in _pages(api, token, "list_actived_account", {"corpid": corpid}, "account_list")
        if item.get("userid")
    ]


def _replace_accounts(
    session: Session, provider: App, corpid: str, accounts: list[dict[str, Any]]
) -> None:
    """The corp's account rows become what the platform listed. Another sync of the corp may
    run at once (a push's and the hourly job's), so rows are written by key, not through loaded
    objects: a row it added since we read is updated, not added twice (a unique key error), and
    one it deleted since is no error either."""
    where = and_(LicenseAccount.provider_pk == provider.id, LicenseAccount.corpid == corpid)
    a = LicenseAccount
    stored = session.execute(
        select(a.id, a.userid, a.type, a.active_time, a.expire_time).where(where)
    ).all()
    kept = {(account["userid"], account["type"]) for account in accounts}
    gone = [row.id for row in stored if (row.userid, row.type) not in kept]
    if gone:
        session.execute(delete(a).where(a.id.in_(gone)))
    known = {(row.userid, row.type): (row.active_time, row.expire_time) for row in stored}
    for account in accounts:
        userid, kind = account["userid"], account["type"]
        times = {"active_time": account["active"], "expire_time": account["expire"]}
        if known.get((userid, kind)) == (account["active"], account["expire"]):
            continue  # unchanged: no write
        if (userid, kind) not in known:
            values = {"provider_pk": provider.id, "corpid": corpid, "userid": userid, "type": kind}
            conflict = ["provider_pk", "corpid", "userid", "type"]
            if insert_ignoring_conflict(session, LicenseAccount, values | times, conflict):
                continue
        member = and_(where, LicenseAccount.userid == userid, LicenseAccount.type == kind)
        session.execute(update(LicenseAccount).where(member).values(**times))


def _license_row(session: Session, tenant: Tenant) -> TenantLicense:
    row = session.get(TenantLicense, tenant.id)
    if row is None:
        values = {"tenant_pk": tenant.id}
        insert_ignoring_conflict(session, TenantLicense, values, ["tenant_pk"], "tenant_pk")
        row = session.get(TenantLicense, tenant.id)
        session.refresh(row)
    return row


@task("licenses.sync", queue="low")
def sync(limit: int = SYNC_BATCH) -> int:
    """Enqueue a sync of each corp (per provider) with an active tenant whose license state is
    unknown or older than CHECK_EVERY, at most `limit`; returns how many were enqueued."""
    session = db.session()
    provider = aliased(App)
    due = utcnow() - CHECK_EVERY
    rows = session.execute(
        select(provider.id, Tenant.tenant_id)
        .join(App, App.id == Tenant.app_pk)
        .join(provider, and_(provider.app_id == App.provider_corpid, provider.kind == "provider"))
        .outerjoin(TenantLicense, TenantLicense.tenant_pk == Tenant.id)
        .where(
            Tenant.status == "active",
            App.kind.in_(("suite", "template")),
            or_(TenantLicense.checked_at.is_(None), TenantLicense.checked_at < due),
        )
        .distinct()
        .limit(limit)
    ).all()
    session.rollback()
    for provider_pk, corpid in rows:
        runner.enqueue(
            "licenses.sync_corp",
            provider_pk,
            corpid,
            job_id=f"licenses:{provider_pk}:{corpid}",
            retries=RETRIES,
        )
    return len(rows)


@task("licenses.sync_corp", queue="low")
def sync_corp_job(provider_pk: int, corpid: str) -> int:
    """Sync one corp's license state now (the hourly batch, an admin's "check now"); returns
    how many tenants were checked. Upstream trouble that may pass raises for a retry."""
    session = db.session()
    provider = session.get(App, provider_pk)
    if provider is None or not provider.is_provider:
        return 0
    api = api_for(provider.platform, current_app.config)
    try:
        rows = with_app_token(
            session, provider, api, lambda token: sync_corp(session, provider, corpid, api, token)
        )
    except (UpstreamError, TokenUnavailable):
        session.rollback()
        raise
    session.commit()
    return len(rows)


# --- license orders -----------------------------------------------------------------------------


def store_order(session: Session, provider: App, order: dict[str, Any]) -> LicenseOrder:
    """Insert or update the provider's license order as get_order's `order` answered it."""
    order_id = str(order.get("order_id") or "")
    if not order_id:
        raise UpstreamError("license/get_order", -1, "the answer has no order_id", kind="other")
    insert_ignoring_conflict(
        session,
        LicenseOrder,
        {
            "provider_pk": provider.id,
            "order_id": order_id,
            "corpid": str(order.get("corpid") or ""),
            "answer": order,
        },
        ["provider_pk", "order_id"],
    )
    row = session.scalar(
        select(LicenseOrder).where(
            LicenseOrder.provider_pk == provider.id, LicenseOrder.order_id == order_id
        )
    )
    session.refresh(row)
    counts = order.get("account_count") or {}
    duration = order.get("account_duration") or {}
    row.corpid = str(order.get("corpid") or row.corpid)
    row.order_type = number(order.get("order_type"))
    row.order_status = number(order.get("order_status"))
    row.base_count = number(counts.get("base_count"))
    row.external_contact_count = number(counts.get("external_contact_count"))
    row.months, row.days = number(duration.get("months")), number(duration.get("days"))
    row.price = number(order.get("price"))
    for name in _TIMES:
        setattr(row, name, unix_time(order.get(name)))
    row.answer = order
    session.flush()
    return row


def order_json(order: LicenseOrder) -> dict[str, Any]:
    """A stored license order as events, the API and the admin show it."""
    return {
        "order_id": order.order_id,
        "corp_id": order.corpid,
        "order_type": order.order_type,
        "order_status": order.order_status,
        "base_count": order.base_count,
        "external_contact_count": order.external_contact_count,
        "months": order.months,
        "days": order.days,
        "price": order.price,
        **{name: iso(getattr(order, name)) for name in _TIMES},
    }
