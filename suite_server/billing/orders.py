"""Order and edition pushes, processed after `success` from the stored event (isv-capabilities
§8): open_order, change_order, pay_for_app_success and refund are read back with
`service/get_order` and stored in `app_orders`; change_editon re-reads the tenant's auth info so
its `edition_info` is current. Each push then makes one lifecycle event (`order.opened`,
`order.changed`, `order.paid`, `order.refunded`, `edition.changed`), written in the same
transaction as what it stored.

Beside authorization/ on the data's path: it calls the platform with the app token and changes
tenants, and is run by processing/pipeline.py. Nothing here commits: the caller marks the event
done in the same transaction, so a run that fails stores nothing and a second run finds the event
done and does nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from suite_server.db import insert_ignoring_conflict, iso
from suite_server.models import App, AppOrder, InboundEvent
from suite_server.protocol import xml
from suite_server.tenants import events, lifecycle, views

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
        body = {"order": as_json(new), "old_order": as_json(old) if old else None}
        events.emit_kind(session, app.id, new.tenant_id or corp, KINDS[kind], body)
        return "done"
    order_id = fields.get("OrderId", "")
    if not order_id:
        return "ignored"
    order = store_order(session, app, api.get_order(app_token, order_id))
    events.emit_kind(
        session, app.id, order.tenant_id or corp, KINDS[kind], {"order": as_json(order)}
    )
    return "done"


def _edition_changed(session: Session, app: App, corp: str, api, app_token: str) -> str:
    tenant = lifecycle.find_tenant(session, app, corp)
    if tenant is not None and tenant.status == "active" and tenant.credential:
        answer = api.get_auth_info(app_token, tenant.tenant_id, tenant.credential)
        lifecycle.merge_auth_info(tenant, answer)
    info = (tenant.auth_info or {}).get("edition_info") if tenant is not None else None
    events.emit_kind(session, app.id, corp, "edition.changed", {"edition": views.edition(info)})
    return "done"


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
            "order_status": _number(answer.get("order_status")),
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
        setattr(order, name, _number(answer.get(name)))
    order.edition_id = answer.get("edition_id") or None
    order.edition_name = answer.get("edition_name") or None
    for name in _TIMES:
        setattr(order, name, _time(answer.get(name)))
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


def _number(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _time(value: Any) -> datetime | None:
    """A Unix time as UTC; 0 (not yet: an unpaid order's paid_time) as None."""
    seconds = _number(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None
