"""suite-server: WeCom suite and WeChat Open Platform component server for ISVs."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from suite_server import db, guards, settings
from suite_server.crypto.secrets import Keyring
from suite_server.dispatch.router import load as load_handlers
from suite_server.jobs import runner as job_runner
from suite_server.ops import logs


def instance_path(overrides: dict[str, Any] | None = None) -> str:
    """The instance folder (dev keys, the SQLite database): INSTANCE_PATH in `overrides`, else
    SUITE_SERVER_INSTANCE_PATH, else Flask's default `instance/` next to the package."""
    chosen = (overrides or {}).get("INSTANCE_PATH") or os.environ.get(
        f"{settings.PREFIX}_INSTANCE_PATH"
    )
    return os.path.abspath(chosen) if chosen else Flask(__name__).instance_path


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """The one entry point: settings, database, keyring, blueprints. `overrides` (tests) win over
    the config file and the environment; raises settings.SettingsError with a one-line reason."""
    app = Flask(__name__, instance_path=instance_path(overrides))
    app.config["INSTANCE_PATH"] = app.instance_path
    settings.load(app.config, overrides)

    db.init_app(app)
    logs.init_app(app)
    guards.init_app(app)  # before every blueprint's own hooks
    app.extensions["suite_server.keyring"] = Keyring(app.config["ENCRYPTION_KEYS"])
    job_runner.init_app(app)
    _register_gauges()
    try:
        load_handlers(app.config["HANDLERS"])  # the ISV's tenant handlers register themselves
    except ImportError as exc:
        raise settings.SettingsError(str(exc)) from None

    from suite_server import admin, site
    from suite_server.api import blueprint as api_bp
    from suite_server.authorization.routes import bp as authorization_bp
    from suite_server.callbacks.routes import bp as callbacks_bp
    from suite_server.ops.health import bp as health_bp
    from suite_server.ops.metrics import bp as metrics_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(callbacks_bp)
    app.register_blueprint(authorization_bp)
    app.register_blueprint(api_bp())
    admin.init_app(app)
    site.init_app(app)
    return app


def _register_gauges() -> None:
    """The state /metrics reads at each scrape, from the modules that own it."""
    from suite_server import apps
    from suite_server.billing import gauges as billing_gauges
    from suite_server.jobs import gauges as job_gauges
    from suite_server.tenants import gauges as tenant_gauges
    from suite_server.tokens import gauges as token_gauges

    apps.register_gauges()
    tenant_gauges.register()
    token_gauges.register()
    job_gauges.register()
    billing_gauges.register()
