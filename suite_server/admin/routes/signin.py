"""Signing in and out, and the admin's own account (changing the password)."""

from __future__ import annotations

import unicodedata

from flask import flash, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from suite_server import db
from suite_server.admin import auth
from suite_server.admin.forms import ActionForm, LoginForm, PasswordForm
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
        flash("Enter a username and a password.", "error")
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
    return see_other(back)


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
    auth.logout(db.session(), current_user)
    logout_user()
    session.clear()
    flash("Signed out.")
    return done("admin.login")


@bp.get("/account")
def account():
    return render_template("admin/account.html", form=PasswordForm(), action_form=ActionForm())


@bp.post("/account/password")
def change_password():
    form = PasswordForm()
    if not form.validate():
        flash("Not changed: " + form_errors(form), "error")
        return done("admin.account")
    try:
        admin = auth.change_password(
            db.session(), current_user, form.current.data, form.new.data, client_address()
        )
    except (auth.LoginRefused, ValidationError) as exc:
        flash(f"Not changed: {exc}", "error")
        return done("admin.account")
    # Every session of this admin has ended, this one included; this browser gets a new one.
    session.clear()
    login_user(admin)
    flash("Password changed: every other session of yours has ended.", "ok")
    return done("admin.account")
