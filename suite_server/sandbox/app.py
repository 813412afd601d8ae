"""The sandbox web app: `create_sandbox_app`, `SandboxServer` (run it in a thread on a free port)
and `serve`, the foreground run behind `suite-server sandbox` (the command is in the CLI)."""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import click
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server

from suite_server.sandbox import (
    actions,
    capabilities,
    control,
    customized_install,
    gateway_api,
    install_pages,
    jsapi_api,
    license_api,
    license_control,
    open_api,
    order_api,
    order_control,
    providers,
    quota_api,
    registration_api,
    release_api,
    release_control,
    signin,
    wecom_api,
)
from suite_server.sandbox.control_input import ControlError
from suite_server.sandbox.errors import error_body
from suite_server.sandbox.events import EventError
from suite_server.sandbox.pushes import Pusher
from suite_server.sandbox.runtime import EXTENSION, Sandbox
from suite_server.sandbox.settings import SandboxSettings
from suite_server.sandbox.state import OPEN, WECOM, App, Provider, SandboxState
from suite_server.sandbox.ticker import Ticker

log = logging.getLogger(__name__)


def create_sandbox_app(
    settings: dict[str, Any] | None = None,
    *,
    clock: Callable[[], float] = time.time,
    seed: int | None = None,
) -> Flask:
    """A Flask app playing both platforms. `settings` are SandboxSettings keys (ValueError when
    wrong); `seed` makes its random choices repeatable (state.py); the ticker is created but not
    started (SandboxServer and the command start it)."""
    app = Flask(__name__, template_folder="templates")
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024  # larger bodies get a 413, not our memory
    state = SandboxState(SandboxSettings.from_dict(settings), clock=clock, seed=seed)
    pusher = Pusher(state)
    app.extensions[EXTENSION] = Sandbox(state, pusher, Ticker(state, pusher))
    app.register_blueprint(wecom_api.bp)
    app.register_blueprint(open_api.bp)
    app.register_blueprint(install_pages.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(actions.bp)
    app.register_blueprint(providers.bp)
    app.register_blueprint(customized_install.bp)
    app.register_blueprint(gateway_api.bp)
    app.register_blueprint(gateway_api.control)
    for blueprint in (license_api.bp, license_control.bp, order_api.bp, order_control.bp):
        app.register_blueprint(blueprint)
    for blueprint in (jsapi_api.wecom_bp, jsapi_api.open_bp, jsapi_api.control_bp):
        app.register_blueprint(blueprint)
    for blueprint in (signin.wecom_bp, signin.open_bp, signin.control_bp):
        app.register_blueprint(blueprint)
    for blueprint in (quota_api.bp, quota_api.control, capabilities.bp, capabilities.control):
        app.register_blueprint(blueprint)
    for blueprint in (registration_api.bp, registration_api.control):
        app.register_blueprint(blueprint)
    for blueprint in (release_api.bp, release_control.bp):
        app.register_blueprint(blueprint)

    @app.get("/")
    def root() -> Response:
        return control.index()

    @app.errorhandler(ControlError)
    @app.errorhandler(EventError)
    def control_error(error: ControlError | EventError) -> tuple[Response, int]:
        return jsonify({"error": error.message}), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response | tuple[Response, int]:
        # Every HTTP error as JSON, so no client has to parse an HTML error page.
        if request.path.startswith(("/cgi-bin/", "/wxa/")) and error.code == 404:
            return jsonify({"errcode": 404, "errmsg": "sandbox does not simulate this API"}), 404
        return jsonify({"error": error.description}), error.code or 500

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response, int]:  # pragma: no cover - a safety net
        # A bug in the sandbox must not surface as a traceback page; the log has the details.
        log.exception("sandbox error on %s", request.path)
        if request.path.startswith(("/cgi-bin/", "/sns/", "/wxa/")):
            platform = WECOM if "wecom" in (request.blueprint or "") else OPEN
            # The platforms answer trouble on their side as errcode -1 "system busy", HTTP 200.
            return jsonify(error_body(platform, -1)), 200
        return jsonify({"error": f"sandbox error: {type(error).__name__}"}), 500

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # no access log lines in tests
        pass


class SandboxServer:
    """The sandbox on a loopback port in a background thread, ticker included.

    >>> server = SandboxServer({"ticket_interval": 600})
    >>> base_url = server.start()  # ... talk to it ...
    >>> server.stop()
    """

    def __init__(
        self,
        settings: dict[str, Any] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        quiet: bool = True,
        seed: int | None = None,
    ) -> None:
        self.app = create_sandbox_app(settings, clock=clock, seed=seed)
        self.quiet = quiet
        self.sandbox: Sandbox = self.app.extensions[EXTENSION]
        self.host = host
        self.port = port
        self.base_url = ""
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> SandboxState:
        return self.sandbox.state

    def start(self) -> str:
        """Serve (threaded), start the ticker, return the base URL; OSError if the port is taken."""
        handler = _QuietHandler if self.quiet else WSGIRequestHandler
        # Bind ourselves: werkzeug prints and exits the process when the port is taken, and we
        # want a plain OSError for the caller (the command turns it into one line).
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(128)
            self._server = make_server(
                self.host,
                self.port,
                self.app,
                threaded=True,
                request_handler=handler,
                fd=listener.fileno(),  # werkzeug dups it
            )
        self.port = self._server.port  # the real one when 0 was asked for
        # Listening on every interface: clients still reach it on loopback.
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(self.host, self.host)
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        self.base_url = f"http://{host}:{self.port}"
        # A short poll interval makes stop() quick (serve_forever checks for shutdown that often).
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name="sandbox-http", daemon=True
        )
        self._thread.start()
        self.sandbox.ticker.start()
        return self.base_url

    def stop(self) -> None:
        """Stop the ticker, the HTTP server and wait for pushes still under way."""
        self.sandbox.ticker.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.sandbox.pusher.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(
    settings: dict[str, Any],
    *,
    host: str,
    port: int,
    seed: int | None = None,
    apps: Sequence[App] = (),
    providers: Sequence[Provider] = (),
) -> None:
    """Run the sandbox in the foreground until Ctrl-C or SIGTERM (`suite-server sandbox`):
    `providers` and `apps` registered first, each pushing to its server_url, and the settings that
    point suite-server at the sandbox printed."""
    server = SandboxServer(settings, host=host, port=port, quiet=False, seed=seed)
    try:
        base = server.start()
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    for provider in providers:
        server.sandbox.register_provider(provider)
        click.echo(f"Registered provider {provider.corpid}, pushing to {provider.server_url}")
    for app in apps:
        server.sandbox.register(app)
        click.echo(f"Registered {app.platform} app {app.app_id}, pushing to {app.server_url}")
    click.echo(f"Sandbox running at {base}/sandbox/  (Ctrl-C to stop)")
    click.echo("Point suite-server at it with:")
    click.echo(f"  SUITE_SERVER_WECOM_API_BASE={base}")
    click.echo(f"  SUITE_SERVER_WECHAT_API_BASE={base}")
    click.echo(f"  SUITE_SERVER_WECOM_INSTALL_URL={base}/3rdapp/install")
    click.echo(f"  SUITE_SERVER_OPEN_AUTH_URL={base}/cgi-bin/componentloginpage")
    stopping = threading.Event()
    # Ctrl-C and `kill` both stop it cleanly (ticker joined, port closed).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        while not stopping.wait(3600):
            pass
    finally:
        click.echo("Stopping the sandbox.")
        server.stop()
