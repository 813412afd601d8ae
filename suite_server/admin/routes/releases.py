"""A component's mini-program code deployments: one deployment's progress across its targets,
and retrying its failed targets or stopping it (audited)."""

from __future__ import annotations

from flask import abort, flash, render_template
from flask_babel import gettext as _

from suite_server import audit, db
from suite_server.admin.forms import ActionForm
from suite_server.admin.routes.common import actor, bp, done
from suite_server.models import App, Deployment
from suite_server.protocol import xml
from suite_server.releases import deployments


def _deployment_or_404(app_id: str, deployment_id: str) -> tuple[App, Deployment]:
    session = db.session()
    app = session.query(App).filter_by(app_id=app_id).one_or_none()
    number = xml.whole_number(deployment_id, 9)
    deployment = session.get(Deployment, number) if number is not None else None
    if app is None or deployment is None or deployment.app_pk != app.id:
        abort(404)
    return app, deployment


@bp.get("/apps/<app_id>/deployments/<deployment_id>")
def deployment_page(app_id: str, deployment_id: str):
    app, deployment = _deployment_or_404(app_id, deployment_id)
    session = db.session()
    return render_template(
        "admin/deployment.html",
        app=app,
        deployment=deployment,
        progress=deployments.progress(session, deployment),
        targets=deployments.targets_of(session, deployment),
        form=ActionForm(),
    )


@bp.post("/apps/<app_id>/deployments/<deployment_id>/retry")
def deployment_retry(app_id: str, deployment_id: str):
    app, deployment = _deployment_or_404(app_id, deployment_id)
    session = db.session()
    count = deployments.retry(session, deployment)
    audit.record(
        session, actor(), "deployment.retry", f"deployment:{deployment.id}", {"retried": count}
    )
    session.commit()
    if count:
        flash(_("%(count)s failed target(s) run again.", count=count), "ok")
    else:
        flash(_("No failed target."), "ok")
    return done("admin.deployment_page", app_id=app_id, deployment_id=deployment.id)


@bp.post("/apps/<app_id>/deployments/<deployment_id>/revert")
def deployment_revert(app_id: str, deployment_id: str):
    app, deployment = _deployment_or_404(app_id, deployment_id)
    session = db.session()
    count = deployments.revert(session, deployment)
    target = f"deployment:{deployment.id}"
    audit.record(session, actor(), "deployment.revert", target, {"reverted": count})
    session.commit()
    flash(
        _("%(count)s released target(s) going back to their previous version.", count=count), "ok"
    )
    return done("admin.deployment_page", app_id=app_id, deployment_id=deployment.id)


@bp.post("/apps/<app_id>/deployments/<deployment_id>/stop")
def deployment_stop(app_id: str, deployment_id: str):
    app, deployment = _deployment_or_404(app_id, deployment_id)
    session = db.session()
    deployments.stop(session, deployment)
    audit.record(session, actor(), "deployment.stop", f"deployment:{deployment.id}", None)
    session.commit()
    flash(_("Stopped: no further step starts."), "ok")
    return done("admin.deployment_page", app_id=app_id, deployment_id=deployment.id)
