"""Mini-program code releases on the Open Platform (isv-capabilities.md §12), per authorizer
account: the version machine

    commit -> trial (体验版) -> submit_audit -> auditing (2) -> passed (0) | rejected (1)
    | delayed (4) | withdrawn (3) -> release -> online (the previous online kept for one revert),
    with grayrelease putting the passed version online for a percentage of users first.

The template store is in release_templates.py, audit decisions and their weapp_audit_* pushes
in audits.py. Functions raise ApiError with the platform's errcodes (checked against the public
SDKs' error tables; docs/sandbox.md lists each) and return plain dicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from suite_server.sandbox.errors import ApiError
from suite_server.sandbox.state import SandboxState, Tenant

OK = {"errcode": 0, "errmsg": "ok"}
# Audit statuses as get_auditstatus reports them.
PASSED, REJECTED, AUDITING, WITHDRAWN, DELAYED = 0, 1, 2, 3, 4
PENDING = (AUDITING, DELAYED)
MAX_VERSION = 64  # commit: user_version "不要超过 64 个字符"
WITHDRAW_DAY, WITHDRAW_MONTH = 5, 10  # undocodeaudit: 87013 beyond these
DAY = 86400.0


@dataclass
class Version:
    """Code committed to one account: what a template and an ext_json made."""

    template_id: int
    user_version: str
    user_desc: str
    ext_json: str
    commit_time: int


@dataclass
class Audit:
    auditid: int
    version: Version
    submit_audit_time: int
    due_at: float  # sandbox clock; decided when it is reached (audits.py)
    status: int = AUDITING
    reason: str = ""
    screenshot: str = ""
    decided_at: int | None = None
    item_list: list = field(default_factory=list)
    version_desc: str = ""


@dataclass
class Gray:
    version: Version
    gray_percentage: int
    create_timestamp: int
    status: int = 1  # the plan's status: 1 running, 3 done, 4 removed


@dataclass
class Account:
    """One mini program's code state under one component."""

    app_id: str
    tenant_id: str
    trial: Version | None = None
    audits: list[Audit] = field(default_factory=list)
    online: Version | None = None
    previous: Version | None = None  # what revertcoderelease goes back to (one step)
    released_at: int | None = None
    gray: Gray | None = None
    withdrawals: list[float] = field(default_factory=list)

    @property
    def latest(self) -> Audit | None:
        return self.audits[-1] if self.audits else None

    @property
    def pending(self) -> Audit | None:
        latest = self.latest
        return latest if latest is not None and latest.status in PENDING else None

    @property
    def passed(self) -> Audit | None:
        """The latest audit when it passed and its version is not online yet."""
        latest = self.latest
        if latest is None or latest.status != PASSED or latest.version is self.online:
            return None
        return latest


@dataclass
class Book:
    """Everything releases know, kept in SandboxState.releases."""

    drafts: dict[str, dict[int, Any]] = field(default_factory=dict)  # by component
    templates: dict[str, dict[int, Any]] = field(default_factory=dict)
    accounts: dict[tuple[str, str], Account] = field(default_factory=dict)
    audits_used: dict[tuple[str, str], int] = field(default_factory=dict)  # (component, month)
    # What the next audits decide: rules[component][tenant_id | "*"] = (outcome, reason).
    rules: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    next_draft: int = 1
    next_template: int = 1
    next_audit: int = 400000001


def book(state: SandboxState) -> Book:
    with state.lock:
        if state.releases is None:
            state.releases = Book()
        return state.releases


def account(state: SandboxState, tenant: Tenant) -> Account:
    with state.lock:
        accounts = book(state).accounts
        key = (tenant.app_id, tenant.tenant_id)
        if key not in accounts:
            accounts[key] = Account(tenant.app_id, tenant.tenant_id)
        return accounts[key]


def month_of(state: SandboxState) -> str:
    return datetime.fromtimestamp(state.now(), UTC).strftime("%Y-%m")


def whole(value: Any, errcode: int) -> int:
    """A JSON number or a string of digits (the platforms accept "1" for 1), else `errcode`."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(errcode)
    return value


def text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(47001)
    return value


# --- one account's versions (authorizer token) --------------------------------------------------


def check_mini_program(tenant: Tenant) -> None:
    if tenant.account_type != "mini_program":
        raise ApiError(85015)  # "该账号不是小程序账号": code APIs are for mini programs


def commit(state: SandboxState, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    check_mini_program(tenant)
    raw_id = body.get("template_id")
    template_id = whole(raw_id, 85014) if raw_id is not None else None
    ext_json = body.get("ext_json")
    if ext_json not in (None, ""):
        # ext_json is a string holding a JSON object; anything else "parse ext_json fail".
        try:
            parsed = json.loads(ext_json) if isinstance(ext_json, str) else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ApiError(85048)
    user_version = text(body, "user_version")
    if not user_version or len(user_version) > MAX_VERSION:
        raise ApiError(85015)  # "版本输入错误"
    with state.lock:
        template = book(state).templates.get(tenant.app_id, {}).get(template_id or -1)
        if template is None:
            raise ApiError(85014)  # invalid template id (another component's included)
        account(state, tenant).trial = Version(
            template_id=template.template_id,
            user_version=user_version,
            user_desc=text(body, "user_desc"),
            ext_json=ext_json or "",
            commit_time=int(state.now()),
        )
        return dict(OK)


def quota(state: SandboxState, app_id: str) -> dict[str, Any]:
    with state.lock:
        limit = int(state.settings.audit_quota)
        used = book(state).audits_used.get((app_id, month_of(state)), 0)
        return {**OK, "rest": max(0, limit - used), "limit": limit}


def submit_audit(state: SandboxState, tenant: Tenant, body: dict[str, Any]) -> Audit:
    check_mini_program(tenant)
    item_list = body.get("item_list")
    if item_list is not None and (not isinstance(item_list, list) or not 1 <= len(item_list) <= 5):
        raise ApiError(85023)
    if isinstance(item_list, list) and not all(isinstance(i, dict) and i for i in item_list):
        raise ApiError(85010)
    with state.lock:
        store, acct = book(state), account(state, tenant)
        if acct.trial is None:
            raise ApiError(85086)  # code must be committed before an audit
        if acct.pending is not None:
            raise ApiError(85009)
        month = (tenant.app_id, month_of(state))
        if store.audits_used.get(month, 0) >= int(state.settings.audit_quota):
            raise ApiError(85085)  # the month's audit quota is used up
        store.audits_used[month] = store.audits_used.get(month, 0) + 1
        now = state.now()
        audit = Audit(
            auditid=store.next_audit,
            version=acct.trial,
            submit_audit_time=int(now),
            due_at=now + float(state.settings.audit_delay),
            item_list=item_list or [],
            version_desc=text(body, "version_desc"),
        )
        store.next_audit += 1
        acct.audits.append(audit)
        return audit


def audit_body(audit: Audit, latest: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {**OK, "auditid": audit.auditid, "status": audit.status}
    if audit.status in (REJECTED, DELAYED):
        answer["reason"] = audit.reason
    if audit.status == REJECTED:
        answer["screenshot"] = audit.screenshot
    if latest:
        answer.update(
            reason=audit.reason,
            user_version=audit.version.user_version,
            user_desc=audit.version.user_desc,
            submit_audit_time=audit.submit_audit_time,
        )
    return answer


def audit_status(state: SandboxState, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    check_mini_program(tenant)
    auditid = whole(body.get("auditid"), 85012) if body.get("auditid") is not None else 0
    with state.lock:
        for audit in account(state, tenant).audits:
            if audit.auditid == auditid:
                return audit_body(audit)
        raise ApiError(85012)  # invalid audit id (another account's included)


def latest_audit_status(state: SandboxState, tenant: Tenant) -> dict[str, Any]:
    check_mini_program(tenant)
    with state.lock:
        latest = account(state, tenant).latest
        if latest is None:
            raise ApiError(85058)  # no valid audit_id exist
        return audit_body(latest, latest=True)


def undo_audit(state: SandboxState, tenant: Tenant) -> dict[str, Any]:
    check_mini_program(tenant)
    with state.lock:
        acct, now = account(state, tenant), state.now()
        pending = acct.pending
        if pending is None:
            raise ApiError(85019)  # no version under audit
        month = month_of(state)
        in_month = [t for t in acct.withdrawals if _month(t) == month]
        if len(in_month) >= WITHDRAW_MONTH or sum(t > now - DAY for t in in_month) >= WITHDRAW_DAY:
            raise ApiError(87013)
        acct.withdrawals = [*in_month, now]
        pending.status, pending.decided_at = WITHDRAWN, int(now)
        return dict(OK)


def _month(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m")


def release(state: SandboxState, tenant: Tenant) -> dict[str, Any]:
    check_mini_program(tenant)
    with state.lock:
        acct = account(state, tenant)
        latest = acct.latest
        if latest is None:
            raise ApiError(85019)  # nothing was ever audited
        if latest.status == PASSED and latest.version is acct.online:
            raise ApiError(85052)  # already released
        if latest.status != PASSED:
            raise ApiError(85020)  # the audit's status does not allow a release
        _go_online(state, acct, latest.version)
        return dict(OK)


def _go_online(state: SandboxState, acct: Account, version: Version) -> None:
    if acct.online is not None and acct.online is not version:
        acct.previous = acct.online
    acct.online, acct.released_at = version, int(state.now())
    if acct.gray is not None and acct.gray.status == 1:
        acct.gray.status = 3  # the plan is done: everyone has the version now


def gray_release(state: SandboxState, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    check_mini_program(tenant)
    percentage = whole(body.get("gray_percentage"), 85081)
    if not 1 <= percentage <= 100:
        raise ApiError(85081)
    with state.lock:
        acct = account(state, tenant)
        if acct.online is None:
            raise ApiError(85079)  # gray needs an online version to start from
        passed = acct.passed
        if passed is None:
            raise ApiError(85080)  # the latest audit has not passed
        gray = acct.gray
        if gray is not None and gray.status == 1 and gray.version is passed.version:
            if percentage <= gray.gray_percentage:
                raise ApiError(85082)  # a running plan only grows
            gray.gray_percentage = percentage
        else:
            acct.gray = Gray(passed.version, percentage, int(state.now()))
        return dict(OK)


def gray_plan(state: SandboxState, tenant: Tenant) -> dict[str, Any]:
    check_mini_program(tenant)
    with state.lock:
        gray = account(state, tenant).gray
        plan = {"status": 0, "create_timestamp": 0, "gray_percentage": 0}
        if gray is not None:
            plan = {
                "status": gray.status,
                "create_timestamp": gray.create_timestamp,
                "gray_percentage": gray.gray_percentage,
            }
        return {**OK, "gray_release_plan": plan}


def revert_gray(state: SandboxState, tenant: Tenant) -> dict[str, Any]:
    check_mini_program(tenant)
    with state.lock:
        gray = account(state, tenant).gray
        if gray is not None and gray.status == 1:
            gray.status = 4  # removed; the passed version can be released or grayed again
        return dict(OK)


def revert_release(state: SandboxState, tenant: Tenant) -> dict[str, Any]:
    check_mini_program(tenant)
    with state.lock:
        acct = account(state, tenant)
        if acct.gray is not None and acct.gray.status == 1:
            raise ApiError(87011)  # a gray release is running
        if acct.previous is None or acct.online is None:
            raise ApiError(87012)  # no previous online version (or already reverted)
        acct.online, acct.previous = acct.previous, None
        acct.released_at = int(state.now())
        return dict(OK)
