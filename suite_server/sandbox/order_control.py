"""Paid-app order actions in the control API (isv-capabilities.md §8), where the sandbox plays
the customer and WeCom's billing (all under /sandbox/apps/<suite_id>/; rules in `orders.py`).
Each sends the push the platform sends, to the suite's command URL, with SuiteId, PaidCorpId,
InfoType and TimeStamp:

* `POST orders {tenant_id, edition_id?, edition_name?, user_count?, order_period? (days),
  price? (fen), order_type?, order_from?, operator_id?}` -> 201 {order, push}: the corp places
  an order (unpaid); `open_order` (OrderId, OperatorId).
* `POST orders/<orderid>/pay` -> {order, edition, pushes}: `pay_for_app_success` (OrderId), then
  `change_editon` (sic): the corp is on the order's edition.
* `POST orders/<orderid>/change {user_count?, order_period?, edition_id?, edition_name?,
  price?}` -> {order, old_order, push}: an unpaid order is closed and replaced;
  `change_order` (OldOrderId, NewOrderId).
* `POST orders/<orderid>/refund` -> {order, edition, pushes}: `refund` (OrderId), then
  `change_editon`: the corp is back on the edition it had.
* `GET orders` -> {orders}: the suite's orders as get_order shows them.

Moving the clock with `POST /sandbox/clock` also sends `change_editon` for every corp whose
edition (trial or paid) has expired since (`push_expiries`, in the background).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from suite_server.sandbox import control_input as given
from suite_server.sandbox import orders, payloads
from suite_server.sandbox.control_input import ControlError
from suite_server.sandbox.pushes import COMMAND, wire_time
from suite_server.sandbox.runtime import Sandbox, current_sandbox
from suite_server.sandbox.state import App, Tenant

bp = Blueprint("sandbox_order_control", __name__, url_prefix="/sandbox/apps/<app_id>/orders")
TEXTS = {"edition_id": 64, "edition_name": 128, "operator_id": 64}
NUMBERS = {
    "user_count": (1, 1_000_000),
    "order_period": (1, 3650),
    "price": (0, 10**10),
    "order_type": (min(orders.ORDER_TYPES), max(orders.ORDER_TYPES)),
    "order_from": (min(orders.ORDER_FROM), max(orders.ORDER_FROM)),
}
CHANGEABLE = ("user_count", "order_period", "edition_id", "edition_name", "price")


def _paid_app(app_id: str) -> App:
    app = given.app(app_id)
    if not orders.is_paid_app(app):
        raise ControlError(400, "paid-app orders are for WeCom suites, not 代开发 templates")
    return app


def _active(app: App, tenant_id: str) -> Tenant:
    tenant = given.tenant(app, tenant_id)
    if not tenant.active:
        raise ControlError(409, f"tenant {tenant.tenant_id} has revoked its authorization")
    return tenant


def _order(app: App, orderid: str) -> tuple[orders.AppOrder, Tenant]:
    state = current_sandbox().state
    with state.lock:
        order = state.app_orders.get(orderid)
    if order is None or order.suite_id != app.app_id:
        raise ControlError(404, f"{app.app_id} has no order {orderid!r}")
    return order, _active(app, order.corpid)


def _details(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The order fields given, checked."""
    found: dict[str, Any] = {}
    for name in names:
        if name in TEXTS:
            value = given.text(data, name)
            if len(value) > TEXTS[name]:
                raise ControlError(400, f"{name} must be at most {TEXTS[name]} characters")
            if value:
                found[name] = value
        else:
            number = given.whole_number(data, name, *NUMBERS[name])
            if number is not None:
                found[name] = number
    return found


def push(sandbox: Sandbox, app: App, tenant: Tenant, kind: str, extra: dict | None = None) -> dict:
    plaintext = payloads.wecom_order_event(kind, app.app_id, tenant.tenant_id, wire_time(), extra)
    return sandbox.pusher.deliver(app, kind, COMMAND, plaintext, tenant)


def _edition(sandbox: Sandbox, app: App, tenant: Tenant) -> dict[str, Any]:
    state = sandbox.state
    with state.lock:
        return orders.edition(state, app, tenant).agent(tenant.agent_id, state.now())


@bp.get("")
def list_orders(app_id: str) -> ResponseReturnValue:
    state = current_sandbox().state
    app = _paid_app(app_id)
    with state.lock:
        found = [o.public() for o in state.app_orders.values() if o.suite_id == app.app_id]
    return jsonify({"orders": found})


@bp.post("")
def open_order(app_id: str) -> ResponseReturnValue:
    sandbox = current_sandbox()
    app = _paid_app(app_id)
    data = given.body()
    tenant = _active(app, given.text(data, "tenant_id", required=True))
    details = _details(data, tuple(TEXTS) + tuple(NUMBERS))
    details.setdefault("edition_id", orders.STANDARD_EDITION[0])
    details.setdefault("edition_name", orders.STANDARD_EDITION[1])
    details.setdefault("user_count", 10)
    details.setdefault("order_period", 365)
    order = orders.open_order(sandbox.state, app, tenant, **details)
    extra = {"OrderId": order.orderid, "OperatorId": order.operator_id or None}
    result = push(sandbox, app, tenant, "open_order", extra)
    return jsonify({"order": order.public(), "push": result}), 201


@bp.post("/<orderid>/pay")
def pay(app_id: str, orderid: str) -> ResponseReturnValue:
    sandbox = current_sandbox()
    app = _paid_app(app_id)
    given.body()
    order, tenant = _order(app, orderid)
    with sandbox.state.lock:
        if order.status != orders.UNPAID:
            raise ControlError(409, f"order {orderid} is not unpaid (order_status {order.status})")
        orders.pay(sandbox.state, app, tenant, order)
    pushes = [
        push(sandbox, app, tenant, "pay_for_app_success", {"OrderId": order.orderid}),
        push(sandbox, app, tenant, "change_editon"),
    ]
    edition = _edition(sandbox, app, tenant)
    return jsonify({"order": order.public(), "edition": edition, "pushes": pushes})


@bp.post("/<orderid>/change")
def change(app_id: str, orderid: str) -> ResponseReturnValue:
    sandbox = current_sandbox()
    app = _paid_app(app_id)
    changes = _details(given.body(), CHANGEABLE)
    if not changes:
        raise ControlError(400, f"give at least one of {', '.join(CHANGEABLE)}")
    old, tenant = _order(app, orderid)
    with sandbox.state.lock:
        if old.status != orders.UNPAID:
            raise ControlError(409, f"order {orderid} is not unpaid (order_status {old.status})")
        new = orders.change(sandbox.state, old, changes)
    extra = {"OldOrderId": old.orderid, "NewOrderId": new.orderid}
    result = push(sandbox, app, tenant, "change_order", extra)
    return jsonify({"order": new.public(), "old_order": old.public(), "push": result})


@bp.post("/<orderid>/refund")
def refund(app_id: str, orderid: str) -> ResponseReturnValue:
    sandbox = current_sandbox()
    app = _paid_app(app_id)
    given.body()
    order, tenant = _order(app, orderid)
    with sandbox.state.lock:
        if order.status != orders.PAID_ORDER:
            raise ControlError(409, f"order {orderid} is not paid (order_status {order.status})")
        orders.refund(sandbox.state, app, tenant, order)
    pushes = [
        push(sandbox, app, tenant, "refund", {"OrderId": order.orderid}),
        push(sandbox, app, tenant, "change_editon"),
    ]
    edition = _edition(sandbox, app, tenant)
    return jsonify({"order": order.public(), "edition": edition, "pushes": pushes})


def push_expiries(sandbox: Sandbox) -> int:
    """Send change_editon (in the background) for each edition that expired since the last
    look; returns how many."""
    expired = orders.newly_expired(sandbox.state)
    for app, tenant in expired:
        sandbox.pusher.deliver_later(
            lambda app=app, tenant=tenant: push(sandbox, app, tenant, "change_editon")
        )
    return len(expired)
