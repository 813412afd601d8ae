"""The sandbox's knobs: lifetimes, push behaviour and modes, each with the platform's default."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class SandboxSettings:
    """Every setting with the value the real platforms use (see the doc section beside each)."""

    # App tokens and tenant tokens live 7200 s (wecom-suite.md §4, open-platform.md §8).
    token_ttl: float = 7200
    # open-platform.md §4.1/§4.5: a new Open token leaves the previous one valid for 300 s.
    open_token_grace: float = 300
    # wecom-suite.md §3: a suite_ticket is really valid 30 min; open-platform.md §1: 12 h.
    wecom_ticket_ttl: float = 1800
    open_ticket_ttl: float = 43200
    # wecom-suite.md §3 auth_code 10 min; open-platform.md §8 auth code about 3600 s.
    wecom_auth_code_ttl: float = 600
    open_auth_code_ttl: float = 3600
    # wecom-suite.md §4 pre_auth_code 1200 s; open-platform.md §4.2: 600 s.
    wecom_pre_auth_code_ttl: float = 1200
    open_pre_auth_code_ttl: float = 600
    # open-platform.md §4.5: the refresh token does not rotate in practice; strict mode rotates it
    # on every api_authorizer_token call and kills the old one at once (the worst case).
    strict_refresh: bool = False
    # wecom-suite.md §3 / open-platform.md §1: a ticket is pushed every 10 minutes...
    ticket_interval: float = 600
    # ...nominally: the gaps observed are 7-14 minutes (wecom-suite.md §3), so each gap is drawn
    # from 0.7-1.4 x ticket_interval; false pushes at exactly ticket_interval.
    ticket_jitter: bool = True
    # open-platform.md §1 [obs]: the same Open ticket is pushed again now and then (for about an
    # hour): the chance that a scheduled Open ticket push repeats the previous value.
    open_ticket_repeat: float = 0.2
    # wecom-suite.md §1: no answer within 5 s counts as a failure, 3 attempts in total...
    push_timeout: float = 5.0
    push_attempts: int = 3
    # ...but create_auth, change_auth, cancel_auth and reset_permanent_code must be answered
    # within 1000 ms (doc/90642, doc/97175).
    auth_push_timeout: float = 1.0
    # isv-capabilities.md §8: how long a corp's trial edition of a paid app lasts from its first
    # install. The ISV sets it in its console; 15 days here (orders.py).
    edition_trial: float = 15 * 86400
    # isv-capabilities.md §12 (releases.py): seconds on the sandbox clock from submit_audit to
    # the audit's decision (0: at once, in the background); the real review takes hours to days.
    audit_delay: float = 0
    # ...and how many audits a component may submit a calendar month, shared by all its accounts
    # (queryquota's `limit`; the platform sets it per ISV, 85085 beyond it).
    audit_quota: int = 20
    # The platforms answer a server in mainland China in 50-200 ms; the sandbox answers at once
    # unless told: every platform API call (not the control API) then waits `latency` seconds
    # plus a uniform draw from 0-`latency_jitter`, concurrently with the others (the server is
    # threaded). One endpoint slower than the rest: a fault rule with a `delay` and no count.
    latency: float = 0
    latency_jitter: float = 0

    def update(self, changes: dict[str, Any]) -> None:
        """Apply `changes` once every key and value checks out; ValueError names a bad one."""
        checked = {name: _check(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> SandboxSettings:
        settings = cls()
        settings.update(values or {})
        return settings


_MINIMUMS = {
    "ticket_interval": 1,
    "push_attempts": 1,
    "open_token_grace": 0,
    "open_ticket_repeat": 0,
    "audit_delay": 0,
    "audit_quota": 0,
    "latency": 0,
    "latency_jitter": 0,
}
_MAXIMUMS = {"open_ticket_repeat": 1, "latency": 60, "latency_jitter": 60}
_INTEGERS = {"push_attempts", "audit_quota"}


def _check(name: str, value: Any) -> Any:
    known = {f.name: f for f in fields(SandboxSettings)}
    if name not in known:
        raise ValueError(f"unknown setting {name!r}")
    if known[name].type == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number")
    if name in _INTEGERS and value != int(value):
        raise ValueError(f"{name} must be a whole number")
    minimum, maximum = _MINIMUMS.get(name, 0.001), _MAXIMUMS.get(name, 10**9)
    if value < minimum or value > maximum:
        shown = "1e9" if maximum == 10**9 else maximum
        raise ValueError(f"{name} must be between {minimum} and {shown}")
    return int(value) if name in _INTEGERS else value
