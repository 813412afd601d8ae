"""Fault rules: make chosen API calls fail (errcode, HTTP status) or slow (delay), or take a
field out of their answer (drop), on purpose.

A rule names an endpoint (the last path segment, e.g. `get_corp_token`; `*` for all) and
optionally a tenant; it applies to the next `count` matching calls, to a `rate` share of them,
or to every call until the faults are cleared.

A `drop` rule (`"auth_user_info"`, or a dotted path such as `"auth_corp_info.corp_name"`) does
not make the call fail: it removes that key from the next matching SUCCESSFUL answer (no errcode,
or errcode 0), and only successful answers use up its count. Every drop rule that matches applies
to the same answer, so several fields can go at once. It cannot be combined with errcode,
http_status or delay.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass
from typing import Any

_ids = itertools.count(1)
DROP_PATH = re.compile(r"[A-Za-z0-9_]{1,64}(\.[A-Za-z0-9_]{1,64}){0,7}")


@dataclass
class FaultRule:
    endpoint: str
    errcode: int | None = None
    http_status: int | None = None
    delay: float = 0.0
    count: int | None = None  # calls left; None = unlimited
    rate: float | None = None  # probability per matching call; None = always
    tenant_id: str | None = None
    drop: str | None = None  # a (dotted) key to remove from the answer instead of failing
    id: int = 0

    def matches(self, endpoint: str, tenant_id: str | None) -> bool:
        if self.endpoint not in ("*", endpoint):
            return False
        return self.tenant_id is None or self.tenant_id == tenant_id

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "tenant_id": self.tenant_id,
            "errcode": self.errcode,
            "http_status": self.http_status,
            "delay": self.delay,
            "count": self.count,
            "rate": self.rate,
            "drop": self.drop,
        }


def parse_rule(data: Any) -> FaultRule:
    """Build a rule from control-API JSON; ValueError with a one-line reason when it is wrong."""
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    unknown = set(data) - {
        "endpoint",
        "errcode",
        "http_status",
        "delay",
        "count",
        "rate",
        "tenant_id",
        "drop",
    }
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise ValueError("endpoint is required (e.g. get_corp_token, or * for all)")
    rule = FaultRule(endpoint=endpoint, id=next(_ids))
    rule.errcode = _optional_int(data, "errcode", -99999999, 99999999)
    if rule.errcode == 0:
        raise ValueError("errcode 0 is not a fault")
    rule.http_status = _optional_int(data, "http_status", 400, 599)
    rule.count = _optional_int(data, "count", 1, 10**9)
    delay = _optional_number(data, "delay", 0, 60)
    rule.delay = delay or 0.0
    rule.rate = _optional_number(data, "rate", 0, 1)
    tenant_id = data.get("tenant_id")
    if tenant_id is not None and not isinstance(tenant_id, str):
        raise ValueError("tenant_id must be a string")
    rule.tenant_id = tenant_id
    drop = data.get("drop")
    if drop is not None and (not isinstance(drop, str) or not DROP_PATH.fullmatch(drop)):
        raise ValueError("drop must be a key of the answer, dotted for nested keys (a.b)")
    rule.drop = drop
    if drop is not None and (rule.errcode is not None or rule.http_status is not None or delay):
        raise ValueError("drop cannot be combined with errcode, http_status or delay")
    if drop is None and rule.errcode is None and rule.http_status is None and not rule.delay:
        raise ValueError("give at least one of errcode, http_status, delay, drop")
    if rule.errcode is not None and rule.http_status is not None:
        raise ValueError("give errcode or http_status, not both")
    if rule.count is not None and rule.rate is not None:
        raise ValueError("give count or rate, not both")
    return rule


def take_matching(
    rules: list[FaultRule], endpoint: str, tenant_id: str | None, rng: random.Random
) -> FaultRule | None:
    """The first failing or slowing rule that fires for this call, consuming one of its `count`
    (caller holds lock). Drop rules are left for `take_drops`."""
    for rule in list(rules):
        if rule.drop is None and _fires(rules, rule, endpoint, tenant_id, rng):
            return rule
    return None


def take_drops(
    rules: list[FaultRule], endpoint: str, tenant_id: str | None, rng: random.Random
) -> list[str]:
    """The paths every drop rule firing for this successful answer removes (caller holds lock)."""
    return [
        rule.drop
        for rule in list(rules)
        if rule.drop is not None and _fires(rules, rule, endpoint, tenant_id, rng)
    ]


def drop_path(body: dict[str, Any], path: str) -> bool:
    """Remove `a.b.c` from a JSON object; False when it is not there."""
    *parents, last = path.split(".")
    for key in parents:
        body = body.get(key)
        if not isinstance(body, dict):
            return False
    if last not in body:
        return False
    del body[last]
    return True


def _fires(
    rules: list[FaultRule],
    rule: FaultRule,
    endpoint: str,
    tenant_id: str | None,
    rng: random.Random,
) -> bool:
    if not rule.matches(endpoint, tenant_id):
        return False
    if rule.rate is not None and rng.random() >= rule.rate:
        return False
    if rule.count is not None:
        rule.count -= 1
        if rule.count <= 0:
            rules.remove(rule)
    return True


def _optional_int(data: dict, name: str, low: int, high: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number between {low} and {high}")
    return value


def _optional_number(data: dict, name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{name} must be a number between {low} and {high}")
    return float(value)
