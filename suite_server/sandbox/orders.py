"""Paid-app orders and each corp's edition (应用付费, isv-capabilities.md §8): the rules. The
platform API (get_order, get_order_list) is in `order_api.py`, the control actions and the
pushes they send in `order_control.py`.

* Every corp that installs a WeCom third-party suite (not a 代开发 template) starts on the
  suite's trial edition (app_status 1) for the `edition_trial` setting (15 days; the ISV sets it
  in its console), counted from its FIRST install.
* An order starts unpaid (order_status 0). Paying it (1) moves the corp onto the order's edition
  (app_status 3, user_limit = user_count, expired_time = end_time); a renewal of the edition
  the corp holds begins when the current period ends. Changing an unpaid order closes it (2)
  and opens its replacement; refunding a paid one (5) puts the corp back on the edition it had
  before paying.
* Time moves editions on: a trial past expired_time reads app_status 2, a paid edition 4
  (doc/91911 app_status 0..7; 5-7, unlimited trial and seat overruns, are not simulated).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

from suite_server.sandbox.state import WECOM, App, SandboxState, Tenant, is_template

TRIAL_EDITION = ("sandbox_trial", "试用版")
STANDARD_EDITION = ("sandbox_standard", "标准版")
# app_status (doc/91911)
TRIAL, TRIAL_EXPIRED, PAID, PAID_EXPIRED = 1, 2, 3, 4
# order_status (WxJava WxCpTpOrderDetails): 0 unpaid, 1 paid, 2 closed, 5 refunded
UNPAID, PAID_ORDER, CLOSED, REFUNDED = 0, 1, 2, 5
ORDER_TYPES = (0, 1, 2, 3)  # normal, more seats, renewal, edition change
ORDER_FROM = (0, 1, 2)  # the customer, the provider for it, a dealer
DAY = 86400


@dataclass
class Edition:
    edition_id: str
    edition_name: str
    status: int  # TRIAL or PAID; expiry turns them into TRIAL_EXPIRED / PAID_EXPIRED when read
    user_limit: int
    expired_time: int
    expiry_pushed: bool = False  # change_editon has been pushed for its expiry

    def app_status(self, now: float) -> int:
        if now >= self.expired_time:
            return {TRIAL: TRIAL_EXPIRED, PAID: PAID_EXPIRED}.get(self.status, self.status)
        return self.status

    def agent(self, agentid: int, now: float) -> dict[str, Any]:
        """One `edition_info.agent[]` entry (doc/91911)."""
        return {
            "agentid": agentid,
            "edition_id": self.edition_id,
            "edition_name": self.edition_name,
            "app_status": self.app_status(now),
            "user_limit": self.user_limit,
            "expired_time": self.expired_time,
            "is_virtual_version": False,
            "is_shared_from_other_corp": False,
        }


@dataclass
class AppOrder:
    orderid: str
    suite_id: str
    corpid: str
    provider_corpid: str
    edition_id: str
    edition_name: str
    user_count: int
    order_period: int  # days
    price: int  # fen
    order_type: int
    order_from: int
    operator_id: str
    order_time: int
    status: int = UNPAID
    paid_time: int = 0
    begin_time: int = 0
    end_time: int = 0
    before: Edition | None = None  # the corp's edition when it paid, for a refund

    def public(self) -> dict[str, Any]:
        """As get_order answers it (WxJava WxCpTpOrderDetails). No `appid`: only the old
        multi-app suites have one. The provider keeps the whole price in the sandbox."""
        answer: dict[str, Any] = {
            "orderid": self.orderid,
            "order_status": self.status,
            "order_type": self.order_type,
            "paid_corpid": self.corpid,
            "suiteid": self.suite_id,
            "edition_id": self.edition_id,
            "edition_name": self.edition_name,
            "price": self.price,
            "user_count": self.user_count,
            "order_period": self.order_period,
            "order_time": self.order_time,
            "paid_time": self.paid_time,
            "begin_time": self.begin_time,
            "end_time": self.end_time,
            "order_from": self.order_from,
            "operator_corpid": self.provider_corpid if self.order_from == 1 else self.corpid,
            "service_share_amount": self.price,
            "platform_share_amount": 0,
            "dealer_share_amount": 0,
        }
        if self.operator_id:  # an order the provider placed has none
            answer["operator_id"] = self.operator_id
        return answer


def is_paid_app(app: App) -> bool:
    """Apps sold in the app market: WeCom suites, not 代开发 templates."""
    return app.platform == WECOM and not is_template(app)


def edition(state: SandboxState, app: App, tenant: Tenant) -> Edition:
    """The corp's edition of the suite; the trial one until an order is paid."""
    with state.lock:
        key = (app.app_id, tenant.tenant_id)
        found = state.editions.get(key)
        if found is None:
            start = int(tenant.first_authorized_at)
            found = state.editions[key] = Edition(
                *TRIAL_EDITION, TRIAL, 0, start + int(state.settings.edition_trial)
            )
        return found


def edition_info(state: SandboxState, app: App, tenant: Tenant) -> dict[str, Any] | None:
    """get_permanent_code's and get_auth_info's `edition_info`, or None for a template."""
    if not is_paid_app(app):
        return None
    with state.lock:
        return {"agent": [edition(state, app, tenant).agent(tenant.agent_id, state.now())]}


def open_order(
    state: SandboxState,
    app: App,
    tenant: Tenant,
    edition_id: str,
    edition_name: str,
    user_count: int,
    order_period: int,
    price: int | None = None,
    order_type: int = 0,
    order_from: int = 0,
    operator_id: str = "",
) -> AppOrder:
    with state.lock:
        order = AppOrder(
            orderid="N" + secrets.token_hex(12).upper(),
            suite_id=app.app_id,
            corpid=tenant.tenant_id,
            provider_corpid=app.provider_corpid,
            edition_id=edition_id,
            edition_name=edition_name,
            user_count=user_count,
            order_period=order_period,
            price=default_price(user_count, order_period) if price is None else price,
            order_type=order_type,
            order_from=order_from,
            # An order the provider places for the corp (order_from 1) has no operator.
            operator_id=operator_id or ("" if order_from == 1 else tenant.installer),
            order_time=int(state.now()),
        )
        state.app_orders[order.orderid] = order
        return order


def default_price(user_count: int, order_period: int) -> int:
    """The sandbox's price: 100 yuan a member a year, in fen."""
    return round(user_count * 10000 * order_period / 365)


def change(state: SandboxState, order: AppOrder, changes: dict[str, Any]) -> AppOrder:
    """The customer changes an unpaid order: it is closed and a new one replaces it."""
    with state.lock:
        order.status = CLOSED
        if "price" not in changes and {"user_count", "order_period"} & set(changes):
            merged = {"user_count": order.user_count, "order_period": order.order_period}
            merged.update(changes)
            changes = {**changes, "price": default_price(**merged)}
        new = replace(
            order,
            orderid="N" + secrets.token_hex(12).upper(),
            order_time=int(state.now()),
            status=UNPAID,
            **changes,
        )
        state.app_orders[new.orderid] = new
        return new


def pay(state: SandboxState, app: App, tenant: Tenant, order: AppOrder) -> Edition:
    """The customer pays: the corp moves onto the order's edition for its period."""
    with state.lock:
        now = int(state.now())
        current = edition(state, app, tenant)
        begin = now
        renewing = current.edition_id == order.edition_id and current.status == PAID
        if renewing and current.app_status(now) == PAID:
            begin = current.expired_time  # the new period follows the one running
        order.status, order.paid_time = PAID_ORDER, now
        order.begin_time, order.end_time = begin, begin + order.order_period * DAY
        order.before = replace(current)
        paid = Edition(order.edition_id, order.edition_name, PAID, order.user_count, order.end_time)
        state.editions[(app.app_id, tenant.tenant_id)] = paid
        return paid


def refund(state: SandboxState, app: App, tenant: Tenant, order: AppOrder) -> Edition:
    """The order is refunded: the corp goes back to the edition it had before paying."""
    with state.lock:
        order.status = REFUNDED
        restored = replace(order.before) if order.before else edition(state, app, tenant)
        state.editions[(app.app_id, tenant.tenant_id)] = restored
        return restored


def newly_expired(state: SandboxState) -> list[tuple[App, Tenant]]:
    """The (suite, corp) pairs whose edition has expired since the last call, each once: the
    platform tells the suite with change_editon (doc/91933 lists expiry among its triggers)."""
    with state.lock:
        now = state.now()
        found = []
        for (app_id, corpid), held in state.editions.items():
            if held.expiry_pushed or held.app_status(now) not in (TRIAL_EXPIRED, PAID_EXPIRED):
                continue
            app, tenant = state.apps.get(app_id), state.tenants.get((app_id, corpid))
            held.expiry_pushed = True
            if app is not None and tenant is not None and tenant.active:
                found.append((app, tenant))
        return found
