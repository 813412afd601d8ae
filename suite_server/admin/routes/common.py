"""The admin blueprint and what its views share: the sign-in guard, security headers, error
pages, template filters and small request helpers."""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext, pgettext
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from markupsafe import Markup

from suite_server import db
from suite_server.admin import apps as app_service
from suite_server.admin import i18n, labels
from suite_server.admin.extensions import csrf
from suite_server.billing import ledger, orders
from suite_server.db import utcnow
from suite_server.errors import BadNumber
from suite_server.whole_numbers import MAX_ID, whole_number

# Named after the package, so templates/ and static/ are found beside it.
bp = Blueprint(
    "admin",
    "suite_server.admin",
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
)

OPEN_ENDPOINTS = ("admin.login", "admin.static", "admin.language")


# -- every request -----------------------------------------------------------------------------


@bp.before_request
def guard():
    if request.method == "POST":
        csrf.protect()  # CSRFError (400) without a valid token, the login form included
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        if session.get("_user_id"):
            # The cookie names a session that has ended: signed out (maybe in another browser),
            # the password changed, the account locked, or 12 hours passed.
            session.clear()
            flash(_("Your session has ended: sign in again."))
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
    message = _(
        "The form was refused: its security token is missing or has expired. Go back, reload "
        "the page and try again."
    )
    return render_template("admin/error.html", message=message), 400


@bp.errorhandler(404)
def not_found(_exc):
    return render_template("admin/error.html", message=_("There is nothing at this address.")), 404


@bp.app_template_global("when")
def when(value: datetime | None) -> Markup:
    """The moment on the admin's clock, with UTC and how long ago (or until) on hover."""
    return i18n.when(value, relative(value))


@bp.app_template_filter("relative")
def relative(value: datetime | None) -> str:
    """ "in 1h 59m" or "3m 10s ago"."""
    if value is None:
        return ""
    seconds = int((value - utcnow()).total_seconds())
    if seconds >= 0:
        return _("in %(duration)s", duration=duration(seconds))
    return _("%(duration)s ago", duration=duration(-seconds))


@bp.app_template_filter("platform")
def platform(value: str) -> str:
    """ "wecom" or "open", in the admin's language."""
    return app_service.platform_label(value)


@bp.app_template_filter("app_kind")
def app_kind(kind: str) -> str:
    """ "third-party suite", "customized template", "provider account" or "component"."""
    return app_service.kind_label(kind)


@bp.app_template_filter("tenant_kind")
def tenant_kind(app_kind: str) -> str:
    """The kind of tenant an app of this kind has: "customized", "third-party" or "account"."""
    return app_service.tenant_kind_label(app_kind)


# Orders' numbered statuses and types, in the admin's language: paid-app orders as WeCom numbers
# them (billing/orders.py) and interface-license orders and accounts (billing/ledger.py). Those
# modules keep their English names for the API, the CLI and the logs.
ORDER_STATUSES = {
    0: lazy_gettext("unpaid"),
    1: lazy_gettext("paid"),
    2: lazy_gettext("closed"),
    3: lazy_gettext("expired unpaid"),
    4: lazy_gettext("refund requested"),
    5: lazy_gettext("refunded"),
    6: lazy_gettext("refund refused"),
    7: lazy_gettext("void"),
}
ORDER_TYPES = {
    0: lazy_gettext("new"),
    1: lazy_gettext("more seats"),
    2: lazy_gettext("renewal"),
    3: lazy_gettext("edition change"),
}
LICENSE_ORDER_STATUSES = {  # 2, cancelled: license_order_status
    0: lazy_gettext("unpaid"),
    1: lazy_gettext("paid"),
    3: lazy_gettext("expired unpaid"),
    4: lazy_gettext("refund requested"),
    5: lazy_gettext("refunded"),
    6: lazy_gettext("refund refused"),
}
LICENSE_ORDER_TYPES = {1: lazy_gettext("buy"), 2: lazy_gettext("renew")}
LICENSE_ACCOUNT_TYPES = {1: lazy_gettext("basic"), 2: lazy_gettext("interop")}


def _label(labels: dict, value: int | None, english: str) -> str:
    """The label of `value`, or the English its module gives it (a number it does not know)."""
    label = labels.get(value)
    return str(label) if label is not None else english


@bp.app_template_filter("order_status")
def order_status(value: int) -> str:
    """A paid-app order's status as WeCom numbers it: "paid", "refunded", ..."""
    return _label(ORDER_STATUSES, value, orders.STATUSES.get(value, str(value)))


@bp.app_template_filter("order_type")
def order_type(value: int) -> str:
    return _label(ORDER_TYPES, value, orders.TYPES.get(value, str(value)))


@bp.app_template_filter("license_order_status")
def license_order_status(value: int | None) -> str:
    if value == 2:
        # An order called off, not a tenant's "cancelled" (its authorization withdrawn).
        return pgettext("license order", "cancelled")
    return _label(LICENSE_ORDER_STATUSES, value, ledger.status_name(value))


@bp.app_template_filter("license_order_type")
def license_order_type(value: int | None) -> str:
    return _label(LICENSE_ORDER_TYPES, value, ledger.type_name(value))


@bp.app_template_filter("license_account_type")
def license_account_type(value: int | None) -> str:
    return _label(LICENSE_ACCOUNT_TYPES, value, ledger.account_type_name(value))


@bp.app_template_filter("duration")
def duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return _("%(days)sd %(hours)sh", days=days, hours=hours)
    if hours:
        return _("%(hours)sh %(minutes)sm", hours=hours, minutes=minutes)
    if minutes:
        return _("%(minutes)sm %(seconds)ss", minutes=minutes, seconds=secs)
    return _("%(seconds)ss", seconds=secs)


# Statuses and states shown as words, in the admin's language (labels.py); pages keep the raw
# value in CSS classes and data attributes.
bp.add_app_template_filter(labels.status, "status_label")
bp.add_app_template_global(labels.status, "status_label")  # for macros.html's select
bp.add_app_template_filter(labels.license_state, "license_state")
bp.add_app_template_filter(labels.license_state_note, "license_state_note")
bp.add_app_template_filter(labels.account_state, "account_state")
bp.add_app_template_filter(labels.edition_status, "edition_status")
bp.add_app_template_filter(labels.credential, "credential")
bp.add_app_template_filter(labels.registration_kind, "registration_kind")
bp.add_app_template_filter(labels.registration_status, "registration_status")
bp.add_app_template_filter(labels.deployment_status, "deployment_status")
bp.add_app_template_filter(labels.deployment_step, "deployment_step")


# -- helpers of the views ------------------------------------------------------------------------


def done(endpoint: str, **values) -> Response:
    """The answer to every POST: 303 See Other to a page, which the browser GETs. A reload then
    shows the page again instead of sending the form again."""
    return see_other(url_for(endpoint, **values))


def see_other(location: str) -> Response:
    return redirect(location, code=303)


def actor() -> str:
    return current_user.username


def client_address() -> str:
    """The client's address as the deployment reports it: the socket's peer, or the address
    TRUSTED_PROXIES proxies in front put in X-Forwarded-For (werkzeug's ProxyFix, site.py)."""
    return (request.remote_addr or "")[:64]


def int_arg(name: str, maximum: int = MAX_ID) -> int | None:
    try:
        return whole_number(request.args.get(name), name, minimum=1, maximum=maximum)
    except BadNumber:
        message = _(
            "%(name)s must be a whole number from %(minimum)s to %(maximum)s",
            name=name,
            minimum=1,
            maximum=maximum,
        )
        abort(Response(render_template("admin/error.html", message=message), 400))


def arg(name: str, choices: tuple[str, ...] | None = None) -> str | None:
    value = request.args.get(name, "").strip()[:100] or None
    return value if choices is None or value in choices else None


def app_ids() -> list[str]:
    return app_service.app_ids(db.session())


def form_errors(form) -> str:
    return "; ".join(
        _(
            "%(field)s: %(errors)s",
            field=getattr(form, name).label.text,
            errors=" ".join(str(message) for message in messages),
        )
        for name, messages in form.errors.items()
    )
