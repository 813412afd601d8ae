"""Order and edition pushes, processed after `success` from the stored event (isv-capabilities
§8): open_order, change_order, pay_for_app_success and refund are read back with
`service/get_order` and stored in `app_orders`; change_editon re-reads the tenant's auth info so
its `edition_info` is current. Each push then makes one lifecycle event (`order.opened`,
`order.changed`, `order.paid`, `order.refunded`, `edition.changed`), written in the same
transaction as what it stored. A push may be lost: the daily `orders.catch_up` reads each suite's
orders of the last month with `get_order_list` and tells what no push told (each kind once per
order, whichever comes first).

Beside authorization/ on the data's path: it calls the platform with the app token and changes
tenants, and is run by processing/pipeline.py. Nothing here but the catch-up's job commits: the
caller marks the event done in the same transaction, so a run that fails stores nothing and a
second run finds the event done and does nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from suite_server import db
from suite_server.db import insert_ignoring_conflict, iso, utcnow
from suite_server.errors import UpstreamError
from suite_server.jobs.tasks import task
from suite_server.models import App, AppOrder, InboundEvent, LicenseOrder
from suite_server.protocol import xml
from suite_server.tenants import events, lifecycle, views
from suite_server.tokens.service import TokenUnavailable, with_app_token
from suite_server.upstream import api_for

log = logging.getLogger(__name__)

# The push and the lifecycle kind it makes.
KINDS = {
    "open_order": "order.opened",
    "change_order": "order.changed",
    "pay_for_app_success": "order.paid",
    "refund": "order.refunded",
    "change_editon": "edition.changed",  # sic: as WeCom spells it
}
# order_status and order_type as WeCom numbers them (isv-capabilities §8).
STATUSES = {
    0: "unpaid",
    1: "paid",
    2: "closed",
    3: "expired unpaid",
    4: "refund requested",
    5: "refunded",
    6: "refund refused",
    7: "void",
}
TYPES = {0: "new", 1: "more seats", 2: "renewal", 3: "edition change"}
CATCH_UP = timedelta(days=31)  # orders placed this long ago are read again every day
TOLD_BY_STATUS = {0: "order.opened", 1: "order.paid", 5: "order.refunded"}
_TIMES = ("order_time", "paid_time", "begin_time", "end_time")
_NUMBERS = ("order_status", "order_type", "price", "user_count", "order_period")


def handles(app: App, kind: str) -> bool:
    return app.platform == "wecom" and kind in KINDS


def process(session: Session, app: App, event: InboundEvent, api, app_token: str) -> str:
    """Act on one stored push: store what it is about and note its lifecycle event; returns the
    event's outcome ("done" or "ignored"). Raises UpstreamError for the caller to retry or fail.
    Does not commit."""
    fields = xml.parse(event.payload)
    kind = event.kind
    corp = fields.get("PaidCorpId") or event.tenant_id or ""
    if kind == "change_editon":
        return _edition_changed(session, app, corp, api, app_token)
    if kind == "change_order":
        old_id, new_id = fields.get("OldOrderId", ""), fields.get("NewOrderId", "")
        if not new_id:
            return "ignored"
        old = store_order(session, app, api.get_order(app_token, old_id)) if old_id else None
        new = store_order(session, app, api.get_order(app_token, new_id))
        if not first_time(new, KINDS[kind]):
            return "done"
        body = {"order": as_json(new), "old_order": as_json(old) if old else None}
        events.emit_kind(session, app.id, new.tenant_id or corp, KINDS[kind], body)
        return "done"
    order_id = fields.get("OrderId", "")
    if not order_id:
        return "ignored"
    order = store_order(session, app, api.get_order(app_token, order_id))
    if not first_time(order, KINDS[kind]):
        return "done"  # told already: the daily catch-up found it first
    events.emit_kind(
        session, app.id, order.tenant_id or corp, KINDS[kind], {"order": as_json(order)}
    )
    return "done"


def _edition_changed(
    session: Session, app: App, corp: str, api, app_token: str, caught_up: bool = False
) -> str:
    """Re-read the corp's auth info and tell its edition (the catch-up: only if it changed)."""
    tenant = lifecycle.find_tenant(session, app, corp)
    before = (tenant.auth_info or {}).get("edition_info") if tenant is not None else None
    if tenant is not None and tenant.status == "active" and tenant.credential:
        answer = api.get_auth_info(app_token, tenant.tenant_id, tenant.credential)
        lifecycle.merge_auth_info(tenant, answer)
    info = (tenant.auth_info or {}).get("edition_info") if tenant is not None else None
    if caught_up and info == before:
        return "done"
    body: dict[str, Any] = {"edition": views.edition(info)}
    if caught_up:
        body["caught_up"] = True
    events.emit_kind(session, app.id, corp, "edition.changed", body)
    return "done"


@task("orders.catch_up", queue="low")
def catch_up() -> dict[str, int | str]:
    """The daily catch-up of every WeCom suite's orders (a push may be lost): per app id, how
    many order changes were told, or why the app could not be read."""
    session = db.session()
    results: dict[str, int | str] = {}
    for app in session.scalars(
        select(App).where(App.platform == "wecom", App.kind == "suite").order_by(App.id)
    ).all():
        api = api_for(app.platform, current_app.config)
        try:
            results[app.app_id] = with_app_token(
                session,
                app,
                api,
                lambda token, app=app, api=api: catch_up_app(session, app, api, token),
            )
            session.commit()
        except (UpstreamError, TokenUnavailable) as exc:
            session.rollback()
            log.warning("app %s: orders not caught up: %s", app.app_id, exc)
            results[app.app_id] = str(exc)
    return results


def catch_up_app(
    session: Session, app: App, api, app_token: str, now: datetime | None = None
) -> int:
    """Store the app's orders placed in the last CATCH_UP as get_order_list lists them; tell
    each order's state (opened, paid, refunded) not yet told, with `caught_up`, and the
    edition of a corp whose order was paid or refunded if it changed. Does not commit."""
    now = now or utcnow()
    span = (int((now - CATCH_UP).timestamp()), int(now.timestamp()))
    told, corps = 0, set()
    for item in api.get_order_list(app_token, *span):
        if not item.get("orderid"):
            continue
        order = store_order(session, app, item)
        kind = TOLD_BY_STATUS.get(order.order_status)
        if kind and first_time(order, kind):
            body = {"order": as_json(order), "caught_up": True}
            events.emit_kind(session, app.id, order.tenant_id, kind, body)
            told += 1
            if kind != "order.opened":
                corps.add(order.tenant_id)
    for corp in sorted(corps):
        _edition_changed(session, app, corp, api, app_token, caught_up=True)
    return told


def first_time(order: AppOrder | LicenseOrder, kind: str) -> bool:
    """Whether `kind` is yet to be told of this order, noting that it now is: a push and the
    daily catch-up (whichever reads the order first) tell each kind once."""
    told = list(order.told or [])
    if kind in told:
        return False
    order.told = [*told, kind]
    return True


def store_order(session: Session, app: App, answer: dict[str, Any]) -> AppOrder:
    """Insert or update the app's order as get_order answered it (without errcode/errmsg)."""
    answer = {k: v for k, v in answer.items() if k not in ("errcode", "errmsg")}
    order_id = str(answer["orderid"])
    insert_ignoring_conflict(
        session,
        AppOrder,
        {
            "app_pk": app.id,
            "order_id": order_id,
            "tenant_id": str(answer.get("paid_corpid") or ""),
            "order_status": number(answer.get("order_status")),
            "answer": answer,
        },
        ["app_pk", "order_id"],
    )
    order = session.scalar(
        select(AppOrder).where(AppOrder.app_pk == app.id, AppOrder.order_id == order_id)
    )
    session.refresh(order)
    order.tenant_id = str(answer.get("paid_corpid") or order.tenant_id)
    for name in _NUMBERS:
        setattr(order, name, number(answer.get(name)))
    order.edition_id = answer.get("edition_id") or None
    order.edition_name = answer.get("edition_name") or None
    for name in _TIMES:
        setattr(order, name, unix_time(answer.get(name)))
    order.answer = answer
    session.flush()
    return order


def recent(
    session: Session, app_pk: int, tenant_id: str | None = None, limit: int = 10
) -> list[AppOrder]:
    """The app's (or one corp's) latest orders, newest first."""
    query = select(AppOrder).where(AppOrder.app_pk == app_pk)
    if tenant_id is not None:
        query = query.where(AppOrder.tenant_id == tenant_id)
    order_by = (AppOrder.order_time.desc(), AppOrder.id.desc())
    return list(session.scalars(query.order_by(*order_by).limit(limit)))


def as_json(order: AppOrder) -> dict[str, Any]:
    """A stored order as events, the API and the admin show it."""
    return {
        "order_id": order.order_id,
        "tenant_id": order.tenant_id,
        "order_status": order.order_status,
        "order_type": order.order_type,
        "edition_id": order.edition_id,
        "edition_name": order.edition_name,
        "price": order.price,
        "user_count": order.user_count,
        "order_period": order.order_period,
        **{name: iso(getattr(order, name)) for name in _TIMES},
        "answer": order.answer,
    }


def number(value: Any) -> int:
    """A platform's number field as an int; 0 when absent or not a number."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def unix_time(value: Any) -> datetime | None:
    """A Unix time as UTC; 0 (not yet: an unpaid order's paid_time) as None."""
    seconds = number(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None
