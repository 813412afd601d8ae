"""Fault rules: make chosen API calls fail (errcode, HTTP status) or slow (delay), on purpose.

A rule names an endpoint (the last path segment, e.g. `get_corp_token`; `*` for all) and
optionally a tenant; it applies to the next `count` matching calls, to a `rate` share of them,
or to every call until the faults are cleared.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

_ids = itertools.count(1)


@dataclass
class FaultRule:
    endpoint: str
    errcode: int | None = None
    http_status: int | None = None
    delay: float = 0.0
    count: int | None = None  # calls left; None = unlimited
    rate: float | None = None  # probability per matching call; None = always
    tenant_id: str | None = None
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
    if rule.errcode is None and rule.http_status is None and not rule.delay:
        raise ValueError("give at least one of errcode, http_status, delay")
    if rule.errcode is not None and rule.http_status is not None:
        raise ValueError("give errcode or http_status, not both")
    if rule.count is not None and rule.rate is not None:
        raise ValueError("give count or rate, not both")
    return rule


def take_matching(
    rules: list[FaultRule], endpoint: str, tenant_id: str | None, rng: random.Random
) -> FaultRule | None:
    """The first rule that fires for this call, consuming one of its `count` (caller holds lock)."""
    for rule in list(rules):
        if not rule.matches(endpoint, tenant_id):
            continue
        if rule.rate is not None and rng.random() >= rule.rate:
            continue
        if rule.count is not None:
            rule.count -= 1
            if rule.count <= 0:
                rules.remove(rule)
        return rule
    return None


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
