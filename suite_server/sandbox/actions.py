"""Control-API actions where the sandbox plays a person or the platform on command: approve an
install, push any event now, check a saved callback URL as the console does, create many
authorizations at once (all under /sandbox/)."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue

from suite_server.sandbox import approvals, events, url_check
from suite_server.sandbox import authorizations as auth
from suite_server.sandbox import control_input as given
from suite_server.sandbox.control_input import ControlError
from suite_server.sandbox.pushes import SYSTEM
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import OPEN, WECOM

bp = Blueprint("sandbox_actions", __name__, url_prefix="/sandbox")

KINDS = {
    WECOM: (
        "ticket",
        "create_auth",
        "change_auth",
        "cancel_auth",
        "reset_permanent_code",
        "change_contact",
        "text",
        "event",
    ),
    OPEN: ("ticket", "authorized", "updateauthorized", "unauthorized", "text", "event"),
}
MAX_BULK = 10_000


@bp.post("/approve")
def approve() -> ResponseReturnValue:
    """{app_id, pre_auth_code, tenant_id?, name?, via? (redirect|market), redirect_uri?, state?,
    account_type?, func_ids?} -> {tenant_id, auth_code, expires_in, redirect_url, push}."""
    sandbox = current_sandbox()
    data = given.body()
    app = given.app(given.text(data, "app_id", required=True))
    via = given.text(data, "via") or approvals.REDIRECT
    pre_auth_code = given.text(data, "pre_auth_code") or None
    if pre_auth_code is None and not (app.platform == WECOM and via == approvals.MARKET):
        raise ControlError(400, "pre_auth_code is required (except for WeCom market installs)")
    result = approvals.approve(
        sandbox,
        app,
        tenant_id=given.text(data, "tenant_id") or None,
        name=given.text(data, "name"),
        pre_auth_code=pre_auth_code,
        via=via,
        redirect_uri=given.text(data, "redirect_uri") or None,
        install_state=given.text(data, "state") if "state" in data else None,
        account_type=given.text(data, "account_type") or None,
        func_ids=given.func_ids(data),
    )
    return jsonify(result)


@bp.post("/push")
def push() -> ResponseReturnValue:
    """{app_id, kind, tenant_id?, …} -> what our server answered: {delivered, attempts, status,
    body, reply, error, url, payload, …} (+ auth_code for pushes that carry one). For a 代开发
    template (`dk…`) reset_permanent_code rotates the corp's secret (the permanent code). A
    provider's system events go through /sandbox/providers/<corpid>/push (providers.py)."""
    sandbox = current_sandbox()
    state, pusher = sandbox.state, sandbox.pusher
    data = given.body()
    app = given.app(given.text(data, "app_id", required=True))
    kind = given.text(data, "kind", required=True)
    if kind not in KINDS[app.platform]:
        raise ControlError(400, f"kind must be one of {', '.join(KINDS[app.platform])}")
    fields = given.xml_fields(data)
    if kind == "ticket":
        return jsonify(events.push_ticket(state, pusher, app, given.text(data, "ticket") or None))
    if kind in ("create_auth", "authorized"):
        # A market install (WeCom) / an authorization (Open) with no page involved.
        result = approvals.approve(
            sandbox,
            app,
            tenant_id=given.text(data, "tenant_id") or None,
            name=given.text(data, "name"),
            via=approvals.MARKET,
            install_state=given.text(data, "state"),
            account_type=given.text(data, "account_type") or None,
            func_ids=given.func_ids(data),
            info_type=kind,
        )
        return jsonify({**result["push"], "tenant_id": result["tenant_id"]})
    tenant = given.tenant(app, given.text(data, "tenant_id", required=True))
    if kind == "change_auth":
        result = events.push_change_auth(state, pusher, app, tenant, fields)
    elif kind in ("cancel_auth", "unauthorized"):
        result = events.push_revoke(state, pusher, app, tenant)
    elif kind in ("reset_permanent_code", "updateauthorized"):
        result = events.push_reauthorize(state, pusher, app, tenant, given.func_ids(data))
    elif kind == "change_contact":
        change_type = given.text(data, "change_type") or "create_user"
        result = events.push_change_contact(state, pusher, app, tenant, change_type, fields)
    else:
        result = events.push_message(
            state,
            pusher,
            app,
            tenant,
            kind,
            from_user=given.text(data, "from_user") or None,
            content=given.text(data, "content") or "hello",
            event=given.text(data, "event") or "subscribe",
            msg_id=given.whole_number(data, "msg_id", 1, 2**63 - 1),
            fields=fields,
        )
    return jsonify(result)


@bp.post("/verify_url")
def verify_url() -> ResponseReturnValue:
    """{app_id, channel? (command | data; both when absent)} -> {"checks": [{channel, url,
    verified, status, body, expected, error, took_ms, …}]}: what the WeCom console does when the
    ISV saves the URL. With a provider corpid as app_id (or as provider_corpid) the one check is
    of its system-event URL (channel `system`). The overview page's buttons post a form and are
    sent back to the page."""
    state = current_sandbox().state
    from_page = bool(request.form)
    data = request.form.to_dict() if from_page else given.body()
    app_id = given.text(data, "app_id") or given.text(data, "provider_corpid")
    if not app_id:
        raise ControlError(400, "app_id is required")
    provider = state.provider(app_id)
    channel = given.text(data, "channel")
    if state.app(app_id) is None and provider is not None:
        app, channels = provider.as_app(), (SYSTEM,)
    else:
        app, channels = given.app(app_id), url_check.CHANNELS
        if app.platform != WECOM:
            raise ControlError(400, "the Open Platform console does not check callback URLs")
    if channel and channel not in channels:
        raise ControlError(400, f"channel must be one of {', '.join(channels)}")
    checks = url_check.verify_urls(state, app, [channel] if channel else channels)
    if from_page:
        return redirect(url_for("sandbox_control.index") + "#url-checks", 303)
    return jsonify({"checks": checks})


@bp.post("/tenants/bulk")
def bulk_tenants() -> ResponseReturnValue:
    """{app_id, count, prefix?} -> {"tenants": [{tenant_id, auth_code}]}: authorizations for load
    tests, their codes not yet exchanged and no pushes sent."""
    state = current_sandbox().state
    data = given.body()
    app = given.app(given.text(data, "app_id", required=True))
    count = given.whole_number(data, "count", 1, MAX_BULK)
    if count is None:
        raise ControlError(400, "count is required")
    prefix = given.text(data, "prefix") or ("wwbulk" if app.platform == WECOM else "wxbulk")
    if not approvals.TENANT_ID.fullmatch(prefix) or len(prefix) > 56:
        raise ControlError(400, "prefix must be up to 56 letters, digits or _.@-")
    created = []
    with state.lock:
        for number in range(1, count + 1):
            tenant = auth.authorize(state, app, f"{prefix}{number:06d}", f"Bulk tenant {number}")
            code = auth.issue_auth_code(state, app, tenant)
            created.append({"tenant_id": tenant.tenant_id, "auth_code": code.value})
    return jsonify({"tenants": created}), 201
