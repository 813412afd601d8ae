"""The tenant gateway's proxy routes (docs/gateway.md "Proxy", docs/api.md): any method at

- /api/v1/apps/<app_id>/tenants/<tenant_id>/proxy/<path>: with the tenant's token (WeCom corp
  access_token, Open authorizer access_token), as `access_token`;
- /api/v1/apps/<app_id>/proxy/<path>: with the app token (`suite_access_token` for a WeCom suite
  or customized-app template, `component_access_token` for an Open component);
- /api/v1/providers/<corpid>/proxy/<path>: with the provider token (`provider_access_token`, or
  `access_token` for the provider APIs that name it so: gateway/proxy.py).

Here: the HTTP side (ids, the key's path prefixes, the caller's query and body, the answer as a
Flask response); the call itself, its one retry on a dead token and its limits are
gateway/proxy.py's, the errcode bookkeeping gateway/errcodes.py's. The tokens come from the
token API's own cache and service, so a proxied call costs no query while its token is hot.

Refusals (JSON, docs/api.md "Errors"): 400 a path outside the platform's API trees, a token
parameter in the query; 403 a path outside the key's prefixes (audited); 404 unknown ids; 409 an
inactive tenant; 413 a body over MAX_BODY; 502 / 504 no answer from the platform (never re-sent).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Response, current_app, g, request

from suite_server.api import auth, routes, token_cache
from suite_server.api.routes import ApiError, bp
from suite_server.cache import Cache
from suite_server.errors import NoAnswer, TooLarge
from suite_server.gateway import errcodes
from suite_server.gateway import proxy as gateway
from suite_server.tokens.service import (
    refresh_app_token,
    refresh_tenant_token,
    serve_app_token,
    serve_tenant_token,
)

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
MAX_BODY = 20 * 1024 * 1024  # WeCom's largest upload (a file) is 20 MB
OWNER_SECONDS = 60.0  # an app's platform and kind never change; a deleted app is gone in 60 s
BASE = {"wecom": "WECOM_API_BASE", "open": "WECHAT_API_BASE"}

_owners = Cache("suite_server.proxy_owners")


@dataclass(frozen=True)
class Owner:
    """The app or provider account whose token a call uses, as the proxy needs it."""

    pk: int
    app_id: str
    platform: str
    kind: str  # the App's kind: suite, template, component, provider


def _route(rule: str):
    return bp.route(rule, methods=METHODS, merge_slashes=False)


@_route("/apps/<app_id>/tenants/<tenant_id>/proxy/<path:path>")
def tenant_proxy(app_id: str, tenant_id: str, path: str) -> Response:
    owner = _owner(app_id)
    if not routes._id_ok(tenant_id):
        raise routes._unknown_tenant(app_id, tenant_id)
    kind = "corp" if owner.platform == "wecom" else "authorizer"
    key = (app_id, tenant_id)

    def serve() -> str:
        served = token_cache.get(key)
        if served is None:
            tenant, _app, known = routes._tenant(app_id, tenant_id)
            served = routes._cached(key, serve_tenant_token, routes._session(), tenant, known=known)
        return served.access_token

    def refresh(stale: str) -> str:
        tenant, _app, _known = routes._tenant(app_id, tenant_id)
        served = routes._cached(key, refresh_tenant_token, routes._session(), tenant, stale)
        return served.access_token

    return _proxy(owner, tenant_id, gateway.Target(owner.platform, kind, path), serve, refresh)


@_route("/apps/<app_id>/proxy/<path:path>")
def app_proxy(app_id: str, path: str) -> Response:
    owner = _owner(app_id)
    kind = "suite" if owner.platform == "wecom" else "component"
    return _app_token_proxy(owner, (app_id,), gateway.Target(owner.platform, kind, path))


@_route("/providers/<corpid>/proxy/<path:path>")
def provider_proxy(corpid: str, path: str) -> Response:
    owner = _owner(corpid, provider=True)
    target = gateway.Target("wecom", "provider", path)
    return _app_token_proxy(owner, ("~provider", corpid), target)


def _app_token_proxy(owner: Owner, key: token_cache.Key, target: gateway.Target) -> Response:
    """An app or provider token call; `key` is its entry in the token cache (routes.py)."""

    def find():
        if owner.kind == "provider":
            return routes._provider(owner.app_id)
        return routes._app(owner.app_id)

    def serve() -> str:
        served = token_cache.get(key)
        if served is None:
            served = routes._cached(key, serve_app_token, routes._session(), find())
        return served.access_token

    def refresh(stale: str) -> str:
        return routes._cached(key, refresh_app_token, routes._session(), find(), stale).access_token

    return _proxy(owner, "", target, serve, refresh)


def _proxy(
    owner: Owner,
    tenant_id: str,
    target: gateway.Target,
    serve: Callable[[], str],
    refresh: Callable[[str], str],
) -> Response:
    refusal = gateway.path_refusal(target.platform, target.path)
    if refusal is not None:
        raise ApiError(400, "bad_request", refusal)
    if not g.caller.may_call("/" + target.path):
        auth.record_refusal(
            routes._session(),
            g.caller,
            owner.app_id,
            request.method,
            request.path,
            reason="path outside the key's path prefixes",
        )
        raise ApiError(
            403, "forbidden", f"this API key may not call /{target.path} through the gateway"
        )
    sent = sorted(gateway.TOKEN_PARAMS.intersection(request.args))
    if sent:
        raise ApiError(400, "bad_request", f"send no {sent[0]}: suite-server adds the token itself")
    try:
        query = request.query_string.decode("ascii")
    except UnicodeDecodeError:
        raise ApiError(400, "bad_request", "percent-encode the query string") from None
    if (request.content_length or 0) > MAX_BODY:
        raise _too_large()
    token = serve()  # 404 unknown tenant, 409 inactive, 503 ... before the body is read
    body = _body()
    try:
        answer = gateway.forward(
            request.method,
            current_app.config[BASE[target.platform]],
            target,
            query,
            body,
            request.headers.get("Content-Type"),
            token,
            refresh,
        )
    except NoAnswer as exc:
        if exc.timed_out:
            raise ApiError(504, "upstream_timeout", f"no answer in time: {exc.errmsg}") from None
        raise ApiError(502, "upstream_unreachable", f"no answer: {exc.errmsg}") from None
    finally:
        if body is not None:
            body.close()
    errcodes.record(
        routes._session, owner.pk, owner.app_id, tenant_id, target.path, answer.errcodes
    )
    return _response(answer)


def _owner(app_id: str, provider: bool = False) -> Owner:
    """The app (or provider account), remembered for OWNER_SECONDS; 404 when there is none."""
    key = ("~provider", app_id) if provider else (app_id,)
    now = time.monotonic()
    owner = _owners.get(key, now)
    if owner is None:
        found = routes._provider(app_id) if provider else routes._app(app_id)
        owner = Owner(found.id, found.app_id, found.platform, found.kind)
        _owners.put(key, owner, now + OWNER_SECONDS)
    return owner


def _body() -> gateway.Body | None:
    """The request's body, kept to be sent again; None when there is none."""
    if request.content_length == 0 or (
        request.content_length is None
        and "chunked" not in request.headers.get("Transfer-Encoding", "").lower()
    ):
        return None
    request.max_content_length = MAX_BODY
    body = gateway.Body()
    try:
        body.fill(request.stream, MAX_BODY)
    except TooLarge:
        body.close()
        raise _too_large() from None
    if not len(body):
        body.close()
        return None
    return body


def _too_large() -> ApiError:
    return ApiError(
        413, "request_entity_too_large", f"a proxied body may be at most {MAX_BODY} bytes"
    )


def _response(answer: gateway.Answer) -> Response:
    if answer.content is not None:
        response = Response(answer.content, status=answer.status)
    else:
        response = Response(answer.stream, status=answer.status, direct_passthrough=True)
    del response.headers["Content-Type"]  # only the platform's, if it sent one
    for name, value in answer.headers.items():
        response.headers[name] = value
    if answer.retried:
        response.headers["X-Suite-Server-Retried"] = "1"
    return response
