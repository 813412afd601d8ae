"""The Open Platform's quota and rid APIs (isv-capabilities.md §14; rules in `quota.py`), and
their control actions.

Platform (api.weixin.qq.com), each POST only (43002):
* `cgi-bin/openapi/quota/get?access_token=` `{cgi_path}` -> `{quota: {daily_limit, used,
  remain}, rate_limit, component_rate_limit}` for the token's account (an authorizer's token, or
  the component's: `component_access_token=` works too). 76021 for a path this platform does not
  have, 76022 for `/sns/...` (not counted by quota). A path without a limit reads the
  DEFAULT_DAILY_LIMIT it would have.
* `cgi-bin/clear_quota?access_token=` `{appid}`: the token's own account only (40013 otherwise);
  48006 once the month's 10 clears are used.
* `cgi-bin/component/clear_quota/v2` `{component_appid, appsecret[, appid]}`, no token: the
  component's own quota, or an authorizer's (61003 if it has not authorized the component);
  40125 for a wrong secret.
* `cgi-bin/openapi/rid/get?access_token=` `{rid}` -> `{request: {invoke_time, cost_in_ms,
  request_url, request_body, response_body, client_ip}}` (76001 unknown, 76002 malformed, 76003
  another account's, 76004 expired).

Control (under /sandbox/):
* `POST /sandbox/quota {appid, cgi_path, daily_limit}` sets (or, with `daily_limit` null,
  lifts) one account's limit for one path; `GET /sandbox/quota?appid=` -> its limits, today's
  counts and the clears left this month.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from suite_server.sandbox import control_input as given
from suite_server.sandbox import quota
from suite_server.sandbox.api_common import platform_blueprint, post_body
from suite_server.sandbox.control_input import ControlError
from suite_server.sandbox.errors import ApiError
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import OPEN, SandboxState
from suite_server.sandbox.wecom import OK, text

bp = platform_blueprint("sandbox_quota_api", OPEN)
control = Blueprint("sandbox_quota_control", __name__, url_prefix="/sandbox")
BOTH = ["GET", "POST"]
DEFAULT_DAILY_LIMIT = 1_000_000  # what quota/get reads for a path without a set limit
RATE_LIMIT = {"call_count": 2_000, "refresh_second": 60}


def _state() -> SandboxState:
    return current_sandbox().state


def _account() -> str:
    """The account the call's token belongs to: 41001 without one, 40001 for a dead one."""
    value = request.args.get("access_token") or request.args.get("component_access_token")
    if not value:
        raise ApiError(41001)
    account = quota.account_of_token(_state(), value)
    if account is None:
        raise ApiError(40001)
    return account


def _known_path(path: str) -> bool:
    """Whether this platform answers `path` (a route of the sandbox's platform APIs)."""
    try:
        endpoint, _ = current_app.url_map.bind("sandbox").match(path, method="POST")
    except HTTPException:
        return False
    return not endpoint.startswith(("sandbox_quota_control", "sandbox_control"))


@bp.route("/cgi-bin/openapi/quota/get", methods=BOTH)
def quota_get() -> ResponseReturnValue:
    body = post_body()
    account = _account()
    path = text(body, "cgi_path")
    if path.startswith("/sns/"):
        raise ApiError(76022, "could not use this cgi_path, no permission")
    if not path.startswith("/") or not _known_path(path):
        raise ApiError(76021, "cgi_path not found, please check")
    state = _state()
    with state.lock:
        quotas, now = quota.book(state), state.now()
        limit = quotas.limits.get((account, path), DEFAULT_DAILY_LIMIT)
        used = quotas.count(account, path, now)
    answer: dict[str, Any] = {
        **OK,
        "quota": {"daily_limit": limit, "used": used, "remain": max(0, limit - used)},
        "rate_limit": RATE_LIMIT,
        "component_rate_limit": RATE_LIMIT,
    }
    return jsonify(answer)


@bp.route("/cgi-bin/clear_quota", methods=BOTH)
def clear_quota() -> ResponseReturnValue:
    body = post_body()
    account = _account()
    appid = text(body, "appid")
    if not appid:
        raise ApiError(41002)
    if appid != account:
        raise ApiError(40013)
    state = _state()
    with state.lock:
        quota.clear(state, account)
    return jsonify(OK)


@bp.route("/cgi-bin/component/clear_quota/v2", methods=BOTH)
def clear_quota_v2() -> ResponseReturnValue:
    body = post_body()
    component_appid, secret = text(body, "component_appid"), text(body, "appsecret")
    if not component_appid:
        raise ApiError(41002)
    if not secret:
        raise ApiError(41004)
    state = _state()
    component = state.app(component_appid, OPEN)
    if component is None:
        raise ApiError(40013)
    if secret != component.secret:
        raise ApiError(40125)
    account = text(body, "appid") or component_appid
    with state.lock:
        if account != component_appid:
            tenant = state.tenant(component_appid, account)
            if tenant is None or not tenant.active:
                raise ApiError(61003)
        quota.clear(state, account)
    return jsonify(OK)


@bp.route("/cgi-bin/openapi/rid/get", methods=BOTH)
def rid_get() -> ResponseReturnValue:
    body = post_body()
    account = _account()
    state = _state()
    with state.lock:
        record = quota.find_rid(state, text(body, "rid"), account)
        return jsonify({**OK, "request": record.public()})


@control.route("/quota", methods=["GET", "POST"])
def quota_control() -> ResponseReturnValue:
    state = _state()
    if request.method == "GET":
        appid = request.args.get("appid", "")
        if not appid:
            raise ControlError(400, "appid is required")
        with state.lock:
            quotas, now = quota.book(state), state.now()
            today = quota.day(now)
            return jsonify(
                appid=appid,
                limits={p: n for (a, p), n in quotas.limits.items() if a == appid},
                used={p: n for (a, p, d), n in quotas.used.items() if a == appid and d == today},
                clears_left=quotas.clears_left(appid, now),
            )
    body = given.body()
    appid = given.text(body, "appid", required=True)
    path = given.text(body, "cgi_path", required=True)
    if not path.startswith("/"):
        raise ControlError(400, "cgi_path must start with /")
    limit = body.get("daily_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ControlError(400, "daily_limit must be a whole number >= 0, or null")
    with state.lock:
        limits = quota.book(state).limits
        if limit is None:
            limits.pop((appid, path), None)
        else:
            limits[(appid, path)] = limit
    return jsonify(appid=appid, cgi_path=path, daily_limit=limit)
