"""The admin web UI under /admin/: server-rendered pages to inspect and operate apps, tenants,
tokens and events (routes/), with sessions kept in the database (sessions.py, through
Flask-Login), throttled sign-in (auth.py, throttle.py), CSRF tokens on every form (Flask-WTF)
and an audit log of every action (audit.py).

Only this blueprint uses sessions and CSRF: the callbacks and the token API are not touched.
"""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask_babel import lazy_gettext

from suite_server import db
from suite_server.admin import auth, charts, i18n
from suite_server.admin.extensions import csrf, login_manager
from suite_server.admin.routes import bp


class AdminOnlySessions(SecureCookieSessionInterface):
    """The session cookie is read and written under /admin/ only. Elsewhere Flask gets no
    session (its read-only NullSession), so a push or a token request neither verifies a
    cookie nor answers with one: that was a noticeable part of a token read's time
    (bench/tokens.py)."""

    def open_session(self, app, request):
        if request.path == "/admin" or request.path.startswith("/admin/"):
            return super().open_session(app, request)
        return None


def init_app(app: Flask) -> None:
    # The session cookie carries the admin's login: not readable by scripts, not sent along
    # cross-site subrequests or POSTs, and over HTTPS only when the server is served over it.
    # Forms check their CSRF token, but nothing outside /admin/ (callbacks, the token API) is
    # checked: routes.py calls csrf.protect() for admin POSTs instead of the app-wide hook.
    # (Tests keep CSRF on too: nothing here turns it off under TESTING.)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=str(app.config["PUBLIC_URL"]).startswith("https://"),
        WTF_CSRF_ENABLED=True,
        WTF_CSRF_CHECK_DEFAULT=False,
    )
    app.session_interface = AdminOnlySessions()
    csrf.init_app(app)
    i18n.init_app(app)
    app.jinja_env.globals["activity_panel"] = charts.panel  # admin/_activity.html

    login_manager.init_app(app)
    login_manager.login_view = "admin.login"
    login_manager.login_message = lazy_gettext("Sign in to see that page.")
    login_manager.user_loader(lambda user_id: auth.load(db.session(), user_id))
    app.register_blueprint(bp)
