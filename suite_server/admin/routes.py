"""/admin/: the web UI's URLs. Each view parses its input, calls one service function
(auth, tenants, events, apps, dashboard, audit) and renders the result or redirects with a
message. Every page but the login page needs a signed-in admin; every POST needs the form's
CSRF token (400 without it)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError

from suite_server import accounts, db
from suite_server.admin import apps, audit, auth, csrf, dashboard, events, tenants
from suite_server.admin.forms import (
    ActionForm,
    AppSettingsForm,
    DeactivateForm,
    LoginForm,
    WebhookForm,
)
from suite_server.admin.tenants import ActionFailed
from suite_server.db import utcnow
from suite_server.models.events import STATUSES as EVENT_STATUSES
from suite_server.models.tenants import STATUSES as TENANT_STATUSES
from suite_server.models.webhooks import STATUSES as DELIVERY_STATUSES
from suite_server.whole_numbers import MAX_ID, BadNumber, whole_number

bp = Blueprint(
    "admin", __name__, url_prefix="/admin", template_folder="templates", static_folder="static"
)

SESSION_LIFETIME = timedelta(hours=12)  # then sign in again, however active the session was
OPEN_ENDPOINTS = ("admin.login", "admin.static")


# -- every request -----------------------------------------------------------------------------


@bp.before_request
def guard():
    if request.method == "POST":
        csrf.protect()  # CSRFError (400) without a valid token, the login form included
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    signed_in_at = session.get("signed_in_at", 0)
    if (
        current_user.is_authenticated
        and time.time() - signed_in_at > SESSION_LIFETIME.total_seconds()
    ):
        logout_user()
        session.clear()
        flash("Your session has ended: sign in again.")
    if not current_user.is_authenticated:
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
    return None


@bp.after_request
def headers(response: Response) -> Response:
    # Pages show tenants' data: never cached, never framed, no script but our own file.
    if request.endpoint != "admin.static":
        response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    return response


@bp.errorhandler(CSRFError)
def csrf_refused(exc: CSRFError):
    message = (
        "The form was refused: its security token is missing or has expired "
        f"({exc.description}). Go back, reload the page and try again."
    )
    return render_template("admin/error.html", message=message), 400


@bp.errorhandler(404)
def not_found(_exc):
    return render_template("admin/error.html", message="There is nothing at this address."), 404


@bp.app_template_filter("utc")
def utc(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


@bp.app_template_filter("relative")
def relative(value: datetime | None) -> str:
    """ "in 1h 59m" or "3m 10s ago"."""
    if value is None:
        return ""
    seconds = int((value - utcnow()).total_seconds())
    return f"in {duration(seconds)}" if seconds >= 0 else f"{duration(-seconds)} ago"


@bp.app_template_filter("duration")
def duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _actor() -> str:
    return current_user.username


def _int_arg(name: str) -> int | None:
    try:
        return whole_number(request.args.get(name), name, minimum=1, maximum=MAX_ID)
    except BadNumber as exc:
        abort(Response(render_template("admin/error.html", message=str(exc)), 400))


def _arg(name: str, choices: tuple[str, ...] | None = None) -> str | None:
    value = request.args.get(name, "").strip()[:100] or None
    return value if choices is None or value in choices else None


# -- signing in and out --------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        try:
            admin = auth.authenticate(db.session(), form.username.data, form.password.data)
        except auth.LoginRefused as exc:
            error = str(exc)
        else:
            session.clear()  # nothing from before the login carries over
            login_user(admin)
            session["signed_in_at"] = time.time()
            return redirect(_safe_next(request.args.get("next")))
    status = 401 if error else 200
    return render_template("admin/login.html", form=form, error=error), status


def _safe_next(target: str | None) -> str:
    """Back to the admin page asked for, never to another site."""
    if target and target.startswith("/admin/") and not target.startswith("//"):
        return target
    return url_for("admin.dashboard")


@bp.post("/logout")
def logout():
    audit.record(db.session(), _actor(), "logout")
    db.session().commit()
    logout_user()
    session.clear()
    flash("Signed out.")
    return redirect(url_for("admin.login"))


# -- dashboard, at risk, audit -------------------------------------------------------------------


@bp.get("/", endpoint="dashboard")
def dashboard_page():
    return render_template("admin/dashboard.html", apps=dashboard.health(db.session()))


@bp.get("/at-risk")
def at_risk():
    risk = dashboard.at_risk(db.session(), current_app.config["PUBLIC_URL"])
    return render_template("admin/at_risk.html", risk=risk)


@bp.get("/audit")
def audit_log():
    page = audit.page(
        db.session(), actor=_arg("actor"), target=_arg("target"), before=_int_arg("before")
    )
    return render_template("admin/audit.html", page=page, args=request.args)


@bp.get("/api-keys")
def api_key_list():
    return render_template("admin/api_keys.html", keys=accounts.list_api_keys(db.session()))


# -- tenants -----------------------------------------------------------------------------------


@bp.get("/tenants")
def tenant_list():
    page = tenants.search(
        db.session(),
        app_id=_arg("app"),
        status=_arg("status", TENANT_STATUSES),
        q=_arg("q"),
        before=_int_arg("before"),
    )
    return render_template(
        "admin/tenants.html", page=page, args=request.args, statuses=TENANT_STATUSES,
        app_ids=_app_ids(),
    )  # fmt: skip


def _app_ids() -> list[str]:
    return apps.app_ids(db.session())


def _tenant_or_404(app_id: str, tenant_id: str):
    found = tenants.find(db.session(), app_id, tenant_id)
    if found is None:
        abort(404)
    return found


@bp.get("/tenants/<app_id>/<tenant_id>")
def tenant_page(app_id: str, tenant_id: str):
    app, tenant = _tenant_or_404(app_id, tenant_id)
    return render_template(
        "admin/tenant.html", view=tenants.page_of(db.session(), app, tenant), form=ActionForm(),
        deactivate_form=DeactivateForm(),
    )  # fmt: skip


@bp.post("/tenants/<app_id>/<tenant_id>/refresh-token")
def tenant_refresh(app_id: str, tenant_id: str):
    app, tenant = _tenant_or_404(app_id, tenant_id)
    try:
        served = tenants.refresh_token(db.session(), _actor(), app, tenant)
        flash(f"New token obtained; it expires at {utc(served.expires_at)}.", "ok")
    except ActionFailed as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.tenant_page", app_id=app_id, tenant_id=tenant_id))


@bp.post("/tenants/<app_id>/<tenant_id>/reread-auth-info")
def tenant_reread(app_id: str, tenant_id: str):
    app, tenant = _tenant_or_404(app_id, tenant_id)
    try:
        changed = tenants.reread_auth_info(db.session(), _actor(), app, tenant)
        flash("Auth info re-read: " + ("it changed." if changed else "no change."), "ok")
    except ActionFailed as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.tenant_page", app_id=app_id, tenant_id=tenant_id))


@bp.post("/tenants/<app_id>/<tenant_id>/deactivate")
def tenant_deactivate(app_id: str, tenant_id: str):
    app, tenant = _tenant_or_404(app_id, tenant_id)
    form = DeactivateForm()
    try:
        if not form.validate():
            raise ActionFailed("The reason is at most 200 characters.")
        tenants.deactivate(db.session(), _actor(), app, tenant, form.reason.data or "")
        flash("Deactivated: its token is dropped, and no longer refreshed or served.", "ok")
    except ActionFailed as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.tenant_page", app_id=app_id, tenant_id=tenant_id))


@bp.post("/tenants/<app_id>/<tenant_id>/reactivate")
def tenant_reactivate(app_id: str, tenant_id: str):
    app, tenant = _tenant_or_404(app_id, tenant_id)
    try:
        served = tenants.reactivate(db.session(), _actor(), app, tenant)
        flash(f"Active again: the platform gave a token until {utc(served.expires_at)}.", "ok")
    except ActionFailed as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.tenant_page", app_id=app_id, tenant_id=tenant_id))


# -- events and webhook deliveries ---------------------------------------------------------------


@bp.get("/events")
def event_list():
    page = events.event_page(
        db.session(),
        app_id=_arg("app"),
        tenant_id=_arg("tenant"),
        kind=_arg("kind"),
        status=_arg("status", EVENT_STATUSES),
        before=_int_arg("before"),
    )
    return render_template(
        "admin/events.html", page=page, args=request.args, statuses=EVENT_STATUSES,
        app_ids=_app_ids(),
    )  # fmt: skip


@bp.get(f"/events/<int(max={MAX_ID}):event_id>")
def event_page(event_id: int):
    view = events.event_view(db.session(), event_id)
    if view is None:
        abort(404)
    return render_template("admin/event.html", view=view, form=ActionForm())


@bp.post(f"/events/<int(max={MAX_ID}):event_id>/reprocess")
def event_reprocess(event_id: int):
    try:
        events.reprocess(db.session(), _actor(), event_id)
        flash("Queued for processing again; reload to see how it ends.", "ok")
    except ActionFailed as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.event_page", event_id=event_id))


@bp.get("/webhooks")
def delivery_list():
    page = events.delivery_page(
        db.session(),
        app_id=_arg("app"),
        tenant_id=_arg("tenant"),
        status=_arg("status", DELIVERY_STATUSES),
        before=_int_arg("before"),
    )
    return render_template(
        "admin/deliveries.html", page=page, args=request.args, statuses=DELIVERY_STATUSES,
        app_ids=_app_ids(),
    )  # fmt: skip


@bp.get(f"/webhooks/<int(max={MAX_ID}):delivery_id>")
def delivery_page(delivery_id: int):
    view = events.delivery_view(db.session(), delivery_id)
    if view is None:
        abort(404)
    return render_template("admin/delivery.html", view=view, form=ActionForm())


@bp.post(f"/webhooks/<int(max={MAX_ID}):delivery_id>/redeliver")
def delivery_redeliver(delivery_id: int):
    try:
        events.redeliver(db.session(), _actor(), delivery_id)
        flash("Sending again, in a new round of retries.", "ok")
    except ActionFailed as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.delivery_page", delivery_id=delivery_id))


# -- apps --------------------------------------------------------------------------------------


@bp.get("/apps")
def app_list():
    return render_template("admin/apps.html", apps=dashboard.health(db.session()))


def _app_or_404(app_id: str):
    app = apps.find(db.session(), app_id)
    if app is None:
        abort(404)
    return app


def _render_app(app, settings_form=None, webhook_form=None, shown_once=None, status=200):
    settings_form = settings_form or AppSettingsForm(
        formdata=None, name=app.name, landing_url=app.landing_url, test_mode=app.test_mode
    )
    webhook_form = webhook_form or WebhookForm(formdata=None, url=app.webhook_url)
    response = render_template(
        "admin/app.html", app=app, urls=apps.console_urls(app), settings_form=settings_form,
        webhook_form=webhook_form, form=ActionForm(), shown_once=shown_once,
    )  # fmt: skip
    return response, status


@bp.get("/apps/<app_id>")
def app_page(app_id: str):
    return _render_app(_app_or_404(app_id))


@bp.post("/apps/<app_id>/settings")
def app_settings(app_id: str):
    app = _app_or_404(app_id)
    form = AppSettingsForm()
    if not form.validate():
        flash("Not saved: " + _errors(form), "error")
        return _render_app(app, settings_form=form, status=400)
    try:
        changed = apps.update_settings(
            db.session(), _actor(), app, name=form.name.data or "",
            landing_url=form.landing_url.data or "", test_mode=form.test_mode.data,
            secret=form.secret.data or "", token=form.token.data or "",
            aes_key=form.aes_key.data or "",
        )  # fmt: skip
    except ActionFailed as exc:
        flash(f"Not saved: {exc}", "error")
        return _render_app(app, settings_form=form, status=400)
    flash("Saved: " + ", ".join(changed) if changed else "Nothing changed.", "ok")
    return redirect(url_for("admin.app_page", app_id=app_id))


def _errors(form) -> str:
    return "; ".join(
        f"{getattr(form, name).label.text}: {' '.join(messages)}"
        for name, messages in form.errors.items()
    )


@bp.post("/apps/<app_id>/rotate-aes-key")
def app_rotate_aes_key(app_id: str):
    app = _app_or_404(app_id)
    new_key = apps.rotate_aes_key(db.session(), _actor(), app)
    # Shown in this answer only (no redirect: a flash message would sit in the cookie).
    shown = {
        "title": "New EncodingAESKey",
        "value": new_key,
        "note": "Paste it into the platform's console now: it is not shown again. Pushes "
        "encrypted with the previous key are still accepted until the next rotation.",
    }
    return _render_app(app, shown_once=shown)


@bp.post("/apps/<app_id>/webhook")
def app_webhook(app_id: str):
    app = _app_or_404(app_id)
    form = WebhookForm()
    try:
        if not form.validate():
            raise ActionFailed(_errors(form))
        secret = apps.configure_webhook(
            db.session(), _actor(), app, url="" if form.off.data else form.url.data or "",
            off=form.off.data, rotate=form.rotate.data,
        )  # fmt: skip
    except ActionFailed as exc:
        flash(f"Not saved: {exc}", "error")
        return _render_app(app, webhook_form=form, status=400)
    if secret is None:
        flash("Webhook turned off." if form.off.data else "Webhook saved.", "ok")
        return redirect(url_for("admin.app_page", app_id=app_id))
    shown = {
        "title": "New webhook signing secret",
        "value": secret,
        "note": "Give it to your receivers now: it is not shown again (docs/webhooks.md).",
    }
    return _render_app(app, shown_once=shown)
