"""The Open Platform's API quotas and request ids (isv-capabilities.md §14), as the sandbox keeps
them; the routes are in `quota_api.py`.

* Every call made with an account's token (an authorizer's, or the component's own) is charged
  to that account's daily count for its path. A path with a daily limit (set from the control
  API; none by default, so nothing else is ever refused) answers 45009 once the day's count is
  past it. Days end at midnight in Beijing (UTC+8) on the sandbox clock, as the platform's do.
* `clear_quota` sets an account's counts of the day back to 0, at most CLEARS_A_MONTH times a
  calendar month (Beijing); past that, 48006.
* Each error answer of an Open Platform API names a request id (`... rid: <rid>`): the request
  is kept under it for RID_DAYS (at most RIDS_KEPT of them), so `openapi/rid/get` finds it for
  the account that made it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from flask import Response, g, jsonify, request

from suite_server.sandbox.errors import ApiError, error_body
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import SandboxState

CLEARS_A_MONTH = 10
RID_DAYS = 7
RIDS_KEPT = 1000
BEIJING = 8 * 3600
OVER_QUOTA, NO_CLEARS_LEFT = 45009, 48006
# Calls that manage the quota are not charged against it.
FREE = ("quota_get", "clear_quota", "clear_quota_v2", "rid_get")


@dataclass
class Rid:
    account: str
    invoke_time: int
    cost_in_ms: int
    request_url: str
    request_body: str
    response_body: str
    client_ip: str

    def public(self) -> dict[str, Any]:
        return {
            "invoke_time": self.invoke_time,
            "cost_in_ms": self.cost_in_ms,
            "request_url": self.request_url,
            "request_body": self.request_body,
            "response_body": self.response_body,
            "client_ip": self.client_ip,
        }


@dataclass
class QuotaBook:
    limits: dict[tuple[str, str], int] = field(default_factory=dict)  # (account, path)
    used: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (account, path, day)
    clears: dict[tuple[str, str], int] = field(default_factory=dict)  # (account, month)
    rids: OrderedDict[str, Rid] = field(default_factory=OrderedDict)

    def count(self, account: str, path: str, now: float) -> int:
        return self.used.get((account, path, day(now)), 0)

    def clears_left(self, account: str, now: float) -> int:
        return CLEARS_A_MONTH - self.clears.get((account, month(now)), 0)


def book(state: SandboxState) -> QuotaBook:
    """The sandbox's quota book (callers hold the state lock)."""
    if state.quota is None:
        state.quota = QuotaBook()
    return state.quota


def day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now + BEIJING))


def month(now: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(now + BEIJING))


def account_of_token(state: SandboxState, value: str | None) -> str | None:
    """The account (authorizer appid, or the component's own) a live Open token belongs to."""
    if not value:
        return None
    with state.lock:
        token = state.tokens.owner_of(value)
        if token is None or token.expires_at <= state.now():
            return None
        if token.kind == "authorizer":
            return token.tenant_id
        return token.app_id if token.kind == "component" else None


def charge(endpoint: str) -> Response | None:
    """Before an Open Platform call: charge it to its account's count for the path; 45009 once
    that count is past the path's daily limit."""
    g.sandbox_started = time.monotonic()
    if endpoint in FREE:
        return None
    state = current_sandbox().state
    value = request.args.get("access_token") or request.args.get("component_access_token")
    account = account_of_token(state, value)
    if account is None:
        return None
    with state.lock:
        quotas, now = book(state), state.now()
        limit = quotas.limits.get((account, request.path))
        key = (account, request.path, day(now))
        quotas.used[key] = quotas.used.get(key, 0) + 1
        if limit is None or quotas.used[key] <= limit:
            return None
    return jsonify(error_body("open", OVER_QUOTA, "reach max api daily quota limit"))


def clear(state: SandboxState, account: str) -> None:
    """clear_quota for `account`: its counts of the day back to 0, one of its clears used (48006
    when none is left this month). Callers hold the state lock."""
    quotas, now = book(state), state.now()
    if quotas.clears_left(account, now) <= 0:
        raise ApiError(NO_CLEARS_LEFT, "forbid to clear quota because of reaching the limit")
    quotas.clears[(account, month(now))] = quotas.clears.get((account, month(now)), 0) + 1
    today = day(now)
    for key in [k for k in quotas.used if k[0] == account and k[2] == today]:
        del quotas.used[key]


def keep_rid(response: Response) -> Response:
    """After an Open Platform call: an error answer's request is kept under its rid."""
    if not response.is_json:
        return response
    body = response.get_json(silent=True)
    if not isinstance(body, dict) or body.get("errcode", 0) == 0:
        return response
    errmsg = str(body.get("errmsg", ""))
    if " rid: " not in errmsg:
        return response
    rid = errmsg.rsplit(" rid: ", 1)[1].strip()
    state = current_sandbox().state
    value = request.args.get("access_token") or request.args.get("component_access_token")
    started = g.get("sandbox_started", time.monotonic())
    query = "&".join(f"{k}={v}" for k, v in request.args.items() if not k.endswith("access_token"))
    with state.lock:
        record = Rid(
            account=account_of_token(state, value) or "",
            invoke_time=int(state.now()),
            cost_in_ms=int((time.monotonic() - started) * 1000),
            request_url=request.path + (f"?{query}" if query else ""),
            request_body=request.get_data(as_text=True)[:4096],
            response_body=response.get_data(as_text=True)[:4096],
            client_ip=request.remote_addr or "",
        )
        rids = book(state).rids
        rids[rid] = record
        while len(rids) > RIDS_KEPT:
            rids.popitem(last=False)
    return response


def find_rid(state: SandboxState, rid: str, account: str) -> Rid:
    """openapi/rid/get: 76002 empty or malformed, 76001 unknown, 76003 another account's, 76004
    older than RID_DAYS. Callers hold the state lock."""
    if not rid or not rid.replace("-", "").isalnum() or len(rid) > 64:
        raise ApiError(76002, "rid is empty or invalid")
    record = book(state).rids.get(rid)
    if record is None:
        raise ApiError(76001, "rid not found")
    if record.account != account:
        raise ApiError(76003, "rid does not belong to this account")
    if state.now() - record.invoke_time > RID_DAYS * 86400:
        raise ApiError(76004, "rid has expired")
    return record
