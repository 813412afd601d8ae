"""Control API for mini-program code releases (releases.py, audits.py), under /sandbox/:

* `POST templates/drafts {app_id, user_version, user_desc?, source_miniprogram_appid?,
  source_miniprogram?, developer?}` -> 201 {draft}: a developer uploads code from the IDE into the
  component's draft box (gettemplatedraftlist shows it, addtotemplate turns it into a template).
* `GET templates?app_id=` -> {drafts, templates}.
* `POST audits/rules {app_id, tenant_ids: [...] | "*", outcome: pass|fail|delay, reason?}` ->
  {rules}: what the next audits of those accounts decide (until set again; "*" for every account
  replaces the single-account rules).
* `POST audits/decide {app_id, tenant_id, outcome?, reason?}` -> {audit, push}: decide the
  account's pending audit (auditing or delayed) now, by `outcome` or else by its rule, and push
  the outcome; 409 when nothing is pending.
* `GET releases?app_id=` -> {accounts: [...], quota: {month, used, limit}}: each account's trial,
  auditing, passed, online, previous online and gray versions and its audits.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from suite_server.sandbox import audits
from suite_server.sandbox import control_input as given
from suite_server.sandbox import release_templates as store
from suite_server.sandbox import releases as rel
from suite_server.sandbox.control_input import ControlError
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import OPEN, App

bp = Blueprint("sandbox_release_control", __name__, url_prefix="/sandbox")
DRAFT_TEXTS = {
    "user_version": 64,
    "user_desc": 1024,
    "source_miniprogram_appid": 64,
    "source_miniprogram": 128,
    "developer": 64,
}


def _component(app_id: str) -> App:
    app = given.app(app_id)
    if app.platform != OPEN:
        raise ControlError(400, "code releases are for Open Platform components")
    return app


def _outcome(data: dict[str, Any], required: bool) -> str | None:
    outcome = given.text(data, "outcome", required=required) or None
    if outcome is not None and outcome not in audits.OUTCOMES:
        raise ControlError(400, "outcome must be pass, fail or delay")
    return outcome


def _reason(data: dict[str, Any]) -> str:
    reason = given.text(data, "reason")
    if len(reason) > 1024:
        raise ControlError(400, "reason must be at most 1024 characters")
    return reason


@bp.post("/templates/drafts")
def add_draft() -> ResponseReturnValue:
    data = given.body()
    app = _component(given.text(data, "app_id", required=True))
    fields = {}
    for name, most in DRAFT_TEXTS.items():
        value = given.text(data, name, required=name == "user_version")
        if len(value) > most:
            raise ControlError(400, f"{name} must be at most {most} characters")
        fields[name] = value
    draft = store.add_draft(current_sandbox().state, app.app_id, **fields)
    return jsonify({"draft": vars(draft).copy()}), 201


@bp.get("/templates")
def show_templates() -> ResponseReturnValue:
    app = _component(request.args.get("app_id") or "")
    state = current_sandbox().state
    with state.lock:
        store = rel.book(state)
        return jsonify(
            {
                "drafts": [vars(d).copy() for d in store.drafts.get(app.app_id, {}).values()],
                "templates": [vars(t).copy() for t in store.templates.get(app.app_id, {}).values()],
            }
        )


@bp.post("/audits/rules")
def set_rules() -> ResponseReturnValue:
    data = given.body()
    app = _component(given.text(data, "app_id", required=True))
    tenant_ids = data.get("tenant_ids")
    if tenant_ids != "*":
        if (
            not isinstance(tenant_ids, list)
            or not tenant_ids
            or not all(isinstance(t, str) and t for t in tenant_ids)
        ):
            raise ControlError(400, 'tenant_ids must be a list of authorizer appids or "*"')
        for tenant_id in tenant_ids:
            given.tenant(app, tenant_id)  # 404 for an account that never authorized
    outcome = _outcome(data, required=True)
    assert outcome is not None
    rules = audits.set_rule(current_sandbox().state, app.app_id, tenant_ids, outcome, _reason(data))
    return jsonify({"rules": rules})


@bp.post("/audits/decide")
def decide() -> ResponseReturnValue:
    sandbox = current_sandbox()
    state = sandbox.state
    data = given.body()
    app = _component(given.text(data, "app_id", required=True))
    tenant = given.tenant(app, given.text(data, "tenant_id", required=True))
    outcome, reason = _outcome(data, required=False), _reason(data)
    with state.lock:
        acct = rel.account(state, tenant)
        audit = acct.pending
        if audit is None:
            raise ControlError(409, f"{tenant.tenant_id} has no audit pending")
        job = audits.decide(state, acct, audit, outcome, reason)
        answer: dict[str, Any] = {"audit": rel.audit_body(audit, latest=True)}
    answer["push"] = audits.send(state, sandbox.pusher, job)
    return jsonify(answer)


@bp.get("/releases")
def show_releases() -> ResponseReturnValue:
    sandbox = current_sandbox()
    app = _component(request.args.get("app_id") or "")
    audits.settle(sandbox.state, sandbox.pusher)
    state = sandbox.state
    with state.lock:
        store = rel.book(state)
        accounts = [
            account_view(acct)
            for (app_id, _), acct in sorted(store.accounts.items())
            if app_id == app.app_id
        ]
        month = rel.month_of(state)
        quota = {
            "month": month,
            "used": store.audits_used.get((app.app_id, month), 0),
            "limit": int(state.settings.audit_quota),
        }
    return jsonify({"accounts": accounts, "quota": quota})


def version_view(version: rel.Version | None) -> dict[str, Any] | None:
    return None if version is None else asdict(version)


def account_view(acct: rel.Account) -> dict[str, Any]:
    """An account's versions and audits, for GET /sandbox/releases."""
    gray = acct.gray
    return {
        "tenant_id": acct.tenant_id,
        "trial": version_view(acct.trial),
        "auditing": version_view(acct.pending.version) if acct.pending else None,
        "passed": version_view(acct.passed.version) if acct.passed else None,
        "online": version_view(acct.online),
        "previous_online": version_view(acct.previous),
        "released_at": acct.released_at,
        "gray": None
        if gray is None
        else {
            "version": version_view(gray.version),
            "gray_percentage": gray.gray_percentage,
            "status": gray.status,
            "create_timestamp": gray.create_timestamp,
        },
        "audits": [
            {
                "auditid": a.auditid,
                "status": a.status,
                "reason": a.reason,
                "screenshot": a.screenshot,
                "user_version": a.version.user_version,
                "submit_audit_time": a.submit_audit_time,
                "due_at": a.due_at,
                "decided_at": a.decided_at,
            }
            for a in acct.audits
        ],
    }
