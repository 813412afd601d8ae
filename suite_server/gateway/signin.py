"""Sign-in code exchanges (docs/gateway.md "Sign-in"): a code the platform gave a user's browser
or mini program, exchanged with the credential kept here for who the user is.

- WeCom member codes: service/auth/getuserinfo3rd with the suite token, and the member's
  details behind its user_ticket (service/auth/getuserdetail3rd); a customized template's
  (代开发) with the corp's own auth/getuserinfo and the corp token (getuserinfo3rd refuses
  代开发 apps). Third-party mini programs: service/miniprogram/jscode2session, suite token.
- Open, on behalf of an authorizer account: sns/oauth2/component/access_token (and its
  refresh_token) for web pages, sns/component/jscode2session for mini programs, both with the
  component token.

Answers are the platform's fields as they are, errcode/errmsg left out. A code the platform
refuses (used, expired, another app's) stays the UpstreamError of kind "code" it is, for the API
to answer 400; a refused app or tenant token is refreshed once and the exchange sent once more;
any other failure is a TokenUnavailable. What comes back (user ids, session keys, user tokens)
belongs to the end user: nothing of it is logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from suite_server.errors import UpstreamError
from suite_server.gateway.tickets import active, with_tenant_token
from suite_server.models import App, Tenant
from suite_server.tokens.service import with_app_token
from suite_server.tokens.store import unavailable
from suite_server.upstream import api_for


def wecom_userinfo(session: Session, app: App, code: str) -> dict[str, Any]:
    """A WeCom suite's member sign-in code -> {corpid, userid, open_userid, user_ticket, ...}."""
    api = api_for("wecom", current_app.config)
    return _with_app(session, app, lambda token: api.getuserinfo3rd(token, code))


def wecom_userdetail(session: Session, app: App, user_ticket: str) -> dict[str, Any]:
    """The member's details behind the `user_ticket` a sign-in gave (scope snsapi_privateinfo)
    -> {corpid, userid, name?, gender?, avatar?, qr_code?, ...}."""
    api = api_for("wecom", current_app.config)
    return _with_app(session, app, lambda token: api.getuserdetail3rd(token, user_ticket))


def wecom_corp_userinfo(session: Session, tenant: Tenant, code: str) -> dict[str, Any]:
    """A customized template's member sign-in code, with the corp's token -> {userid, ...}."""
    active(tenant)
    api = api_for("wecom", current_app.config)
    answer = with_tenant_token(session, tenant, lambda token: api.corp_getuserinfo(token, code))
    return _answer(answer)


def wecom_jscode2session(session: Session, app: App, js_code: str) -> dict[str, Any]:
    """A WeCom third-party mini program's login code -> {corpid, userid, session_key}."""
    api = api_for("wecom", current_app.config)
    return _with_app(session, app, lambda token: api.miniprogram_jscode2session(token, js_code))


def open_oauth_token(
    session: Session,
    app: App,
    tenant: Tenant,
    *,
    code: str | None = None,
    refresh: str | None = None,
) -> dict[str, Any]:
    """An Open web sign-in `code` (or a user's OAuth `refresh` token) on behalf of the account
    -> {access_token, expires_in, refresh_token, openid, scope, ...}."""
    active(tenant)
    api = api_for("open", current_app.config)
    if refresh is not None:
        return _with_app(
            session,
            app,
            lambda token: api.oauth_refresh_token(token, app.app_id, tenant.tenant_id, refresh),
        )
    return _with_app(
        session,
        app,
        lambda token: api.oauth_access_token(token, app.app_id, tenant.tenant_id, code or ""),
    )


def open_jscode2session(session: Session, app: App, tenant: Tenant, js_code: str) -> dict[str, Any]:
    """An Open mini program's login code on behalf of the account -> {openid, session_key,
    unionid?}."""
    active(tenant)
    api = api_for("open", current_app.config)
    return _with_app(
        session,
        app,
        lambda token: api.jscode2session(token, app.app_id, tenant.tenant_id, js_code),
    )


def _with_app(session: Session, app: App, call: Callable[[str], dict]) -> dict[str, Any]:
    """`call(app token)`, refreshed once when refused (app_tokens.with_app_token)."""
    api = api_for(app.platform, current_app.config)
    try:
        return _answer(with_app_token(session, app, api, call))
    except UpstreamError as exc:
        if exc.kind == "code":
            raise
        raise unavailable(exc) from None


def _answer(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in ("errcode", "errmsg")}
