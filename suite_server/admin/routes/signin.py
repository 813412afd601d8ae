"""Signing in and out, and the admin's own account (changing the password)."""

from __future__ import annotations

import unicodedata

from flask import abort, current_app, flash, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from suite_server import accounts, db
from suite_server.admin import auth, i18n
from suite_server.admin.forms import ActionForm, LoginForm, PasswordForm, PreferencesForm
from suite_server.admin.routes.common import bp, client_address, done, form_errors, see_other
from suite_server.errors import ValidationError


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        # After a refusal, the username typed is kept (the password never is).
        form.username.data = session.pop("login_username", None)
        return render_template("admin/login.html", form=form)
    back = _safe_next(request.args.get("next"))
    if not form.validate():
        flash(_("Enter a username and a password."), "error")
        return _to_login(back)
    try:
        admin = auth.authenticate(
            db.session(), form.username.data, form.password.data, client_address()
        )
    except auth.LoginRefused as exc:
        flash(str(exc), "error")
        session["login_username"] = form.username.data[:100]
        return _to_login(back)
    session.clear()  # nothing from before the sign-in carries over
    login_user(admin)
    return i18n.remember(see_other(back), admin.locale)


def _to_login(back: str):
    # A refused sign-in is answered with a redirect too: a reload must not send the password
    # again (it would count as one more failure).
    if back == url_for("admin.dashboard"):
        return done("admin.login")
    return done("admin.login", next=back)


def _safe_next(target: str | None) -> str:
    """Back to the admin page asked for: a path under /admin/, never another site, and nothing
    that cannot go into a Location header (CR, LF and other control characters)."""
    if (
        target
        and target.startswith("/admin/")
        and "\\" not in target
        and not any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in target)
    ):
        return target
    return url_for("admin.dashboard")


@bp.post("/logout")
def logout():
    chosen = current_user.locale
    message = _("Signed out.")  # in the admin's language, while it is still known
    auth.logout(db.session(), current_user)
    logout_user()
    session.clear()
    flash(message)
    return i18n.remember(done("admin.login"), chosen)


@bp.get("/account")
def account():
    preferences = PreferencesForm(
        language=current_user.locale or "", timezone=current_user.timezone or ""
    )
    return render_template(
        "admin/account.html",
        form=PasswordForm(),
        preferences=preferences,
        action_form=ActionForm(),
        default_zone=current_app.config["ADMIN_TIMEZONE"],
    )


@bp.post("/language")
def language():
    """The switch in every page's header (and on the sign-in page): this browser remembers the
    choice, and so does the signed-in admin's account, in every browser."""
    chosen = request.form.get("language", "")
    if chosen not in i18n.LANGUAGES:
        abort(400)
    if current_user.is_authenticated:
        accounts.set_preferences(db.session(), current_user.admin_pk, chosen, current_user.timezone)
    return i18n.remember(see_other(_safe_next(request.form.get("next"))), chosen)


@bp.post("/account/preferences")
def preferences():
    form = PreferencesForm()
    zone = (form.timezone.data or "").strip()
    if not form.validate() or (zone and not i18n.valid_zone(zone)):
        flash(_("Not changed: %(zone)s is not a time zone.", zone=zone), "error")
        return done("admin.account")
    accounts.set_preferences(
        db.session(), current_user.admin_pk, form.language.data or None, zone or None
    )
    flash(_("Saved."), "ok")
    return i18n.remember(done("admin.account"), form.language.data)


@bp.post("/account/password")
def change_password():
    form = PasswordForm()
    if not form.validate():
        flash(_("Not changed: %(reason)s", reason=form_errors(form)), "error")
        return done("admin.account")
    try:
        admin = auth.change_password(
            db.session(), current_user, form.current.data, form.new.data, client_address()
        )
    except (auth.LoginRefused, ValidationError) as exc:
        flash(_("Not changed: %(reason)s", reason=exc), "error")
        return done("admin.account")
    # Every session of this admin has ended, this one included; this browser gets a new one.
    session.clear()
    login_user(admin)
    flash(_("Password changed: every other session of yours has ended."), "ok")
    return done("admin.account")
