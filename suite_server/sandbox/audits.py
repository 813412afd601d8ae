"""Deciding mini-program audits (releases.py) and pushing the outcome like the platform.

An audit falls due `audit_delay` seconds (sandbox clock) after submit_audit. It is then decided by
the rule the control API set for the account (`POST /sandbox/audits/rules`; "pass" without one)
whenever the sandbox next looks: any code-release API call, `POST /sandbox/clock`, the ticker
(about every second while an audit is pending) or right after submit_audit when the delay is 0.
`POST /sandbox/audits/decide` decides an account's pending audit at once.

Each decision goes to the authorizer's message URL (/callback/open/<component>/msg/<authorizer>),
as `MsgType` event with `ToUserName` the account's gh_ id and a system `FromUserName`:

| outcome | Event                 | fields                           | status |
|---------|-----------------------|----------------------------------|--------|
| pass    | `weapp_audit_success` | `SuccTime`                       | 0      |
| fail    | `weapp_audit_fail`    | `Reason`, `FailTime`, `ScreenShot` | 1    |
| delay   | `weapp_audit_delay`   | `Reason`, `DelayTime`            | 4      |

A delayed audit stays pending (85009 for another submit_audit) until decided from the control
API or withdrawn.
"""

from __future__ import annotations

import math
from typing import Any

from suite_server.sandbox import payloads
from suite_server.sandbox import releases as rel
from suite_server.sandbox.pushes import MSG, Pusher, wire_time
from suite_server.sandbox.state import OPEN, SandboxState

OUTCOMES = ("pass", "fail", "delay")
EVENTS = {"pass": "weapp_audit_success", "fail": "weapp_audit_fail", "delay": "weapp_audit_delay"}
STATUS = {"pass": rel.PASSED, "fail": rel.REJECTED, "delay": rel.DELAYED}
DEFAULT_REASON = {
    "fail": "sandbox: the audit found a problem (set by the control API)",
    "delay": "sandbox: the audit needs more time",
}
# The system account audit pushes come from (an openid-like sender, as in the doc's sample).
SYSTEM_SENDER = "o_sandbox_weapp_audit_system"
POLL = 1.0  # how often the ticker looks while an audit is pending


def set_rule(
    state: SandboxState, app_id: str, tenant_ids: list[str] | str, outcome: str, reason: str
) -> dict[str, Any]:
    """What the next audits of these accounts decide; "*" sets every account's (and forgets the
    rules set for single accounts)."""
    with state.lock:
        rules = rel.book(state).rules.setdefault(app_id, {})
        if tenant_ids == "*":
            rules.clear()
            rules["*"] = (outcome, reason)
        else:
            for tenant_id in tenant_ids:
                rules[tenant_id] = (outcome, reason)
        return {key: {"outcome": o, "reason": r} for key, (o, r) in rules.items()}


def _rule(state: SandboxState, app_id: str, tenant_id: str) -> tuple[str, str]:
    rules = rel.book(state).rules.get(app_id, {})
    return rules.get(tenant_id) or rules.get("*") or ("pass", "")


def decide(
    state: SandboxState,
    acct: rel.Account,
    audit: rel.Audit,
    outcome: str | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """Decide `audit` (under the lock); returns what to push: {app_id, tenant_id, plaintext}."""
    with state.lock:
        if outcome is None:
            outcome, reason = _rule(state, acct.app_id, acct.tenant_id)
        reason = reason or DEFAULT_REASON.get(outcome, "")
        at = int(state.now())
        audit.status, audit.decided_at = STATUS[outcome], at
        audit.due_at = math.inf  # a delayed audit waits for the control API
        audit.reason = reason if outcome != "pass" else ""
        if outcome == "fail":
            audit.screenshot = f"sandbox_media_{audit.auditid}_1|sandbox_media_{audit.auditid}_2"
        tenant = state.tenant(acct.app_id, acct.tenant_id)
        gh_id = tenant.user_name if tenant else ""
        extra: dict[str, Any]
        if outcome == "pass":
            extra = {"SuccTime": at}
        elif outcome == "fail":
            extra = {"Reason": reason, "FailTime": at, "ScreenShot": audit.screenshot}
        else:
            extra = {"Reason": reason, "DelayTime": at}
        plaintext = payloads.open_event(gh_id, SYSTEM_SENDER, EVENTS[outcome], wire_time(), extra)
        return {
            "app_id": acct.app_id,
            "tenant_id": acct.tenant_id,
            "plaintext": plaintext,
            "kind": EVENTS[outcome],
        }


def decide_due(state: SandboxState) -> tuple[list[dict[str, Any]], float]:
    """Decide every audit whose time has come; (pushes to send, seconds until the next is due)."""
    with state.lock:
        if state.releases is None:
            return [], math.inf
        now, jobs, wait = state.now(), [], math.inf
        for acct in rel.book(state).accounts.values():
            audit = acct.pending
            if audit is None or audit.status != rel.AUDITING:
                continue
            if audit.due_at <= now:
                jobs.append(decide(state, acct, audit))
            else:
                wait = min(wait, audit.due_at - now)
        return jobs, wait


def send(state: SandboxState, pusher: Pusher, job: dict[str, Any]) -> dict[str, Any] | None:
    """Push one decision to the authorizer's message URL (None when it cannot be)."""
    app = state.app(job["app_id"], OPEN)
    tenant = state.tenant(job["app_id"], job["tenant_id"])
    if app is None or tenant is None or not tenant.active:
        return None  # no push for a component gone or an account that revoked it
    return pusher.deliver(app, job["kind"], MSG, job["plaintext"], tenant)


def settle(state: SandboxState, pusher: Pusher) -> float:
    """Decide what is due now and push it in the background; seconds the ticker may sleep."""
    jobs, wait = decide_due(state)
    for job in jobs:
        pusher.deliver_later(lambda job=job: send(state, pusher, job))
    return POLL if math.isfinite(wait) else math.inf


def settle_later(state: SandboxState, pusher: Pusher) -> None:
    """settle() from a background thread: submit_audit with audit_delay 0 answers first."""
    pusher.deliver_later(lambda: settle(state, pusher))
