"""/install/<app_id> and /install/<app_id>/done: the browser side of an install. The start may
carry the ISV's context (`?ref=` or an install link's `?link=`, context.py); the end lands on the
return_to or landing URL with a signed assertion (landing.py), or shows the built-in page."""

from __future__ import annotations

from flask import Blueprint, current_app, make_response, redirect, render_template, request
from sqlalchemy import select

from suite_server import db, providers
from suite_server.authorization import context, flow, landing, preauth, receipts, starts
from suite_server.errors import UpstreamError
from suite_server.models import App, Tenant
from suite_server.tokens.service import TokenUnavailable, app_token, with_app_token
from suite_server.upstream import api_for

bp = Blueprint("authorization", __name__, url_prefix="/install", template_folder="templates")


@bp.errorhandler(flow.InstallError)
def refused(exc: flow.InstallError):
    return render_template("authorization/error.html", message=str(exc)), 400


@bp.errorhandler(starts.TooManyStarts)
def too_many(exc: starts.TooManyStarts):
    message = (
        "Too many install attempts from your network. "
        f"Please try again in {exc.retry_after} seconds."
    )
    page = render_template("authorization/error.html", message=message)
    return page, 429, {"Retry-After": str(exc.retry_after)}


@bp.errorhandler(UpstreamError)
def upstream_failed(exc: UpstreamError):
    current_app.logger.warning(
        "install: upstream %s failed: %s %s", exc.endpoint, exc.errcode, exc.kind
    )
    message = "The platform did not answer as expected. Please try again in a minute."
    return render_template(
        "authorization/error.html", message=message
    ), 503 if exc.retryable else 502


@bp.errorhandler(TokenUnavailable)
def no_app_token(exc: TokenUnavailable):
    current_app.logger.warning("install: no app token: %s %s", exc.code, exc.message)
    message = "The platform did not answer as expected. Please try again in a minute."
    if exc.code == "no_ticket":
        message = (
            "This app has not received its ticket from the platform yet. Please try again later."
        )
    return render_template("authorization/error.html", message=message), exc.http_status


@bp.get("/<app_id>")
def start(app_id: str):
    app = _app(app_id)
    auth_type = request.args.get("auth_type", "3")
    if auth_type not in ("1", "2", "3"):
        raise flow.InstallError("auth_type must be 1 (official accounts), 2 (mini programs) or 3.")
    install_context = context.for_start(
        db.session(), app, ref=request.args.get("ref"), link=request.args.get("link")
    )
    client = starts.client_key(request.remote_addr)
    starts.check(db.session(), client)
    api = api_for(app.platform, current_app.config)
    if app.is_template:
        provider = providers.provider_of(db.session(), app)
        if provider is None:
            raise flow.InstallError(
                "This customized app cannot be installed yet: its provider account is not "
                "registered on this server."
            )
        target = flow.start_customized_install(
            db.session(),
            app,
            api,
            lambda call: with_app_token(db.session(), provider, api, call),
            client=client,
            context=install_context,
        )
        return redirect(target, 302)
    urls = flow.InstallUrls(
        current_app.config["PUBLIC_URL"],
        current_app.config["WECOM_INSTALL_URL"],
        current_app.config["OPEN_AUTH_URL"],
    )
    target = flow.start_install(
        db.session(),
        app,
        api,
        lambda: app_token(db.session(), app, api),
        urls,
        client=client,
        mobile=request.args.get("mobile") == "1",
        auth_type=int(auth_type),
        biz_appid=request.args.get("biz_appid") or None,
        context=install_context,
    )
    return redirect(target, 302)


@bp.get("/<app_id>/done")
def done(app_id: str):
    app = _app(app_id)
    state, code = request.args.get("state", ""), request.args.get("auth_code", "")
    if not state or not code:
        raise flow.InstallError("The platform's answer is missing auth_code or state.")
    session = db.session()
    # Whatever becomes of this state, its pre-auth code went through an approval.
    preauth.retire_for_state(session, app, state)
    try:
        flow.consume_state(session, app, state)
    except flow.InstallError:
        # A reload by the browser that completed it: the same result (a fresh assertion),
        # nothing exchanged again.
        receipt = receipts.recall(session, app, state)
        if receipt is None:
            raise
        return _finished(app, receipt.tenant, receipt.context)
    found = context.of_state(session, app, state) or context.InstallContext()
    api = api_for(app.platform, current_app.config)
    token = app_token(session, app, api)
    tenant = flow.exchange_code(session, app, code, api, token, source="redirect", context=found)
    response = make_response(_finished(app, tenant, found))
    receipts.remember(response, app, state, tenant, found)
    return response


def _finished(app: App, tenant: Tenant, found: context.InstallContext):
    target = landing.redirect_url(db.session(), app, tenant, found)
    if target is not None:
        return redirect(target)
    return render_template("authorization/done.html", app=app, tenant=tenant)


def _app(app_id: str) -> App:
    app = db.session().scalar(select(App).where(App.app_id == app_id[:64], App.kind != "provider"))
    if app is None:
        raise flow.InstallError("There is no such app on this server.")
    return app
