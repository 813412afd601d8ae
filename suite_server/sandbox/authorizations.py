"""A tenant's authorization over its life: granted, re-granted, codes issued and redeemed, revoked.

Platform rules shared by both (wecom-suite.md §3-§4, open-platform.md §4.4, §8):
* auth codes are single use and expire; a code from an older authorization is dead too;
* re-authorizing an existing tenant issues a NEW credential (permanent code / refresh token) and
  the old one dies at once;
* revoking (cancel_auth / unauthorized) kills the credential and every tenant token.
"""

from __future__ import annotations

import secrets
from typing import Any

from suite_server.sandbox.state import OPEN, WECOM, App, Code, SandboxState, Tenant

OK, UNKNOWN, EXPIRED, USED = "ok", "unknown", "expired", "used"


def new_credential(app: App) -> str:
    if app.platform == OPEN:
        return "refreshtoken@@@" + secrets.token_urlsafe(32)  # open-platform.md §4.4 format
    return secrets.token_urlsafe(32)  # a WeCom permanent_code is an opaque string


def new_tenant_id(platform: str) -> str:
    """A corpid (`ww…`) or an authorizer appid (`wx…`), shaped like the real ones."""
    return ("ww" if platform == WECOM else "wx") + secrets.token_hex(8)


def authorize(state: SandboxState, app: App, tenant_id: str, name: str, **details: Any) -> Tenant:
    """Create the tenant, or re-authorize it (new credential, the old one dead, new generation)."""
    with state.lock:
        now = state.now()
        tenant = state.tenants.get((app.app_id, tenant_id))
        if tenant is None:
            tenant = Tenant(
                app_id=app.app_id,
                tenant_id=tenant_id,
                name=name or tenant_id,
                credential=new_credential(app),
                authorized_at=now,
                first_authorized_at=now,
            )
            if app.platform == WECOM:
                tenant.agent_id = state.next_agent_id()
                tenant.installer = "admin"
            else:
                tenant.user_name = "gh_" + secrets.token_hex(6)
                tenant.func_ids = [1, 2, 3, 4, 7, 11, 15]
            state.tenants[(app.app_id, tenant_id)] = tenant
        else:
            tenant.generation += 1
            tenant.credential = new_credential(app)
            tenant.authorized_at = now
            tenant.active = True
            tenant.exchanged = False
            if name:
                tenant.name = name
        for attr, value in details.items():
            if value is not None:
                setattr(tenant, attr, value)
        return tenant


def revoke(state: SandboxState, tenant: Tenant) -> None:
    """cancel_auth / unauthorized: the credential and every tenant token die."""
    with state.lock:
        tenant.active = False
        tenant.credential = ""
        state.tokens.revoke(tenant.app_id, tenant.tenant_id)


def issue_auth_code(state: SandboxState, app: App, tenant: Tenant) -> Code:
    settings = state.settings
    if app.platform == OPEN:
        ttl, prefix = settings.open_auth_code_ttl, "queryauthcode@@@"  # open-platform.md §2
    else:
        ttl, prefix = settings.wecom_auth_code_ttl, ""
    return state.new_code(
        "auth", app, ttl, prefix, tenant_id=tenant.tenant_id, generation=tenant.generation
    )


def redeem_auth_code(state: SandboxState, app: App, value: str) -> tuple[str, Tenant | None]:
    """(OK, tenant) and the code is used up; else (UNKNOWN | EXPIRED | USED, None)."""
    with state.lock:
        code = state.codes.get(value)
        if code is None or code.kind != "auth" or code.app_id != app.app_id:
            return UNKNOWN, None
        if code.used:
            return USED, None
        if state.now() >= code.expires_at:
            return EXPIRED, None
        tenant = state.tenants.get((app.app_id, code.tenant_id or ""))
        if tenant is None or not tenant.active or tenant.generation != code.generation:
            return UNKNOWN, None  # the authorization it carried was revoked or replaced
        code.used = True
        tenant.exchanged = True
        return OK, tenant


def issue_pre_auth_code(state: SandboxState, app: App) -> Code:
    settings = state.settings
    if app.platform == OPEN:
        return state.new_code("pre_auth", app, settings.open_pre_auth_code_ttl, "preauthcode@@@")
    return state.new_code("pre_auth", app, settings.wecom_pre_auth_code_ttl)


def check_pre_auth_code(state: SandboxState, app: App, value: str) -> tuple[str, Code | None]:
    """(OK, code) while it can still be used; else (UNKNOWN | EXPIRED | USED, code or None)."""
    with state.lock:
        code = state.codes.get(value)
        if code is None or code.kind != "pre_auth" or code.app_id != app.app_id:
            return UNKNOWN, None
        if code.used:
            return USED, code
        if state.now() >= code.expires_at:
            return EXPIRED, code
        return OK, code
