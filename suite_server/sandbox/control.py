"""The sandbox's own JSON control API under /sandbox/ (for tests, the demo and curious people):
apps, settings, faults, call counts, recorded pushes and messages, clock, reset; plus an HTML
index page. Actions (approve, push, bulk tenants) are in `actions.py`, provider accounts and their
system-event pushes in `providers.py`.

Bad input answers 400/404/409 with `{"error": "<reason>"}`, never a 500.
"""

from __future__ import annotations

import re

from flask import Blueprint, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from suite_server.sandbox import audits, order_control
from suite_server.sandbox import control_input as given
from suite_server.sandbox.control_input import ControlError
from suite_server.sandbox.faults import parse_rule
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import PLATFORMS, App

bp = Blueprint("sandbox_control", __name__, url_prefix="/sandbox")
APP_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


# --- the index page ---------------------------------------------------------------------------


@bp.get("/")
def index() -> ResponseReturnValue:
    state = current_sandbox().state
    with state.lock:
        context = {
            "apps": list(state.apps.values()),
            "providers": list(state.providers.values()),
            "tenants": [t.public() for t in state.tenants.values()][:500],
            "pushes": list(reversed(state.pushes))[:50],
            "calls": state.calls_report(),
            "messages": state.messages[-20:],
            "url_checks": list(reversed(state.url_checks))[:20],
            "settings": state.settings.as_dict(),
        }
    return render_template("sandbox/index.html", **context)


# --- apps -------------------------------------------------------------------------------------


@bp.get("/apps")
def list_apps() -> ResponseReturnValue:
    state = current_sandbox().state
    with state.lock:
        return jsonify({"apps": [app.public() for app in state.apps.values()]})


@bp.post("/apps")
def register_app() -> ResponseReturnValue:
    """{platform, app_id, secret, token, aes_key, server_url, provider_corpid?, name?,
    push_ticket? (default true: push one ticket now, as the platform does at approval)}"""
    sandbox = current_sandbox()
    body = given.body()
    platform = given.text(body, "platform", required=True)
    if platform not in PLATFORMS:
        raise ControlError(400, "platform must be wecom or open")
    app_id = given.text(body, "app_id", required=True)
    if not APP_ID.fullmatch(app_id):
        raise ControlError(400, "app_id must be 1-64 letters, digits, _ or -")
    aes_key, server_url = given.receiver(body)
    app = App(
        platform=platform,
        app_id=app_id,
        secret=given.text(body, "secret", required=True),
        token=given.text(body, "token", required=True),
        aes_key=aes_key,
        server_url=server_url,
        provider_corpid=given.text(body, "provider_corpid"),
        name=given.text(body, "name"),
    )
    push_ticket = body.get("push_ticket", True)
    if not isinstance(push_ticket, bool):
        raise ControlError(400, "push_ticket must be true or false")
    with sandbox.state.lock:
        existing = sandbox.state.apps.get(app_id)
    if existing is not None and existing.platform != platform:
        raise ControlError(409, f"{app_id} is already registered as a {existing.platform} app")
    sandbox.register(app, push_ticket)
    return jsonify({"app": app.public(), "ticket_push": push_ticket}), 200 if existing else 201


@bp.get("/apps/<app_id>")
def show_app(app_id: str) -> ResponseReturnValue:
    state = current_sandbox().state
    app = given.app(app_id)
    with state.lock:
        tickets = [
            {"value": t.value, "issued_at": t.issued_at} for t in state.tickets.get(app_id, [])
        ]
        tenants = [t.public() for t in state.tenants_of(app_id)]
    return jsonify({"app": app.public(), "tickets": tickets, "tenants": tenants})


@bp.get("/tenants")
def list_tenants() -> ResponseReturnValue:
    state = current_sandbox().state
    app_id = request.args.get("app_id")
    with state.lock:
        tenants = [t.public() for t in state.tenants.values() if app_id in (None, t.app_id)]
    return jsonify({"tenants": tenants})


@bp.get("/pushes")
def list_pushes() -> ResponseReturnValue:
    state = current_sandbox().state
    app_id, kind = request.args.get("app_id"), request.args.get("kind")
    with state.lock:
        rows = [
            p for p in state.pushes if app_id in (None, p["app_id"]) and kind in (None, p["kind"])
        ]
    return jsonify({"pushes": rows})


# --- faults, counts, messages, settings, clock, tokens, reset ---------------------------------


@bp.route("/faults", methods=["GET", "POST", "DELETE"])
def faults() -> ResponseReturnValue:
    """POST {endpoint, errcode | http_status | delay | drop, count | rate, tenant_id?}; DELETE
    clears. `drop` takes a (dotted) key out of the next successful answers (faults.py)."""
    state = current_sandbox().state
    if request.method == "POST":
        try:
            rule = parse_rule(given.body())
        except ValueError as exc:
            raise ControlError(400, str(exc)) from exc
        with state.lock:
            state.faults.append(rule)
        return jsonify({"fault": rule.public()}), 201
    with state.lock:
        rules = [rule.public() for rule in state.faults]
        if request.method == "DELETE":
            state.faults.clear()
            return jsonify({"deleted": len(rules)})
    return jsonify({"faults": rules})


@bp.route("/calls", methods=["GET", "DELETE"])
def calls() -> ResponseReturnValue:
    """{"total": N, "by_endpoint": {endpoint: N}, "by_tenant": {endpoint: {tenant_id: N}}}."""
    state = current_sandbox().state
    if request.method == "DELETE":
        state.reset_calls()
    return jsonify(state.calls_report())


@bp.route("/messages", methods=["GET", "DELETE"])
def messages() -> ResponseReturnValue:
    """Messages our server sent through custom/send (Open) or message/send (WeCom)."""
    state = current_sandbox().state
    app_id, tenant_id = request.args.get("app_id"), request.args.get("tenant_id")
    with state.lock:
        if request.method == "DELETE":
            state.messages.clear()
        rows = [
            m
            for m in state.messages
            if app_id in (None, m["app_id"]) and tenant_id in (None, m["tenant_id"])
        ]
    return jsonify({"messages": rows})


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> ResponseReturnValue:
    sandbox = current_sandbox()
    if request.method == "POST":
        try:
            with sandbox.state.lock:
                sandbox.state.settings.update(given.body())
        except ValueError as exc:
            raise ControlError(400, str(exc)) from exc
        sandbox.ticker.wake()  # a new ticket_interval takes effect now
    return jsonify({"settings": sandbox.state.settings.as_dict()})


@bp.route("/clock", methods=["GET", "POST"])
def clock() -> ResponseReturnValue:
    """POST {"advance": seconds}: move the sandbox's clock forward (tokens, codes, tickets age);
    editions that expire on the way are pushed as change_editon (order_control.py), and audits
    that fall due are decided and pushed (audits.py)."""
    sandbox = current_sandbox()
    state = sandbox.state
    if request.method == "POST":
        advance = given.body().get("advance")
        if (
            isinstance(advance, bool)
            or not isinstance(advance, int | float)
            or not 0 <= advance <= 10**8
        ):
            raise ControlError(400, "advance must be a number of seconds from 0 to 1e8")
        with state.lock:
            state.offset += advance
        order_control.push_expiries(sandbox)
        audits.settle(state, sandbox.pusher)  # audits due by the new time decide and push
    return jsonify({"now": state.now(), "offset": state.offset})


@bp.post("/tokens/invalidate")
def invalidate_tokens() -> ResponseReturnValue:
    """{app_id, tenant_id?}: kill the app token (or a tenant's tokens) early, as WeCom may
    (wecom-suite.md §4) — for testing reactive refresh. app_id may also be a provider corpid:
    its provider_access_token dies."""
    state = current_sandbox().state
    body = given.body()
    app_id = given.text(body, "app_id", required=True)
    if state.app(app_id) is None and state.provider(app_id) is None:
        given.app(app_id)  # 404
    tenant_id = given.text(body, "tenant_id") or None
    with state.lock:
        count = state.tokens.revoke(app_id, tenant_id)
    return jsonify({"invalidated": count})


@bp.post("/reset")
def reset() -> ResponseReturnValue:
    """{seed?}: forget everything; the random choices start again from `seed` (or the seed the
    sandbox started with), so a client that cannot inject one can still repeat a run."""
    sandbox = current_sandbox()
    seed = given.whole_number(given.body(), "seed", 0, 2**63 - 1)
    sandbox.state.reset(seed)
    sandbox.ticker.wake()
    return jsonify({"ok": True})
