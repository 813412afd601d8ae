"""WeCom's provider-level APIs and the 代开发 (customized-app) corp token (isv-capabilities.md §1,
§2; wecom-suite.md §4-§5). Like `wecom.py`: functions take the parsed request, raise ApiError with
WeCom's errcode, and return the body.

* get_provider_token: `{corpid, provider_secret}` -> `{provider_access_token, expires_in}`, no
  errcode on success, the same token while it is valid (doc/96237). Missing corpid 41002, missing
  provider_secret 41004, unknown corpid or wrong secret 40001 "invalid credential".
* get_customized_auth_url (doc/98744), on the provider token (41022 missing, 40082 invalid,
  42009 expired, each worded for the provider token): `{state, templateid_list}` -> a QR code
  URL on the sandbox, valid 864000 s. A state over 32 characters or not [a-zA-Z0-9] and an empty
  or over-long (> 9) templateid_list answer 40058 "invalid parameter"; a list that is not a list
  of strings 47001; an id that is not a `dk…` template of this provider 40086.
* gettoken (doc/97164): a template tenant's corp token from `corpid` + `corpsecret` (= the
  permanent code). Missing corpid 41002, missing corpsecret 41004, a corpid no template has a
  tenant for 40013, a wrong, reset or revoked secret 40001. The same token while it is valid, kept
  in the token book as kind `corp` under (template id, corpid), so the corp APIs take it.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from suite_server.sandbox.errors import ApiError
from suite_server.sandbox.state import (
    WECOM,
    CustomizedLink,
    Provider,
    SandboxState,
    Tenant,
    is_template,
)
from suite_server.sandbox.tokens import EXPIRED, VALID
from suite_server.sandbox.wecom import OK, text

CUSTOMIZED_STATE = re.compile(r"[A-Za-z0-9]{0,32}")  # doc/98744: ≤ 32 bytes of [a-zA-Z0-9]
MAX_TEMPLATES = 9  # doc/98744: templateid_list holds at most 9 ids
QR_TTL = 864000  # doc/98744: expires_in of the QR code link
MAX_LINKS = 10_000  # links kept before expired ones are forgotten


def get_provider_token(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    corpid, secret = text(body, "corpid"), text(body, "provider_secret")
    if not corpid:
        raise ApiError(41002)
    if not secret:
        raise ApiError(41004, "provider_secret missing")
    with state.lock:
        provider = state.provider(corpid)
        if provider is None or not _same(provider.secret, secret):
            raise ApiError(40001)
        now = state.now()
        token = state.tokens.same_or_new("provider", corpid, None, now, state.settings.token_ttl)
        return {"provider_access_token": token.value, "expires_in": token.remaining(now)}


def provider_from_token(state: SandboxState, value: str | None) -> Provider:
    """The provider whose provider_access_token this is: 41022 missing, 40082 invalid, 42009
    expired (the codes WeCom shares with the suite token, worded for this one)."""
    if not value:
        raise ApiError(41022, "provider_access_token missing")
    with state.lock:
        status, token = state.tokens.check(value, ("provider",), state.now())
        if status == EXPIRED:
            raise ApiError(42009, "provider_access_token expired")
        provider = state.provider(token.app_id) if status == VALID and token else None
        if provider is None:
            raise ApiError(40082)
        return provider


def get_customized_auth_url(
    state: SandboxState, provider: Provider, body: dict[str, Any], base_url: str
) -> dict[str, Any]:
    """A QR code link installing the templates; `base_url` is the sandbox's own (the page is
    `customized_install.py`)."""
    install_state = text(body, "state")
    if not CUSTOMIZED_STATE.fullmatch(install_state):
        raise ApiError(40058, "invalid parameter: state")
    ids = body.get("templateid_list")
    if ids is None:
        ids = []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ApiError(47001)
    if not 1 <= len(ids) <= MAX_TEMPLATES:
        raise ApiError(40058, "invalid parameter: templateid_list")
    with state.lock:
        for template_id in ids:
            app = state.app(template_id, WECOM)
            if app is None or not is_template(app) or app.provider_corpid != provider.corpid:
                raise ApiError(40086)
        now = state.now()
        if len(state.customized_links) >= MAX_LINKS:
            for key in [k for k, v in state.customized_links.items() if v.expires_at < now]:
                del state.customized_links[key]
        link = CustomizedLink(
            link_id=secrets.token_urlsafe(24),
            provider_corpid=provider.corpid,
            template_ids=list(dict.fromkeys(ids)),
            state=install_state,
            expires_at=now + QR_TTL,
        )
        state.customized_links[link.link_id] = link
    url = f"{base_url.rstrip('/')}/sandbox/customized_install?link={link.link_id}"
    return {**OK, "qrcode_url": url, "expires_in": QR_TTL}


def gettoken(state: SandboxState, corpid: str, corpsecret: str) -> dict[str, Any]:
    if not corpid:
        raise ApiError(41002)
    if not corpsecret:
        raise ApiError(41004)
    with state.lock:
        tenants = template_tenants(state, corpid)
        if not tenants:
            raise ApiError(40013)
        for tenant in tenants:
            if tenant.active and _same(tenant.credential, corpsecret):
                break
        else:
            raise ApiError(40001)
        now = state.now()
        token = state.tokens.same_or_new(
            "corp", tenant.app_id, tenant.tenant_id, now, state.settings.token_ttl
        )
        return {**OK, "access_token": token.value, "expires_in": token.remaining(now)}


def template_tenants(state: SandboxState, corpid: str) -> list[Tenant]:
    """The corp's authorizations of every 代开发 template (active or not)."""
    with state.lock:
        found = (state.tenants.get((app.app_id, corpid)) for app in state.apps.values())
        return [t for t in found if t is not None and is_template(state.apps[t.app_id])]


def _same(expected: str, given: str) -> bool:
    return secrets.compare_digest(expected.encode(), given.encode())
