"""Before every platform API call: count it, then apply the first fault rule that matches; after
a successful one, take out the fields drop rules name (faults.py)."""

from __future__ import annotations

import time

from flask import Response, current_app, jsonify, request

from suite_server.sandbox import quota
from suite_server.sandbox.errors import error_body
from suite_server.sandbox.faults import drop_path, take_drops, take_matching
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import OPEN

# Body fields that name the tenant a call is about, on either platform.
_TENANT_FIELDS = ("auth_corpid", "authorizer_appid")
_CODE_FIELDS = ("auth_code", "authorization_code")


def endpoint_name() -> str:
    """`get_corp_token` for `/cgi-bin/service/get_corp_token`: the view function's name."""
    return (request.endpoint or "unknown").rsplit(".", 1)[-1]


def tenant_hint() -> str | None:
    """Which tenant the call concerns, if it names one: a body field, its code, or its token."""
    state = current_sandbox().state
    body = request.get_json(silent=True, force=True)
    if endpoint_name() == "gettoken":  # the corp asking for its own token: ?corpid=
        corpid = request.args.get("corpid")
        if not corpid and isinstance(body, dict):
            corpid = body.get("corpid")
        return corpid if isinstance(corpid, str) and corpid else None
    if request.path.startswith("/cgi-bin/license/") and isinstance(body, dict):
        # License calls (license_api.py) name the customer corp as `corpid`.
        corpid = body.get("corpid")
        return corpid if isinstance(corpid, str) and corpid else None
    if isinstance(body, dict) and isinstance(body.get("orderid"), str):
        # A paid-app order (order_api.py) is about the corp that placed it.
        with state.lock:
            order = state.app_orders.get(body["orderid"])
        return order.corpid if order is not None else None
    if isinstance(body, dict):
        for name in _TENANT_FIELDS:
            if isinstance(body.get(name), str) and body[name]:
                return body[name]
        for name in _CODE_FIELDS:
            if isinstance(body.get(name), str):
                with state.lock:
                    code = state.codes.get(body[name])
                if code is not None and code.tenant_id:
                    return code.tenant_id
    token_value = request.args.get("access_token")
    if token_value:
        with state.lock:
            token = state.tokens.owner_of(token_value)
        if token is not None:
            return token.tenant_id
    return None


def meter_and_inject(platform: str) -> Response | None:
    """Count the call; then a matching fault answers instead of the API (or delays it)."""
    sandbox = current_sandbox()
    state = sandbox.state
    endpoint = endpoint_name()
    tenant_id = tenant_hint()
    state.count_call(endpoint, tenant_id)
    with state.lock:
        rule = take_matching(state.faults, endpoint, tenant_id, state.random)
        latency, jitter = state.settings.latency, state.settings.latency_jitter
        if jitter:  # drawn only when asked, so a seeded run without jitter draws as before
            latency += jitter * state.random.random()
    if latency:
        time.sleep(latency)  # the network's and the platform's time; outside the lock
    if rule is None:
        return quota.charge(endpoint) if platform == OPEN else None
    if rule.delay:
        time.sleep(rule.delay)  # outside the lock: other calls go on meanwhile
    if rule.http_status is not None:
        return Response(
            f"sandbox fault: HTTP {rule.http_status}\n", rule.http_status, mimetype="text/plain"
        )
    if rule.errcode is not None:
        return jsonify(error_body(platform, rule.errcode))
    return None


def drop_fields(response: Response) -> Response:
    """Apply the drop rules matching this call to its answer, if it is a successful JSON one."""
    state = current_sandbox().state
    with state.lock:
        if not any(rule.drop for rule in state.faults):
            return response
    if response.status_code != 200 or not response.is_json:
        return response
    body = response.get_json(silent=True)
    if not isinstance(body, dict) or body.get("errcode", 0) != 0:
        return response
    with state.lock:
        paths = take_drops(state.faults, endpoint_name(), tenant_hint(), state.random)
    if paths:
        for path in paths:
            drop_path(body, path)
        response.set_data(current_app.json.dumps(body) + "\n")
    return response
