"""JS-SDK tickets and page signatures (docs/gateway.md "JS-SDK tickets and signatures").

A tenant's ticket of each kind is a row of jsapi_tickets kept by the token engine exactly like a
token (tokens/store.py: one refresher per row, compare-and-set writes): fetched on first demand,
never in the background (the platforms limit how often a ticket may be fetched: WeCom 400 an
hour per corp and 100 per app), and fetched again only when it can no longer be served.

- WeCom `corp` (get_jsapi_ticket, for wx.config) and `agent` (ticket/get?type=agent_config, for
  wx.agentConfig), with the corp's token; Open `jsapi` and `wx_card` (ticket/getticket), with
  the authorizer's token.
- WeCom tickets are served like WeCom tokens, down to their last seconds (policy.py
  SAME_UNTIL_EXPIRY): the platform's notes only say to cache them for their 7200 s, and asking
  earlier would spend the hourly budget on a ticket that is still valid. Open tickets are
  served like Open tokens, while TOKEN_MIN_REMAINING remains.
- The tenant token comes from the token service. When the platform refuses it (WeCom
  40014/42001, Open 40001/40014/42001) it is refreshed once, as `stale_token` does, and the
  ticket call is sent once more.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from suite_server.errors import TokenUnavailable, UpstreamError
from suite_server.models import App, JsapiTicket, Tenant
from suite_server.tokens import policy, store
from suite_server.tokens.service import Served, refresh_tenant_token, serve_tenant_token
from suite_server.upstream import api_for

log = logging.getLogger(__name__)

KINDS = {"wecom": ("corp", "agent"), "open": ("jsapi", "wx_card")}


def kinds_of(platform: str) -> tuple[str, ...]:
    """The ticket kinds of a platform's tenants."""
    return KINDS.get(platform, ())


def serve_ticket(session: Session, tenant: Tenant, kind: str) -> Served:
    """The tenant's ticket of `kind` (`access_token` holds it), fetched once per lifetime
    however many ask. Raises TokenUnavailable (409 for a tenant that is not active), and
    ValueError for a kind its platform does not have (check kinds_of first)."""
    active(tenant)
    app = session.get(App, tenant.app_pk)
    if kind not in kinds_of(app.platform):
        raise ValueError(f"no {kind!r} ticket on {app.platform}")
    api = api_for(app.platform, current_app.config)

    def fetch(_row):
        if kind == "corp":
            ticket = with_tenant_token(session, tenant, api.get_jsapi_ticket)
        elif kind == "agent":
            ticket = with_tenant_token(session, tenant, api.get_agent_ticket)
        else:
            ticket = with_tenant_token(session, tenant, lambda token: api.get_ticket(token, kind))
        return ticket.access_token, ticket.expires_in, None

    return store.obtain(
        session,
        JsapiTicket,
        "tenant_pk",
        tenant.id,
        policy.unusable,
        fetch,
        app.platform in policy.SAME_UNTIL_EXPIRY,
        key={"kind": kind},
        app_id=app.app_id,
    )


def with_tenant_token(session: Session, tenant: Tenant, call: Callable[[str], Any]) -> Any:
    """Run `call(tenant token)`; when the platform refuses the token, refresh it once (only if
    it is still the current one) and run the call once more. Any other refusal is a
    TokenUnavailable, except a refused sign-in code, which stays the UpstreamError it is."""
    served = serve_tenant_token(session, tenant)
    try:
        try:
            return call(served.access_token)
        except UpstreamError as exc:
            if exc.kind != "token":
                raise
            log.info("tenant %s: its token was refused (%s); refreshing it once", tenant.id, exc)
        return call(refresh_tenant_token(session, tenant, served.access_token).access_token)
    except UpstreamError as exc:
        if exc.kind == "code":
            raise
        raise store.unavailable(exc) from None


def active(tenant: Tenant) -> None:
    """TokenUnavailable (409) unless the tenant is active, as for its token."""
    if tenant.status != "active":
        raise TokenUnavailable(
            f"tenant_{tenant.status}",
            f"tenant is {tenant.status}"
            + (f": {tenant.status_reason}" if tenant.status_reason else ""),
            409,
        )


def sign(ticket: str, url: str, noncestr: str, timestamp: int | str) -> str:
    """The JS-SDK signature: sha1 of `jsapi_ticket=..&noncestr=..&timestamp=..&url=..` in that
    order, nothing encoded, the url without its #fragment (WeCom doc/96909, the same on Open)."""
    page = url.split("#", 1)[0]
    text = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={page}"
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def agent_id(tenant: Tenant) -> int | None:
    """The app's agentid inside a WeCom corp, from the authorization's auth_info agent list."""
    info = tenant.auth_info or {}
    inner = info.get("auth_info") if isinstance(info, dict) else None
    agents = inner.get("agent") if isinstance(inner, dict) else None
    for agent in agents if isinstance(agents, list) else []:
        value = agent.get("agentid") if isinstance(agent, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None
