"""The platforms' install pages, where a person picks (or names) a corp / an account and
approves: WeCom `/3rdapp/install` (wecom-suite.md §4 install flow) and Open
`/cgi-bin/componentloginpage` plus the mobile `/safe/bindcomponent` (open-platform.md §4.3)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request
from flask.typing import ResponseReturnValue

from suite_server.sandbox import approvals
from suite_server.sandbox import authorizations as auth
from suite_server.sandbox.events import EventError
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import OPEN, WECOM, App, Code

bp = Blueprint("sandbox_install", __name__)
NEW = "__new__"

# open-platform.md §4.3: auth_type 1 = official accounts only, 2 = mini programs only, 3 = both.
_AUTH_TYPES = {"1": ("official_account",), "2": ("mini_program",)}


class PageError(Exception):
    pass


@bp.route("/3rdapp/install", methods=["GET", "POST"])
def wecom_install() -> ResponseReturnValue:
    return _install_page(WECOM, request.args.get("suite_id", ""))


@bp.route("/cgi-bin/componentloginpage", methods=["GET", "POST"])
@bp.route("/safe/bindcomponent", methods=["GET", "POST"])
@bp.route("/wxaopen/safe/bindcomponent", methods=["GET", "POST"])
def open_install() -> ResponseReturnValue:
    return _install_page(OPEN, request.args.get("component_appid", ""))


def _install_page(platform: str, app_id: str) -> ResponseReturnValue:
    sandbox = current_sandbox()
    try:
        app, code = _check_request(platform, app_id)
    except PageError as exc:
        return render_template("sandbox/error.html", message=str(exc)), 400
    if request.method == "GET":
        return render_template("sandbox/install.html", **_page_context(app, code))
    chosen = request.form.get("tenant", NEW)
    tenant_id = request.form.get("new_id", "").strip() if chosen == NEW else chosen
    account_type = request.form.get("account_type") or None
    try:
        result = approvals.approve(
            sandbox,
            app,
            tenant_id=tenant_id or None,
            name=request.form.get("new_name", "").strip(),
            pre_auth_code=code.value,
            account_type=account_type if platform == OPEN else None,
            # The browser is redirected at once; the platform's push follows on its own.
            background_push=True,
        )
    except EventError as exc:
        return render_template("sandbox/error.html", message=exc.message), exc.status
    return redirect(result["redirect_url"], code=302)


def _check_request(platform: str, app_id: str) -> tuple[App, Code]:
    """The app and its pre-auth code, or PageError with what the real page would complain about."""
    state = current_sandbox().state
    app = state.app(app_id, platform)
    if app is None:
        raise PageError("unknown third-party app")
    status, code = auth.check_pre_auth_code(state, app, request.args.get("pre_auth_code", ""))
    if status != auth.OK or code is None:
        raise PageError(f"the pre_auth_code is {status}; start the install again")
    redirect_uri = request.args.get("redirect_uri", "")
    if not redirect_uri.startswith(("http://", "https://")):
        raise PageError("redirect_uri is missing or not an http(s) URL")
    with state.lock:
        # Remembered so a headless approval (POST /sandbox/approve) can redirect the same way.
        code.redirect_uri = redirect_uri
        code.state = request.args.get("state", "")
        code.biz_appid = request.args.get("biz_appid", "") if platform == OPEN else ""
    return app, code


def _page_context(app: App, code: Code) -> dict[str, Any]:
    state = current_sandbox().state
    tenants = state.tenants_of(app.app_id)  # a revoked one may authorize again
    types = ("official_account", "mini_program")
    if app.platform == OPEN:
        types = _AUTH_TYPES.get(request.args.get("auth_type", ""), types)
        tenants = [t for t in tenants if t.account_type in types]
        if code.biz_appid:  # §4.3: biz_appid pins the one account allowed to authorize
            tenants = [t for t in tenants if t.tenant_id == code.biz_appid]
    return {
        "app": app,
        "tenants": tenants,
        "account_types": types,
        "biz_appid": code.biz_appid,
        "suggested_id": code.biz_appid or auth.new_tenant_id(app.platform),
        "new": NEW,
    }
