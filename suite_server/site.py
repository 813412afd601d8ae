"""What is outside every area: `/` (leads to the admin UI), `/favicon.ico`, the page for an
unknown URL, and which client address requests come from behind proxies (TRUSTED_PROXIES)."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    Response,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix

bp = Blueprint("site", __name__)
STATIC = Path(__file__).parent / "admin" / "static"


def init_app(app: Flask) -> None:
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        # request.remote_addr becomes the address the nearest `proxies` proxies put in
        # X-Forwarded-For; without the setting the header is never believed (anyone can send
        # it), and the sign-in throttle (admin/throttle.py) counts the socket's peer.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=0, x_host=0)
    app.register_blueprint(bp)


@bp.get("/")
def home() -> Response:
    return redirect(url_for("admin.dashboard"))


@bp.get("/favicon.ico")
def favicon() -> Response:
    # Browsers ask for it at the root whatever the page; the admin's pages link to it too.
    return send_from_directory(STATIC, "favicon.ico", max_age=86400)


@bp.app_errorhandler(NotFound)
def not_found(exc: NotFound):
    """A page in the admin UI's style for an unknown URL. The token API answers its unknown URLs
    in JSON: this handler is looked up before its app-wide HTTPException one, so it hands them
    over."""
    if request.path == "/api" or request.path.startswith("/api/"):
        from suite_server.api.routes import http_error

        return http_error(exc)
    message = "There is nothing at this address."
    return render_template("admin/error.html", message=message), 404
