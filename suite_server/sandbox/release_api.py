"""Open Platform mini-program code APIs (host api.weixin.qq.com, paths under /wxa/): the template
store with a component token, each account's versions and audits with its authorizer token.
Rules in releases.py, audit decisions and pushes in audits.py.

GET and POST are both accepted where the SDKs use either (a GET has no body: {}).
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from suite_server.sandbox import audits
from suite_server.sandbox import openplatform as op
from suite_server.sandbox import release_templates as store
from suite_server.sandbox import releases as rel
from suite_server.sandbox.api_common import json_body, platform_blueprint, post_body
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import OPEN, App, SandboxState, Tenant

bp = platform_blueprint("sandbox_release_api", OPEN)
BOTH = ["GET", "POST"]


def _state() -> SandboxState:
    return current_sandbox().state


def _settle() -> None:
    """Audits that fell due since the last look are decided before any answer."""
    sandbox = current_sandbox()
    audits.settle(sandbox.state, sandbox.pusher)


def _component(body: dict[str, Any]) -> App:
    value = request.args.get("access_token") or request.args.get("component_access_token")
    return op.component_from_token(_state(), value, body)


def _authorizer() -> Tenant:
    _settle()
    return op.authorizer_from_token(_state(), request.args.get("access_token"))


# --- template store (component_access_token) ----------------------------------------------------


@bp.route("/wxa/gettemplatedraftlist", methods=BOTH)
def gettemplatedraftlist() -> ResponseReturnValue:
    app = _component(json_body())
    return jsonify(store.draft_list(_state(), app.app_id))


@bp.route("/wxa/addtotemplate", methods=BOTH)
def addtotemplate() -> ResponseReturnValue:
    body = post_body()
    app = _component(body)
    return jsonify(store.add_to_template(_state(), app.app_id, body))


@bp.route("/wxa/gettemplatelist", methods=BOTH)
def gettemplatelist() -> ResponseReturnValue:
    app = _component(json_body())
    return jsonify(store.template_list(_state(), app.app_id, request.args.get("template_type")))


@bp.route("/wxa/deletetemplate", methods=BOTH)
def deletetemplate() -> ResponseReturnValue:
    body = post_body()
    app = _component(body)
    return jsonify(store.delete_template(_state(), app.app_id, body))


# --- one mini program's code (authorizer_access_token) ------------------------------------------


@bp.route("/wxa/commit", methods=BOTH)
def commit() -> ResponseReturnValue:
    body = post_body()
    return jsonify(rel.commit(_state(), _authorizer(), body))


@bp.route("/wxa/submit_audit", methods=BOTH)
def submit_audit() -> ResponseReturnValue:
    body = post_body()
    sandbox = current_sandbox()
    audit = rel.submit_audit(sandbox.state, _authorizer(), body)
    if audit.due_at <= sandbox.state.now():
        audits.settle_later(sandbox.state, sandbox.pusher)  # audit_delay 0: decided right after
    else:
        sandbox.ticker.wake()  # the ticker watches for the audit falling due
    return jsonify({**rel.OK, "auditid": audit.auditid})


@bp.route("/wxa/get_auditstatus", methods=BOTH)
def get_auditstatus() -> ResponseReturnValue:
    body = post_body()
    return jsonify(rel.audit_status(_state(), _authorizer(), body))


@bp.route("/wxa/get_latest_auditstatus", methods=BOTH)
def get_latest_auditstatus() -> ResponseReturnValue:
    return jsonify(rel.latest_audit_status(_state(), _authorizer()))


@bp.route("/wxa/undocodeaudit", methods=BOTH)
def undocodeaudit() -> ResponseReturnValue:
    return jsonify(rel.undo_audit(_state(), _authorizer()))


@bp.route("/wxa/queryquota", methods=BOTH)
def queryquota() -> ResponseReturnValue:
    tenant = _authorizer()
    rel.check_mini_program(tenant)
    # The quota is the component's, shared by every account it develops; no speed-ups here.
    answer = rel.quota(_state(), tenant.app_id)
    return jsonify({**answer, "speedup_rest": 0, "speedup_limit": 0})


@bp.route("/wxa/release", methods=BOTH)
def release() -> ResponseReturnValue:
    post_body()
    return jsonify(rel.release(_state(), _authorizer()))


@bp.route("/wxa/grayrelease", methods=BOTH)
def grayrelease() -> ResponseReturnValue:
    body = post_body()
    return jsonify(rel.gray_release(_state(), _authorizer(), body))


@bp.route("/wxa/getgrayreleaseplan", methods=BOTH)
def getgrayreleaseplan() -> ResponseReturnValue:
    return jsonify(rel.gray_plan(_state(), _authorizer()))


@bp.route("/wxa/revertgrayrelease", methods=BOTH)
def revertgrayrelease() -> ResponseReturnValue:
    return jsonify(rel.revert_gray(_state(), _authorizer()))


@bp.route("/wxa/revertcoderelease", methods=BOTH)
def revertcoderelease() -> ResponseReturnValue:
    return jsonify(rel.revert_release(_state(), _authorizer()))


@bp.route("/wxa/getversioninfo", methods=BOTH)
def getversioninfo() -> ResponseReturnValue:
    """The trial (体验版) and online versions: `exp_info {exp_time, exp_version, exp_desc}` once
    code is committed, `release_info {release_time, release_version, release_desc}` once one is
    online (WxJava WxOpenVersioninfoResult); a server asks it to learn whether a commit or a
    release took."""
    tenant = _authorizer()
    rel.check_mini_program(tenant)
    state = _state()
    with state.lock:
        acct = rel.account(state, tenant)
        answer: dict = dict(rel.OK)
        if acct.trial is not None:
            answer["exp_info"] = {
                "exp_time": acct.trial.commit_time,
                "exp_version": acct.trial.user_version,
                "exp_desc": acct.trial.user_desc,
            }
        if acct.online is not None:
            answer["release_info"] = {
                "release_time": acct.released_at,
                "release_version": acct.online.user_version,
                "release_desc": acct.online.user_desc,
            }
    return jsonify(answer)
