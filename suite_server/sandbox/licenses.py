"""The license book of each WeCom provider (接口许可, isv-capabilities.md §4): orders for license
accounts, the account codes a paid order creates, which member each code is bound to, each
corp's auto-activation switch, and the rule that refuses an unlicensed member once the app's
90-day trial is over. The routes are in `license_api.py` (the provider API) and
`license_control.py` (paying, refunding, a member opening the app).

Rules, as the platform states them or, marked "sandbox", as the sandbox chooses where the docs
are silent:
* an order (order_type 1, 购买账号) starts unpaid (order_status 0); paying it (a control action)
  creates one code per account bought, type 1 basic or 2 external contact (互通); only an
  unpaid order can be cancelled (status 2); a refund voids its codes (status 5);
* a bought month is 31 days (PowerWeChat `license/model/order.go`); a code counts its time from
  the moment it is bound to a member (active_time, expire_time);
* a code status is 1 unbound, 2 bound and valid, 3 expired, 5 merged (PowerWeChat
  `license/model/active.go`); binding a new code to a member whose code of that type expired
  merges the old one into it;
* sandbox: a code must be bound within ACTIVATE_WITHIN of its order's payment (701012 after);
  a member holds one valid code of each type (701011 for a second);
* the trial (trail_info) is 90 days from the corp's FIRST install of the app (doc/97194); after
  it, member-scoped APIs refuse a member without a valid basic code with 701016.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from suite_server.sandbox.errors import ApiError
from suite_server.sandbox.state import WECOM, App, Provider, SandboxState, Tenant

TRIAL = 90 * 86400  # doc/97194: the license trial lasts 90 days from the first install
MONTH = 31 * 86400  # a bought month counts 31 days
ACTIVATE_WITHIN = 365 * 86400  # sandbox: how long after payment a code can still be bound
MAX_ACCOUNTS = 10_000  # sandbox: accounts per order (WeCom sells up to 1,000,000)
MAX_MONTHS = 60
# The sandbox's price list, in fen per account per 12 months (not WeCom's prices).
PRICE_PER_YEAR = {1: 5000, 2: 10000}
BASIC, EXTERNAL = 1, 2
UNPAID, PAID, CANCELLED, REFUNDED, REFUND_REFUSED = 0, 1, 2, 5, 6
UNBOUND, BOUND, EXPIRED, MERGED = 1, 2, 3, 5
REFUSED_MEMBER = 701016  # "帐号未激活或者已经过期": the member has no valid account
ERRMSGS = {
    701002: "invalid license account",
    701003: "active_code already bound",
    701005: "invalid license order",
    701011: "userid already bound",
    701012: "active_code has passed its binding period",
    701015: "corp has no third-party or customized authorization, order not allowed",
    701016: "account not activated or expired",
    701019: "invalid userid or another corp's",
}


def refuse(errcode: int) -> ApiError:
    return ApiError(errcode, ERRMSGS[errcode])


@dataclass
class LicenseOrder:
    order_id: str
    corpid: str
    buyer_userid: str
    base_count: int
    external_count: int
    months: int
    days: int
    price: int
    create_time: int
    order_type: int = 1  # 1 购买账号
    status: int = UNPAID
    pay_time: int | None = None

    @property
    def duration(self) -> int:
        return self.months * MONTH + self.days * 86400

    def public(self) -> dict[str, Any]:
        """As get_order's `order` (doc/95648)."""
        duration: dict[str, int] = {"months": self.months}
        if self.days:
            duration["days"] = self.days
        order: dict[str, Any] = {
            "order_id": self.order_id,
            "order_type": self.order_type,
            "order_status": self.status,
            "corpid": self.corpid,
            "price": self.price,
            "account_count": {
                "base_count": self.base_count,
                "external_contact_count": self.external_count,
            },
            "account_duration": duration,
            "create_time": self.create_time,
        }
        if self.pay_time is not None:
            order["pay_time"] = self.pay_time
        return order


@dataclass
class ActiveCode:
    code: str
    order_id: str
    corpid: str
    type: int
    create_time: int
    duration: int
    userid: str = ""
    active_time: int | None = None
    expire_time: int | None = None
    merged_to: str = ""
    merged_from: str = ""
    void: bool = False  # its order was refunded

    def status(self, now: float) -> int:
        if self.merged_to:
            return MERGED
        if not self.userid:
            return UNBOUND
        return EXPIRED if self.expire_time is not None and now >= self.expire_time else BOUND

    def public(self, now: float) -> dict[str, Any]:
        """As get_active_info_by_code's `active_info` (doc/95553)."""
        info: dict[str, Any] = {
            "active_code": self.code,
            "type": self.type,
            "status": self.status(now),
            "create_time": self.create_time,
        }
        if self.userid:  # active_time and expire_time only once bound
            info.update(
                userid=self.userid, active_time=self.active_time, expire_time=self.expire_time
            )
        merge = {"to_active_code": self.merged_to, "from_active_code": self.merged_from}
        if any(merge.values()):
            info["merge_info"] = {k: v for k, v in merge.items() if v}
        return info


@dataclass
class LicenseBook:
    """One provider's orders and codes, and the corps with auto-activation on."""

    provider_corpid: str
    orders: dict[str, LicenseOrder] = field(default_factory=dict)
    codes: dict[str, ActiveCode] = field(default_factory=dict)
    auto_active: set[str] = field(default_factory=set)

    def public(self, now: float) -> dict[str, Any]:
        return {
            "provider_corpid": self.provider_corpid,
            "orders": [o.public() for o in self.orders.values()],
            "codes": [
                {**c.public(now), "order_id": c.order_id, "corpid": c.corpid, "void": c.void}
                for c in self.codes.values()
            ],
            "auto_active_corpids": sorted(self.auto_active),
        }

    def codes_of(self, corpid: str) -> list[ActiveCode]:
        return [c for c in self.codes.values() if c.corpid == corpid]


def book(state: SandboxState, provider_corpid: str) -> LicenseBook:
    """The provider's book (made on first use)."""
    with state.lock:
        found = state.license_books.get(provider_corpid)
        if found is None:
            found = state.license_books[provider_corpid] = LicenseBook(provider_corpid)
        return found


def provider_of(state: SandboxState, app: App) -> Provider | None:
    """The registered provider an app belongs to: only those apps are license-checked."""
    return state.provider(app.provider_corpid) if app.provider_corpid else None


def authorized(state: SandboxState, provider: Provider, corpid: str) -> bool:
    """Has the corp an active authorization of any of the provider's WeCom apps?"""
    with state.lock:
        return any(
            t.active
            for (app_id, tenant_id), t in state.tenants.items()
            if tenant_id == corpid
            and state.apps.get(app_id) is not None
            and state.apps[app_id].platform == WECOM
            and state.apps[app_id].provider_corpid == provider.corpid
        )


# --- orders -------------------------------------------------------------------------------------


def create_order(
    state: SandboxState,
    provider: Provider,
    corpid: str,
    buyer_userid: str,
    counts: tuple[int, int],
    months: int,
    days: int = 0,
) -> LicenseOrder:
    """create_new_order: 701015 unless the corp authorized one of the provider's apps."""
    if not authorized(state, provider, corpid):
        raise refuse(701015)
    base, external = counts
    price = sum(n * PRICE_PER_YEAR[t] for t, n in ((BASIC, base), (EXTERNAL, external)))
    order = LicenseOrder(
        order_id="OI" + secrets.token_hex(15).upper(),
        corpid=corpid,
        buyer_userid=buyer_userid,
        base_count=base,
        external_count=external,
        months=months,
        days=days,
        price=round(price * (months * MONTH + days * 86400) / (365 * 86400)),
        create_time=int(state.now()),
    )
    with state.lock:
        book(state, provider.corpid).orders[order.order_id] = order
    return order


def pay(state: SandboxState, ledger: LicenseBook, order: LicenseOrder) -> list[ActiveCode]:
    """The buyer pays: the order's codes are created, unbound (caller checked it is unpaid)."""
    with state.lock:
        now = int(state.now())
        order.status, order.pay_time = PAID, now
        created = []
        for kind, count in ((BASIC, order.base_count), (EXTERNAL, order.external_count)):
            for _ in range(count):
                code = ActiveCode(
                    code="LC" + secrets.token_hex(16).upper(),
                    order_id=order.order_id,
                    corpid=order.corpid,
                    type=kind,
                    create_time=now,
                    duration=order.duration,
                )
                ledger.codes[code.code] = code
                created.append(code)
        return created


def refund(state: SandboxState, ledger: LicenseBook, order: LicenseOrder, accept: bool) -> None:
    """The refund is granted (status 5, its codes void) or refused (status 6, nothing changes)."""
    with state.lock:
        order.status = REFUNDED if accept else REFUND_REFUSED
        if accept:
            for code in ledger.codes.values():
                if code.order_id == order.order_id:
                    code.void = True


def bound_codes(ledger: LicenseBook, order_id: str) -> list[ActiveCode]:
    return [c for c in ledger.codes.values() if c.order_id == order_id and c.userid]


# --- codes and members --------------------------------------------------------------------------


def find_code(ledger: LicenseBook, corpid: str, value: str) -> ActiveCode:
    """A code of this corp: 701002 unknown or voided, 701019 another corp's."""
    code = ledger.codes.get(value)
    if code is None or code.void:
        raise refuse(701002)
    if code.corpid != corpid:
        raise refuse(701019)
    return code


def activate(state: SandboxState, ledger: LicenseBook, corpid: str, value: str, userid: str) -> int:
    """Bind a code to a member; 0 or the errcode that refuses it (see the module docstring)."""
    with state.lock:
        now = state.now()
        try:
            code = find_code(ledger, corpid, value)
        except ApiError as refused:
            return refused.errcode
        if code.status(now) != UNBOUND:
            return 701003
        if now >= code.create_time + ACTIVATE_WITHIN:
            return 701012
        held = member_code(ledger, corpid, userid, code.type, now)
        if held is not None and held.status(now) == BOUND:
            return 701011
        bind(code, userid, now, held)
        return 0


def bind(code: ActiveCode, userid: str, now: float, previous: ActiveCode | None) -> None:
    """Bind `code`; an expired `previous` of the member's is merged into it."""
    code.userid = userid
    code.active_time = int(now)
    code.expire_time = int(now) + code.duration
    if previous is not None:
        previous.merged_to = code.code
        code.merged_from = previous.code


def member_code(
    ledger: LicenseBook, corpid: str, userid: str, kind: int, now: float
) -> ActiveCode | None:
    """The member's current code of that type (the valid one, else the latest expired)."""
    held = [
        c
        for c in ledger.codes_of(corpid)
        if c.userid == userid and c.type == kind and not c.void and not c.merged_to
    ]
    held.sort(key=lambda c: (c.status(now) == BOUND, c.expire_time or 0))
    return held[-1] if held else None


def member_codes(ledger: LicenseBook, corpid: str, userid: str) -> list[ActiveCode]:
    return [
        c for c in ledger.codes_of(corpid) if c.userid == userid and not c.void and not c.merged_to
    ]


def licensed(ledger: LicenseBook, corpid: str, userid: str, now: float) -> bool:
    code = member_code(ledger, corpid, userid, BASIC, now)
    return code is not None and code.status(now) == BOUND


def auto_activate(
    state: SandboxState, ledger: LicenseBook, corpid: str, userid: str
) -> tuple[ActiveCode, ActiveCode | None] | None:
    """Bind the corp's oldest free basic code to the member (auto-activation, doc/95873):
    (code, the member's expired code it replaced) or None when no code is free."""
    with state.lock:
        now = state.now()
        free = [
            c
            for c in ledger.codes_of(corpid)
            if c.type == BASIC
            and not c.void
            and c.status(now) == UNBOUND
            and now < c.create_time + ACTIVATE_WITHIN
        ]
        if not free:
            return None
        code = min(free, key=lambda c: c.create_time)
        previous = member_code(ledger, corpid, userid, BASIC, now)
        bind(code, userid, now, previous)
        return code, previous


# --- the trial and the check --------------------------------------------------------------------


def trial(tenant: Tenant) -> tuple[int, int]:
    """(start, end) of the corp's license trial of this app: 90 days from its first install."""
    start = int(tenant.first_authorized_at)
    return start, start + TRIAL


def app_license_info(tenant: Tenant) -> dict[str, Any]:
    """get_app_license_info (doc/97194): the check is on (license_status 1) and starts when the
    trial ends, which is also license_check_time."""
    start, end = trial(tenant)
    return {
        "license_status": 1,
        "trail_info": {"start_time": start, "end_time": end},  # sic: `trail`, as documented
        "license_check_time": end,
    }


def check_member(state: SandboxState, tenant: Tenant, userid: str) -> None:
    """Refuse a member-scoped call about `userid` (701016) when the app's provider is known to
    the sandbox, the trial is over and the member has no valid basic account."""
    with state.lock:
        app = state.apps.get(tenant.app_id)
        provider = provider_of(state, app) if app is not None else None
        if provider is None or not userid:
            return
        now = state.now()
        if now < trial(tenant)[1]:
            return
        if not licensed(book(state, provider.corpid), tenant.tenant_id, userid, now):
            raise refuse(REFUSED_MEMBER)


def page(items: list, cursor: str, limit: int) -> tuple[list, str, int]:
    """(this page, next_cursor, has_more) of a list, the cursor being an offset."""
    start = int(cursor) if cursor.isdigit() else 0
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return chunk, str(start + limit) if more else "", int(more)
