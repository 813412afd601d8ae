"""/api/v1, the token API the ISV's other services call (docs/api.md, checked against these
routes by tests/test_docs.py).

Every request needs `Authorization: Bearer <API key>` (auth.py). Every answer is JSON, errors
included: {"error": {"code", "message"}} with 400 bad_request, 401 unauthorized (with
WWW-Authenticate: Bearer), 403 forbidden (an app outside the key's scope, audited), 404
not_found, 405 method_not_allowed, or a TokenUnavailable's own status and code (409
tenant_cancelled / tenant_needs_reauth, 503 with Retry-After when trying again later may help,
502 when the platform refused our settings or answered wrongly).
Nothing secret is logged: no token, no key, only ids.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from suite_server import db
from suite_server.api import auth, queries, token_cache
from suite_server.apps import overview
from suite_server.db import utcnow
from suite_server.errors import BadNumber
from suite_server.models import App, Tenant
from suite_server.models.tenants import STATUSES
from suite_server.tokens.service import (
    Served,
    TokenRow,
    TokenUnavailable,
    refresh_app_token,
    refresh_tenant_token,
    serve_app_token,
    serve_tenant_token,
)
from suite_server.whole_numbers import whole_number

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_ID, MAX_QUERY = 64, 100  # app and tenant ids are at most 64 characters (models)
MAX_BODY = 16 * 1024
# Seconds a client should wait before asking again after a 503: another process's refresh is
# done within a second or two; a busy platform or a missing ticket takes longer.
RETRY_AFTER = {"refresh_in_progress": 1, "no_ticket": 60}
RETRY_AFTER_DEFAULT = 5


def _route(rule: str, method: str = "GET"):
    # No redirect from "//" to "/" (Werkzeug's default): a wrong URL is a 404 here, in JSON.
    return bp.route(rule, methods=[method], merge_slashes=False)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# -- auth and errors ---------------------------------------------------------------------------


@bp.before_request
def authenticate() -> None:
    # Before anything is read: what this request reads of a token that changes meanwhile is not
    # cached (token_cache.py).
    g.token_mark = token_cache.mark()
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <API key>")
    g.caller = auth.authenticate(_session, key.strip())
    if g.caller is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    g.api_key_id = g.caller.key_id
    # Checked here, before any view or cache, from the scope remembered with the key (a
    # provider account is in scope by its corpid).
    view_args = request.view_args or {}
    app_id = view_args.get("app_id", view_args.get("corpid"))
    if app_id is not None and not g.caller.may_use(app_id):
        auth.record_refusal(_session(), g.caller, app_id, request.method, request.path)
        raise ApiError(403, "forbidden", f"this API key may not use app {app_id[:MAX_ID]!r}")


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"  # tokens must not sit in a proxy's cache
    return response


@bp.errorhandler(ApiError)
def refused(exc: ApiError) -> Response:
    return _error(exc.status, exc.code, exc.message)


@bp.errorhandler(TokenUnavailable)
def unavailable(exc: TokenUnavailable) -> Response:
    log.warning("api key %s: %s %s: %s", g.get("api_key_id"), request.path, exc.code, exc.message)
    response = _error(exc.http_status, exc.code, exc.message)
    if exc.http_status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER.get(exc.code, RETRY_AFTER_DEFAULT))
    return response


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException):
    """JSON for every HTTP error under /api/: those of our views (a bad body, a 500 in
    production) and the routing failures, which belong to no blueprint (an unknown URL, a wrong
    method). Registered on the app for that reason; any other path keeps Flask's default, and
    a blueprint's own handler still comes first for its URLs."""
    if not (request.path == "/api" or request.path.startswith("/api/")):
        return exc
    status = exc.code or 500
    response = _error(status, (exc.name or "error").lower().replace(" ", "_"), exc.description)
    for name, value in exc.get_headers():
        if name.lower() in ("allow", "retry-after"):
            response.headers[name] = value
    return response


def _session() -> Session:
    """The request's session, its reads (key, tenant, token) in autocommit: no BEGIN and
    ROLLBACK round trips around them. A refresh commits that first transaction before it
    writes, so its writes still go in one transaction (tokens/service.py). A request answered
    from the caches (auth.py, token_cache.py) never asks for it, and uses no connection."""
    session = db.session()
    if not session.in_transaction():
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return session


def _error(status: int, code: str, message: str | None) -> Response:
    response = jsonify(error={"code": code, "message": message or code})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


# -- apps --------------------------------------------------------------------------------------


@_route("/apps")
def apps() -> Response:
    """Every app the key may use, with its ticket age and state and its app token's expiry
    (never a secret)."""
    return jsonify(apps=[a for a in overview(_session()) if g.caller.may_use(a["app_id"])])


@_route("/apps/<app_id>/access-token")
def app_access_token(app_id: str) -> Response:
    served = token_cache.get((app_id,))
    if served is None:
        served = _cached((app_id,), serve_app_token, _session(), _app(app_id))
    return _token(served)


# -- tenants -----------------------------------------------------------------------------------


@_route("/apps/<app_id>/tenants")
def tenants(app_id: str) -> Response:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(400, "bad_request", f"status must be one of {', '.join(STATUSES)}")
    q = request.args.get("q") or None
    if q is not None and (len(q) > MAX_QUERY or "\x00" in q):
        raise ApiError(400, "bad_request", f"q must be at most {MAX_QUERY} characters")
    limit = _limit(request.args.get("limit"))
    app = _app(app_id)
    try:
        page = queries.tenant_page(
            _session(), app, status=status, q=q, cursor=request.args.get("cursor"), limit=limit
        )
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    return jsonify(tenants=page.tenants, next_cursor=page.next_cursor)


@_route("/apps/<app_id>/tenants/<tenant_id>")
def tenant(app_id: str, tenant_id: str) -> Response:
    app = _app(app_id)
    found = queries.tenant_detail(_session(), app, tenant_id) if _id_ok(tenant_id) else None
    if found is None:
        raise _unknown_tenant(app_id, tenant_id)
    return jsonify(found)


@_route("/apps/<app_id>/tenants/<tenant_id>/access-token")
def tenant_access_token(app_id: str, tenant_id: str) -> Response:
    served = token_cache.get((app_id, tenant_id))
    if served is None:
        tenant, _app_kept, known = _tenant(app_id, tenant_id)
        served = _cached((app_id, tenant_id), serve_tenant_token, _session(), tenant, known=known)
    return _token(served)


@_route("/apps/<app_id>/tenants/<tenant_id>/access-token/refresh", "POST")
def tenant_access_token_refresh(app_id: str, tenant_id: str) -> Response:
    """The caller's platform call failed with 40001/42001/40014 using `stale_token`: refresh
    only if that is still the current token; many such callers cause one upstream refresh."""
    stale_token = _stale_token()
    tenant, _app_kept, _known = _tenant(app_id, tenant_id)
    served = _cached((app_id, tenant_id), refresh_tenant_token, _session(), tenant, stale_token)
    return _token(served)


# -- provider accounts -------------------------------------------------------------------------
# Cached under a key no app or tenant id can have ("~" is not in ids).


@_route("/providers/<corpid>/access-token")
def provider_access_token(corpid: str) -> Response:
    served = token_cache.get(("~provider", corpid))
    if served is None:
        served = _cached(("~provider", corpid), serve_app_token, _session(), _provider(corpid))
    return _token(served)


@_route("/providers/<corpid>/access-token/refresh", "POST")
def provider_access_token_refresh(corpid: str) -> Response:
    """A provider API answered that `stale_token` is dead: refresh only if it is still the
    current one; many such callers cause one upstream refresh."""
    stale_token = _stale_token()
    provider = _provider(corpid)
    served = _cached(("~provider", corpid), refresh_app_token, _session(), provider, stale_token)
    return _token(served)


# -- helpers -----------------------------------------------------------------------------------


def _stale_token() -> str:
    request.max_content_length = MAX_BODY  # a larger body is a 413 before it is read
    body = request.get_json(force=True, silent=True)
    stale_token = body.get("stale_token") if isinstance(body, dict) else None
    if not isinstance(stale_token, str) or not stale_token:
        raise ApiError(
            400, "bad_request", 'send a JSON body {"stale_token": "<the token that failed>"}'
        )
    return stale_token


def _provider(corpid: str) -> App:
    provider = queries.find_app(_session(), corpid, "provider") if _id_ok(corpid) else None
    if provider is None:
        raise ApiError(404, "not_found", f"no provider {corpid[:MAX_ID]!r}")
    return provider


def _cached(key: token_cache.Key, serve, *args, **kwargs) -> Served:
    """serve(...)'s token, remembered for the next readers unless it changed since the request
    began; a token that can no longer be served (a cancelled tenant, say) is forgotten at once
    in this process."""
    try:
        served = serve(*args, **kwargs)
    except TokenUnavailable:
        token_cache.forget(key)
        raise
    token_cache.put(key, served, g.token_mark)
    return served


def _token(served: Served) -> Response:
    return jsonify(
        access_token=served.access_token,
        expires_at=served.expires_at.isoformat(),
        expires_in=served.expires_in(utcnow()),
    )


def _id_ok(value: str) -> bool:
    # Longer than any stored id, or a NUL PostgreSQL refuses in a parameter: no such row.
    return 0 < len(value) <= MAX_ID and "\x00" not in value


def _app(app_id: str) -> App:
    app = queries.find_app(_session(), app_id) if _id_ok(app_id) else None
    if app is None:
        raise ApiError(404, "not_found", f"no app {app_id[:MAX_ID]!r}")
    return app


def _tenant(app_id: str, tenant_id: str) -> tuple[Tenant, App, TokenRow | None]:
    found = None
    if _id_ok(app_id) and _id_ok(tenant_id):
        found = queries.find_tenant(_session(), app_id, tenant_id)
    if found is None:
        _app(app_id)  # an unknown app is told apart from an unknown tenant
        raise _unknown_tenant(app_id, tenant_id)
    return found


def _unknown_tenant(app_id: str, tenant_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no tenant {tenant_id[:MAX_ID]!r} of app {app_id!r}")


def _limit(value: str | None) -> int:
    try:
        return whole_number(
            value, "limit", minimum=1, maximum=queries.MAX_PAGE, default=queries.PAGE_SIZE
        )
    except BadNumber as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
