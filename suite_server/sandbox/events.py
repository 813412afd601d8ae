"""What the platforms push, one function per push: the state change behind it, its payload, and
its delivery to our server. Each returns the push result (see pushes.Pusher.deliver)."""

from __future__ import annotations

import secrets
from typing import Any

from suite_server.sandbox import authorizations as auth
from suite_server.sandbox import payloads
from suite_server.sandbox.pushes import AUTH, COMMAND, DATA, MSG, Pusher, wire_time
from suite_server.sandbox.state import WECOM, App, Code, SandboxState, Tenant, Ticket


class EventError(Exception):
    """The push cannot be made (unknown tenant, wrong platform…); status is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def push_ticket(
    state: SandboxState, pusher: Pusher, app: App, value: str | None = None
) -> dict[str, Any]:
    """suite_ticket (wecom-suite.md §3) / component_verify_ticket (open-platform.md §1-§2)."""
    return _deliver_ticket(pusher, app, state.issue_ticket(app, value))


def push_scheduled_ticket(state: SandboxState, pusher: Pusher, app: App) -> dict[str, Any]:
    """The ticker's push: a new ticket, or now and then (Open) the previous one again."""
    return _deliver_ticket(pusher, app, state.repeat_ticket(app) or state.issue_ticket(app))


def _deliver_ticket(pusher: Pusher, app: App, ticket: Ticket) -> dict[str, Any]:
    if app.platform == WECOM:
        plaintext = payloads.wecom_suite_ticket(app.app_id, ticket.value, wire_time())
        return pusher.deliver(app, "ticket", COMMAND, plaintext)
    plaintext = payloads.open_verify_ticket(app.app_id, ticket.value, wire_time())
    return pusher.deliver(app, "ticket", AUTH, plaintext)


def push_install(
    state: SandboxState,
    pusher: Pusher,
    app: App,
    tenant: Tenant,
    code: Code,
    pre_auth_code: str,
    install_state: str = "",
    extra_info: str = "",
    info_type: str | None = None,
) -> dict[str, Any]:
    """Tell our server about a new authorization carrying `code`: WeCom create_auth (market
    installs only, wecom-suite.md §3) or Open authorized / updateauthorized (open-platform.md
    §2)."""
    if app.platform == WECOM:
        # create_auth is the only install push WeCom has (§3).
        plaintext = payloads.wecom_create_auth(
            app.app_id, code.value, wire_time(), install_state, extra_info
        )
        result = pusher.deliver(app, "create_auth", COMMAND, plaintext, tenant)
    else:
        info_type = info_type if info_type in ("authorized", "updateauthorized") else "authorized"
        ttl = code.expires_at - code.issued_at
        plaintext = payloads.open_authorized(
            info_type, app.app_id, tenant.tenant_id, code.value, ttl, pre_auth_code, wire_time()
        )
        result = pusher.deliver(app, info_type, AUTH, plaintext, tenant)
    return {**result, "auth_code": code.value}


def push_change_auth(
    state: SandboxState, pusher: Pusher, app: App, tenant: Tenant, fields: dict | None = None
) -> dict[str, Any]:
    """wecom-suite.md §3 change_auth: the corp changed scope or permissions; nothing dies."""
    _require(app, WECOM, tenant)
    plaintext = payloads.wecom_corp_event(
        "change_auth", app.app_id, tenant.tenant_id, wire_time(), fields
    )
    return pusher.deliver(app, "change_auth", COMMAND, plaintext, tenant)


def push_revoke(state: SandboxState, pusher: Pusher, app: App, tenant: Tenant) -> dict[str, Any]:
    """cancel_auth (WeCom) / unauthorized (Open): the credential and tenant tokens die first."""
    _require(app, app.platform, tenant)
    auth.revoke(state, tenant)
    if app.platform == WECOM:
        plaintext = payloads.wecom_corp_event(
            "cancel_auth", app.app_id, tenant.tenant_id, wire_time()
        )
        return pusher.deliver(app, "cancel_auth", COMMAND, plaintext, tenant)
    plaintext = payloads.open_unauthorized(app.app_id, tenant.tenant_id, wire_time())
    return pusher.deliver(app, "unauthorized", AUTH, plaintext, tenant)


def push_reauthorize(
    state: SandboxState, pusher: Pusher, app: App, tenant: Tenant, func_ids: list[int] | None = None
) -> dict[str, Any]:
    """WeCom reset_permanent_code / Open updateauthorized: a new credential behind a new code;
    the old credential dies now (open-platform.md §7.5 "always overwrite")."""
    _require(app, app.platform, tenant)
    tenant = auth.authorize(state, app, tenant.tenant_id, "", func_ids=func_ids)
    code = auth.issue_auth_code(state, app, tenant)
    if app.platform == WECOM:
        plaintext = payloads.wecom_reset_permanent_code(app.app_id, code.value, wire_time())
        result = pusher.deliver(app, "reset_permanent_code", COMMAND, plaintext, tenant)
        return {**result, "auth_code": code.value}
    # The push's PreAuthCode field names the (already used) code of the approval behind it.
    pre_auth = auth.issue_pre_auth_code(state, app)
    with state.lock:
        pre_auth.used = True
    return push_install(
        state, pusher, app, tenant, code, pre_auth.value, info_type="updateauthorized"
    )


def push_change_contact(
    state: SandboxState,
    pusher: Pusher,
    app: App,
    tenant: Tenant,
    change_type: str = "create_user",
    fields: dict | None = None,
) -> dict[str, Any]:
    _require(app, WECOM, tenant)
    plaintext = payloads.wecom_change_contact(
        app.app_id, tenant.tenant_id, wire_time(), change_type, fields
    )
    return pusher.deliver(app, "change_contact", COMMAND, plaintext, tenant)


def push_message(
    state: SandboxState,
    pusher: Pusher,
    app: App,
    tenant: Tenant,
    kind: str,
    from_user: str | None = None,
    content: str = "hello",
    event: str = "subscribe",
    msg_id: int | None = None,
    fields: dict | None = None,
) -> dict[str, Any]:
    """A user's text message or an event, inside a corp (WeCom data URL) or to an account
    (Open message URL, with `openid` in the query)."""
    _require(app, app.platform, tenant)
    now = wire_time()
    msg_id = msg_id or new_msg_id(state, now)
    if app.platform == WECOM:
        user = from_user or "zhangsan"
        if kind == "text":
            plaintext = payloads.wecom_text(
                tenant.tenant_id, user, content, msg_id, tenant.agent_id, now
            )
        else:
            plaintext = payloads.wecom_event(
                tenant.tenant_id, user, event, tenant.agent_id, now, fields
            )
        return pusher.deliver(app, kind, DATA, plaintext, tenant)
    openid = from_user or "o" + secrets.token_urlsafe(20)[:27]
    if kind == "text":
        plaintext = payloads.open_text(tenant.user_name, openid, content, msg_id, now)
    else:
        plaintext = payloads.open_event(tenant.user_name, openid, event, now, fields)
    return pusher.deliver(app, kind, MSG, plaintext, tenant, openid=openid)


def new_msg_id(state: SandboxState, create_time: int) -> int:
    """A MsgId as the platform makes them: CreateTime in the high 32 bits, 32 other bits below
    (wecom-suite.md §2 vector D, a real capture: 6972028683187026694 >> 32 == 1623301925)."""
    with state.lock:
        return (create_time << 32) | state.random.getrandbits(32)


def _require(app: App, platform: str, tenant: Tenant) -> None:
    if app.platform != platform:
        raise EventError(400, f"this push is for {platform} apps")
    if not tenant.active:
        raise EventError(409, f"tenant {tenant.tenant_id} has revoked its authorization")
