"""Events (stored pushes) and webhook deliveries: the lists, one of each, re-process, redeliver."""

from __future__ import annotations

from flask import abort, flash, render_template, request
from flask_babel import gettext as _

from suite_server import db
from suite_server.admin import events
from suite_server.admin.forms import ActionForm
from suite_server.admin.routes.common import actor, app_ids, arg, bp, done, int_arg
from suite_server.admin.tenants import ActionFailed
from suite_server.models.events import STATUSES as EVENT_STATUSES
from suite_server.models.webhooks import STATUSES as DELIVERY_STATUSES
from suite_server.whole_numbers import MAX_ID


@bp.get("/events")
def event_list():
    page = events.event_page(
        db.session(),
        app_id=arg("app"),
        tenant_id=arg("tenant"),
        kind=arg("kind"),
        status=arg("status", EVENT_STATUSES),
        before=int_arg("before"),
    )
    return render_template(
        "admin/events.html",
        page=page,
        args=request.args,
        statuses=EVENT_STATUSES,
        app_ids=app_ids(),
    )


@bp.get(f"/events/<int(max={MAX_ID}):event_id>")
def event_page(event_id: int):
    view = events.event_view(db.session(), event_id)
    if view is None:
        abort(404)
    return render_template("admin/event.html", view=view, form=ActionForm())


@bp.post(f"/events/<int(max={MAX_ID}):event_id>/reprocess")
def event_reprocess(event_id: int):
    try:
        events.reprocess(db.session(), actor(), event_id)
        flash(_("Queued for processing again; reload to see how it ends."), "ok")
    except ActionFailed as exc:
        flash(str(exc), "error")
    return done("admin.event_page", event_id=event_id)


@bp.get("/webhooks")
def delivery_list():
    page = events.delivery_page(
        db.session(),
        app_id=arg("app"),
        tenant_id=arg("tenant"),
        status=arg("status", DELIVERY_STATUSES),
        before=int_arg("before"),
    )
    return render_template(
        "admin/deliveries.html",
        page=page,
        args=request.args,
        statuses=DELIVERY_STATUSES,
        app_ids=app_ids(),
    )


@bp.get(f"/webhooks/<int(max={MAX_ID}):delivery_id>")
def delivery_page(delivery_id: int):
    view = events.delivery_view(db.session(), delivery_id)
    if view is None:
        abort(404)
    return render_template("admin/delivery.html", view=view, form=ActionForm())


@bp.post(f"/webhooks/<int(max={MAX_ID}):delivery_id>/redeliver")
def delivery_redeliver(delivery_id: int):
    try:
        events.redeliver(db.session(), actor(), delivery_id)
        flash(_("Sending again, in a new round of retries."), "ok")
    except ActionFailed as exc:
        flash(str(exc), "error")
    return done("admin.delivery_page", delivery_id=delivery_id)
