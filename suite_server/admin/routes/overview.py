"""The dashboard, the "at risk" page, the audit log and the API keys with their scopes."""

from __future__ import annotations

from flask import current_app, render_template, request

from suite_server import accounts, db
from suite_server.admin import audit, dashboard
from suite_server.admin.routes.common import arg, bp, int_arg
from suite_server.processing import retention


@bp.get("/", endpoint="dashboard")
def dashboard_page():
    session = db.session()
    return render_template(
        "admin/dashboard.html",
        apps=dashboard.health(session),
        tenant_count=dashboard.tenant_count,
        storage=retention.storage(session),
    )


@bp.get("/at-risk")
def at_risk():
    risk = dashboard.at_risk(db.session(), current_app.config["PUBLIC_URL"])
    return render_template("admin/at_risk.html", risk=risk)


@bp.get("/audit")
def audit_log():
    page = audit.page(
        db.session(), actor=arg("actor"), target=arg("target"), before=int_arg("before")
    )
    return render_template("admin/audit.html", page=page, args=request.args)


@bp.get("/api-keys")
def api_key_list():
    return render_template("admin/api_keys.html", keys=accounts.list_api_keys(db.session()))
