"""JS-SDK tickets (isv-capabilities.md §6): WeCom get_jsapi_ticket and ticket/get?type=agent_config
with a corp token, Open ticket/getticket?type=jsapi|wx_card with an authorizer token, and the
control route showing the tickets a tenant holds (so tests can recompute a signature).

- A ticket lives `token_ttl` seconds (7200 by default). WeCom hands back the same ticket until it
  expires, as it does tokens; the Open Platform a new one on every call.
- The wrong kind of token is refused as each platform refuses it: a suite token where a corp
  token belongs is 40014 on WeCom, a component token where an authorizer's belongs 40001 on Open.
- Limits, 45009 beyond them (every call is counted in /sandbox/calls, refused ones included):
  WeCom "一小时内,一个企业最多可获取 400 次,且单个应用不能超过 100 次" (doc/90506, doc/96909):
  get_jsapi_ticket 400 an hour per corp and 100 an hour per app in that corp, agent tickets 100 an
  hour per app in the corp; Open: OPEN_DAILY calls a day per account and ticket type (the
  platform's daily API quota; the notes give no figure for getticket, this one is ours).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from suite_server.sandbox import control_input as given
from suite_server.sandbox import openplatform as op
from suite_server.sandbox import wecom
from suite_server.sandbox.api_common import platform_blueprint
from suite_server.sandbox.errors import ApiError
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import OPEN, SandboxState, Tenant

wecom_bp = platform_blueprint("sandbox_wecom_jsapi", "wecom")
open_bp = platform_blueprint("sandbox_open_jsapi", OPEN)
control_bp = Blueprint("sandbox_jsapi_control", __name__, url_prefix="/sandbox")
BOTH = ["GET", "POST"]

HOUR, DAY = 3600.0, 86400.0
WECOM_CORP_HOURLY, WECOM_APP_HOURLY = 400, 100
OPEN_DAILY = 2000
# Our kind -> the TokenBook kind the ticket is kept under.
BOOK_KIND = {
    "corp": "jsapi_corp",
    "agent": "jsapi_agent",
    "jsapi": "jsapi_open",
    "wx_card": "wx_card",
}
LIMITED = "api freq out of limit"


def _state() -> SandboxState:
    return current_sandbox().state


@wecom_bp.route("/cgi-bin/get_jsapi_ticket", methods=BOTH)
def get_jsapi_ticket() -> ResponseReturnValue:
    tenant = wecom.corp_from_token(_state(), request.args.get("access_token"))
    return jsonify(_issue(_state(), tenant, "corp"))


@wecom_bp.route("/cgi-bin/ticket/get", methods=BOTH)
def ticket_get() -> ResponseReturnValue:
    tenant = wecom.corp_from_token(_state(), request.args.get("access_token"))
    if request.args.get("type") != "agent_config":
        raise ApiError(40097)
    return jsonify(_issue(_state(), tenant, "agent"))


@open_bp.route("/cgi-bin/ticket/getticket", methods=BOTH)
def getticket() -> ResponseReturnValue:
    tenant = op.authorizer_from_token(_state(), request.args.get("access_token"))
    kind = request.args.get("type") or ""
    if kind not in ("jsapi", "wx_card"):
        raise ApiError(40097)
    return jsonify(_issue(_state(), tenant, kind))


@control_bp.get("/jsapi/tickets")
def tickets() -> ResponseReturnValue:
    """?app_id=&tenant_id= -> {kind: {ticket, expires_in}} for the tickets the tenant holds."""
    app = given.app(request.args.get("app_id") or "")
    tenant = given.tenant(app, request.args.get("tenant_id") or "")
    state = _state()
    with state.lock:
        now, held = state.now(), {}
        for kind, book_kind in BOOK_KIND.items():
            token = state.tokens.current(book_kind, app.app_id, tenant.tenant_id)
            if token is not None and not token.revoked and now < token.expires_at:
                held[kind] = {"ticket": token.value, "expires_in": token.remaining(now)}
    return jsonify(held)


def _issue(state: SandboxState, tenant: Tenant, kind: str) -> dict[str, Any]:
    with state.lock:
        now = state.now()
        limits = _limits(tenant, kind)
        for key, most, window in limits:
            calls = state.ticket_calls.setdefault(key, deque())
            while calls and calls[0] <= now - window:
                calls.popleft()
            if len(calls) >= most:
                raise ApiError(45009, LIMITED)
        for key, _most, _window in limits:
            state.ticket_calls[key].append(now)
        ttl, book_kind = state.settings.token_ttl, BOOK_KIND[kind]
        if kind in ("corp", "agent"):
            ticket = state.tokens.same_or_new(book_kind, tenant.app_id, tenant.tenant_id, now, ttl)
        else:
            ticket = state.tokens.rotate(book_kind, tenant.app_id, tenant.tenant_id, now, ttl)
        return {**wecom.OK, "ticket": ticket.value, "expires_in": ticket.remaining(now)}


def _limits(tenant: Tenant, kind: str) -> list[tuple[tuple, int, float]]:
    """(counter key, most calls, window in seconds) of each limit a call counts against."""
    app_in_corp = (kind, tenant.app_id, tenant.tenant_id)
    if kind == "corp":
        return [
            (("corp", tenant.tenant_id), WECOM_CORP_HOURLY, HOUR),
            (app_in_corp, WECOM_APP_HOURLY, HOUR),
        ]
    if kind == "agent":
        return [(app_in_corp, WECOM_APP_HOURLY, HOUR)]
    return [(app_in_corp, OPEN_DAILY, DAY)]
