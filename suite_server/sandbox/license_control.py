"""License actions in the control API (isv-capabilities.md §4), where the sandbox plays the buyer,
WeCom's billing and a member of a customer corp (all under /sandbox/; rules in `licenses.py`):

* `GET /sandbox/providers/<corpid>/licenses` -> the provider's book: orders, codes (with order,
  corp, status, member), the corps with auto-activation on.
* `POST /sandbox/providers/<corpid>/licenses/<order_id>/pay` -> {order, codes, push}: an unpaid
  order is paid, its codes are created, `license_pay_success` goes to the system-event URL.
* `POST /sandbox/providers/<corpid>/licenses/<order_id>/refund {accept?}` -> {order, push}: a
  paid order none of whose codes is bound is refunded (status 5, its codes void) or, with
  accept false, the refund is refused (status 6); `license_refund` says which (OrderStatus 1
  refunded, 2 refused).
* `POST /sandbox/licenses/open_app {app_id, tenant_id, userid}` -> {outcome, active_code, push}:
  a member opens the app. outcome `licensed` (a valid basic account) or `trial` (the 90 days
  are not over): nothing is pushed. Otherwise, with auto-activation on and a free basic code,
  `auto_activated`: the code is bound and `auto_activate` goes to the system-event URL; else
  `unlicensed`: the `unlicensed_notify` event goes to the suite's data URL from that member.

An unknown provider, order, app or tenant is a 404; an order or tenant in the wrong state a 409.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from suite_server.sandbox import control_input as given
from suite_server.sandbox import events, payloads
from suite_server.sandbox import licenses as lic
from suite_server.sandbox.control_input import ControlError
from suite_server.sandbox.pushes import SYSTEM, wire_time
from suite_server.sandbox.runtime import Sandbox, current_sandbox
from suite_server.sandbox.state import WECOM, Provider

bp = Blueprint("sandbox_license_control", __name__, url_prefix="/sandbox")
AUTO_ACTIVATE_SCENE = 1  # doc/95994: the member used the app
PREVIOUS_EXPIRED = 1  # auto_activate PreviousStatus: the member's earlier account had expired
REFUND_DONE, REFUND_REFUSED = 1, 2  # license_refund OrderStatus


def _provider(corpid: str) -> Provider:
    provider = current_sandbox().state.provider(corpid)
    if provider is None:
        raise ControlError(404, f"unknown provider {corpid!r}")
    return provider


def _order(provider: Provider, order_id: str) -> tuple[lic.LicenseBook, lic.LicenseOrder]:
    ledger = lic.book(current_sandbox().state, provider.corpid)
    order = ledger.orders.get(order_id)
    if order is None:
        raise ControlError(404, f"{provider.corpid} has no license order {order_id!r}")
    return ledger, order


def system_push(
    sandbox: Sandbox, provider: Provider, kind: str, corpid: str, extra: dict[str, Any]
) -> dict[str, Any]:
    """A license event to the provider's system-event URL (providers.py has the envelope)."""
    plaintext = payloads.wecom_system_event(
        provider.corpid, kind, corpid, wire_time(), extra, extra.get("OrderId", "")
    )
    return sandbox.pusher.deliver(provider.as_app(), kind, SYSTEM, plaintext)


@bp.get("/providers/<corpid>/licenses")
def show_book(corpid: str) -> ResponseReturnValue:
    state = current_sandbox().state
    provider = _provider(corpid)
    with state.lock:
        return jsonify(lic.book(state, provider.corpid).public(state.now()))


@bp.post("/providers/<corpid>/licenses/<order_id>/pay")
def pay(corpid: str, order_id: str) -> ResponseReturnValue:
    sandbox = current_sandbox()
    state = sandbox.state
    provider = _provider(corpid)
    given.body()  # none needed, but it must not be garbage
    with state.lock:
        ledger, order = _order(provider, order_id)
        if order.status != lic.UNPAID:
            raise ControlError(409, f"order {order_id} is not unpaid (order_status {order.status})")
        codes = lic.pay(state, ledger, order)
        answer = {
            "order": order.public(),
            "codes": [{"active_code": c.code, "type": c.type} for c in codes],
        }
    extra = {"OrderId": order.order_id, "BuyerUserId": order.buyer_userid}
    answer["push"] = system_push(sandbox, provider, "license_pay_success", order.corpid, extra)
    return jsonify(answer)


@bp.post("/providers/<corpid>/licenses/<order_id>/refund")
def refund(corpid: str, order_id: str) -> ResponseReturnValue:
    sandbox = current_sandbox()
    state = sandbox.state
    provider = _provider(corpid)
    accept = given.body().get("accept", True)
    if not isinstance(accept, bool):
        raise ControlError(400, "accept must be true or false")
    with state.lock:
        ledger, order = _order(provider, order_id)
        if order.status != lic.PAID:
            raise ControlError(409, f"order {order_id} is not paid (order_status {order.status})")
        if accept and lic.bound_codes(ledger, order_id):
            raise ControlError(409, f"accounts of order {order_id} are activated already")
        lic.refund(state, ledger, order, accept)
        answer: dict[str, Any] = {"order": order.public()}
    extra = {"OrderId": order.order_id, "OrderStatus": REFUND_DONE if accept else REFUND_REFUSED}
    answer["push"] = system_push(sandbox, provider, "license_refund", order.corpid, extra)
    return jsonify(answer)


@bp.post("/licenses/open_app")
def open_app() -> ResponseReturnValue:
    sandbox = current_sandbox()
    state = sandbox.state
    data = given.body()
    app = given.app(given.text(data, "app_id", required=True))
    if app.platform != WECOM:
        raise ControlError(400, "licenses are for WeCom apps")
    tenant = given.tenant(app, given.text(data, "tenant_id", required=True))
    userid = given.text(data, "userid", required=True)
    if len(userid) > 64:
        raise ControlError(400, "userid must be at most 64 characters")
    if not tenant.active:
        raise ControlError(409, f"tenant {tenant.tenant_id} has revoked its authorization")
    provider = lic.provider_of(state, app)
    if provider is None:
        raise ControlError(
            409, f"the app's provider {app.provider_corpid!r} is not registered: no license check"
        )
    corpid = tenant.tenant_id
    with state.lock:
        ledger = lic.book(state, provider.corpid)
        now = state.now()
        if lic.licensed(ledger, corpid, userid, now):
            code = lic.member_code(ledger, corpid, userid, lic.BASIC, now)
            return jsonify(outcome="licensed", active_code=code.code if code else None, push=None)
        if now < lic.trial(tenant)[1]:
            return jsonify(outcome="trial", active_code=None, push=None)
        activated = None
        if corpid in ledger.auto_active:
            activated = lic.auto_activate(state, ledger, corpid, userid)
    if activated is None:
        push = events.push_message(
            state, sandbox.pusher, app, tenant, "event", from_user=userid, event="unlicensed_notify"
        )
        return jsonify(outcome="unlicensed", active_code=None, push=push)
    code, previous = activated
    account: list[tuple[str, Any]] = [
        ("ActiveCode", code.code),
        ("Type", code.type),
        ("ExpireTime", code.expire_time),
        ("UserId", userid),
    ]
    if previous is not None:
        account += [("PreviousStatus", PREVIOUS_EXPIRED), ("PreviousActiveCode", previous.code)]
    extra = {"Scene": AUTO_ACTIVATE_SCENE, "AccountList": account}
    push = system_push(sandbox, provider, "auto_activate", corpid, extra)
    return jsonify(outcome="auto_activated", active_code=code.code, push=push)
