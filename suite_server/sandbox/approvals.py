"""An admin approves an install (on the install page or headlessly): the pre-auth code is used
up, the authorization is created or renewed, an auth code is minted, and the platform answers the
way it does:

* WeCom (wecom-suite.md §4 install flow): 302 to `redirect_uri?auth_code=…&expires_in=600&state=…`;
  a create_auth push is sent ONLY for installs from the app market (§3), never for redirects.
* Open (open-platform.md §4.3, §8): 302 to `redirect_uri?auth_code=…&expires_in=3600` (no state
  parameter: the ISV puts its own into redirect_uri), AND an `authorized` push carrying the same
  code (`updateauthorized` when the account had authorized already, §2), so our server must cope
  with whichever arrives first.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from suite_server.sandbox import authorizations as auth
from suite_server.sandbox import events
from suite_server.sandbox.events import EventError
from suite_server.sandbox.runtime import Sandbox
from suite_server.sandbox.state import OPEN, WECOM, App

REDIRECT, MARKET = "redirect", "market"
TENANT_ID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
ACCOUNT_TYPES = ("official_account", "mini_program")


def approve(
    sandbox: Sandbox,
    app: App,
    *,
    tenant_id: str | None = None,
    name: str = "",
    pre_auth_code: str | None = None,
    via: str = REDIRECT,
    redirect_uri: str | None = None,
    install_state: str | None = None,
    account_type: str | None = None,
    func_ids: list[int] | None = None,
    background_push: bool = False,
    info_type: str | None = None,
) -> dict[str, Any]:
    """Approve one install; EventError(400) when the request cannot be approved. Open pushes
    `authorized`, or `updateauthorized` when the account had authorized already (unless
    `info_type` says which)."""
    state = sandbox.state
    if via not in (REDIRECT, MARKET):
        raise EventError(400, "via must be redirect or market")
    if tenant_id is not None and not TENANT_ID.fullmatch(tenant_id):
        raise EventError(400, "tenant_id must be 1-64 letters, digits or _.@-")
    if account_type is not None and account_type not in ACCOUNT_TYPES:
        raise EventError(400, f"account_type must be one of {', '.join(ACCOUNT_TYPES)}")
    with state.lock:
        code = None
        if pre_auth_code is not None:
            status, code = auth.check_pre_auth_code(state, app, pre_auth_code)
            if status != auth.OK or code is None:
                raise EventError(400, f"pre_auth_code is {status}")
            if code.biz_appid and tenant_id not in (None, code.biz_appid):
                raise EventError(400, f"only {code.biz_appid} may approve this request (biz_appid)")
            tenant_id = tenant_id or code.biz_appid or None
            code.used = True
        redirect_state = (
            install_state if install_state is not None else (code.state if code else "")
        )
        if app.platform == WECOM:
            details: dict[str, Any] = {"install_state": redirect_state}
        else:
            details = {"account_type": account_type, "func_ids": func_ids}
        tenant_id = tenant_id or auth.new_tenant_id(app.platform)
        before = state.tenant(app.app_id, tenant_id)
        if info_type is None:
            renewed = before is not None and before.active
            info_type = "updateauthorized" if renewed else "authorized"
        tenant = auth.authorize(state, app, tenant_id, name[:128], **details)
        auth_code = auth.issue_auth_code(state, app, tenant)
        redirect_uri = redirect_uri or (code.redirect_uri if code else None)
        if code is None:
            # A push still names a pre-auth code (open-platform.md §2 PreAuthCode): a used one.
            code = auth.issue_pre_auth_code(state, app)
            code.used = True
        pre_auth_value = code.value

    expires_in = int(auth_code.expires_at - auth_code.issued_at)
    result: dict[str, Any] = {
        "tenant_id": tenant.tenant_id,
        "auth_code": auth_code.value,
        "expires_in": expires_in,
        "redirect_url": None,
        "push": None,
    }
    market = app.platform == WECOM and via == MARKET
    if redirect_uri and not market:
        params = {"auth_code": auth_code.value, "expires_in": expires_in}
        if app.platform == WECOM:
            params["state"] = redirect_state
        result["redirect_url"] = add_query(redirect_uri, params)
    if market or app.platform == OPEN:

        def push() -> dict[str, Any]:
            return events.push_install(
                state,
                sandbox.pusher,
                app,
                tenant,
                auth_code,
                pre_auth_value,
                install_state=tenant.install_state,
                info_type=info_type,
            )

        if background_push:
            sandbox.pusher.deliver_later(push)
        else:
            result["push"] = push()
    return result


def add_query(url: str, params: dict[str, Any]) -> str:
    """Append query parameters to a URL that may already have some."""
    parts = urlsplit(url)
    extra = urlencode(params)
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))
