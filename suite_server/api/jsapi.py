"""JS-SDK tickets and page signatures for a tenant (docs/api.md, docs/gateway.md): the ticket
itself for services that sign on their own, and the signature for those that would rather the
ticket never left here."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Response, jsonify, request

from suite_server.api import token_cache
from suite_server.api.routes import MAX_BODY, ApiError, _cached, _route, _session, _tenant
from suite_server.db import utcnow
from suite_server.gateway import tickets

MAX_URL = 2048  # a page URL longer than this is not one a browser signs a JS-SDK call for


@_route("/apps/<app_id>/tenants/<tenant_id>/jsapi-ticket")
def jsapi_ticket(app_id: str, tenant_id: str) -> Response:
    kind = request.args.get("type") or ""
    served = token_cache.get(_key(app_id, tenant_id, kind))
    if served is None:
        served = _ticket(app_id, tenant_id, kind)[0]
    return jsonify(
        ticket=served.access_token,
        expires_at=served.expires_at.isoformat(),
        expires_in=served.expires_in(utcnow()),
    )


@_route("/apps/<app_id>/tenants/<tenant_id>/jsapi-signature", "POST")
def jsapi_signature(app_id: str, tenant_id: str) -> Response:
    request.max_content_length = MAX_BODY
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", 'send a JSON body {"url": ..., "type": ...}')
    url, kind = body.get("url"), body.get("type")
    if not isinstance(url, str) or not _page_url(url):
        raise ApiError(
            400, "bad_request", f"url must be the page's http(s) URL, at most {MAX_URL} characters"
        )
    served, tenant, app = _ticket(app_id, tenant_id, kind if isinstance(kind, str) else "")
    nonce, timestamp = secrets.token_hex(8), int(utcnow().timestamp())
    signed = {
        "timestamp": timestamp,
        "nonceStr": nonce,
        "signature": tickets.sign(served.access_token, url, nonce, timestamp),
    }
    if app.platform == "open":
        return jsonify(appId=tenant.tenant_id, **signed)
    if kind == "corp":
        return jsonify(corpId=tenant.tenant_id, **signed)
    agent_id = tickets.agent_id(tenant)
    if agent_id is None:
        raise ApiError(
            409, "no_agent", "the tenant's authorization names no agentid (re-read its auth info)"
        )
    return jsonify(corpId=tenant.tenant_id, agentId=agent_id, **signed)


def _ticket(app_id: str, tenant_id: str, kind: str):
    """(the ticket as served, the tenant, its app); 400 for a kind its platform lacks."""
    tenant, app, _known = _tenant(app_id, tenant_id)
    kinds = tickets.kinds_of(app.platform)
    if kind not in kinds:
        raise ApiError(400, "bad_request", f"type must be one of {', '.join(kinds)}")
    key = _key(app_id, tenant_id, kind)
    served = token_cache.get(key) or _cached(key, tickets.serve_ticket, _session(), tenant, kind)
    return served, tenant, app


def _key(app_id: str, tenant_id: str, kind: str) -> token_cache.Key:
    # "~" is in no id: no app or tenant token shares this key.
    return ("~jsapi", app_id, tenant_id, kind)


def _page_url(url: str) -> bool:
    if not 0 < len(url) <= MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # a malformed [IPv6] host
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)
