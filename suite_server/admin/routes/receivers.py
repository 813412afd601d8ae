"""An app's webhook receivers: the page (each receiver, its settings and recent deliveries), add,
edit, rotate the secret (shown once), remove (after a confirmation page)."""

from __future__ import annotations

from flask import abort, flash, render_template
from flask_babel import gettext as _
from flask_login import current_user

from suite_server import db
from suite_server.admin import apps, receivers, sessions
from suite_server.admin.forms import ActionForm, ConfirmForm, ReceiverForm
from suite_server.admin.routes.common import actor, bp, done, form_errors
from suite_server.admin.tenants import ActionFailed
from suite_server.whole_numbers import MAX_ID

RECEIVER = f"/apps/<app_id>/receivers/<int(max={MAX_ID}):receiver_id>"


def _app_or_404(app_id: str):
    app = apps.find(db.session(), app_id)
    if app is None:
        abort(404)
    return app


def _receiver_or_404(app_id: str, receiver_id: int):
    app = _app_or_404(app_id)
    receiver = receivers.find(db.session(), app, receiver_id)
    if receiver is None:
        abort(404)
    return app, receiver


def _prefix(receiver_id: int) -> str:
    return f"r{receiver_id}"


@bp.get("/apps/<app_id>/receivers")
def app_receivers(app_id: str):
    app = _app_or_404(app_id)
    shown = receivers.page(db.session(), app)
    secret = None
    mark = current_user.shown_once or ""
    if mark.startswith(receivers.SHOWN_ONCE):
        of = next((s.receiver for s in shown if mark == _mark(s.receiver.id)), None)
        if of is not None and sessions.take_shown_once(db.session(), current_user.session_pk, mark):
            secret = {"name": of.name, "value": of.secret}
    edit_forms = {
        s.receiver.id: ReceiverForm(
            formdata=None,
            prefix=_prefix(s.receiver.id),
            url=s.receiver.url,
            matches=s.receiver.matches,
            sync=s.receiver.sync,
            enabled=s.receiver.enabled,
        )
        for s in shown
    }
    return render_template(
        "admin/receivers.html",
        app=app,
        shown=shown,
        secret=secret,
        add_form=ReceiverForm(formdata=None),
        edit_forms=edit_forms,
        form=ActionForm(),
    )


def _mark(receiver_id: int) -> str:
    return f"{receivers.SHOWN_ONCE}{receiver_id}"


def _show_secret_once(receiver_id: int) -> None:
    # The session row carries the mark, never the secret (nor does the cookie).
    sessions.show_once(db.session(), current_user.session_pk, _mark(receiver_id))
    db.session().commit()


@bp.post("/apps/<app_id>/receivers")
def app_receiver_add(app_id: str):
    app = _app_or_404(app_id)
    form = ReceiverForm()
    try:
        if not form.validate():
            raise ActionFailed(form_errors(form))
        receiver = receivers.add(
            db.session(),
            actor(),
            app,
            name=form.name.data or "",
            url=form.url.data or "",
            matches=form.matches.data or "",
            sync=form.sync.data,
        )
    except ActionFailed as exc:
        flash(_("Not added: %(error)s", error=exc), "error")
        return done("admin.app_receivers", app_id=app_id)
    _show_secret_once(receiver.id)
    flash(_("Receiver %(receiver)s added.", receiver=receiver.name), "ok")
    return done("admin.app_receivers", app_id=app_id)


@bp.post(RECEIVER)
def app_receiver_edit(app_id: str, receiver_id: int):
    app, receiver = _receiver_or_404(app_id, receiver_id)
    form = ReceiverForm(prefix=_prefix(receiver_id))
    name = receiver.name
    try:
        if not form.validate():
            raise ActionFailed(form_errors(form))
        changed = receivers.edit(
            db.session(),
            actor(),
            app,
            receiver,
            url=form.url.data or "",
            matches=form.matches.data or "",
            enabled=form.enabled.data,
            sync=form.sync.data,
        )
    except ActionFailed as exc:
        flash(_("%(receiver)s: not saved: %(error)s", receiver=name, error=exc), "error")
        return done("admin.app_receivers", app_id=app_id)
    if changed:
        # The settings by their names (url, matches...), as the audit log has them.
        flash(_("%(receiver)s: saved %(fields)s", receiver=name, fields=", ".join(changed)), "ok")
    else:
        flash(_("%(receiver)s: nothing changed.", receiver=name), "ok")
    return done("admin.app_receivers", app_id=app_id)


@bp.post(f"{RECEIVER}/rotate-secret")
def app_receiver_rotate(app_id: str, receiver_id: int):
    app, receiver = _receiver_or_404(app_id, receiver_id)
    receivers.rotate_secret(db.session(), actor(), app, receiver)
    _show_secret_once(receiver_id)
    flash(
        _("%(receiver)s: new secret made; retries are signed with it too.", receiver=receiver.name),
        "ok",
    )
    return done("admin.app_receivers", app_id=app_id)


@bp.get(f"{RECEIVER}/remove")
def app_receiver_remove_confirm(app_id: str, receiver_id: int):
    app, receiver = _receiver_or_404(app_id, receiver_id)
    return render_template(
        "admin/receiver_remove.html", app=app, receiver=receiver, form=ConfirmForm(formdata=None)
    )


@bp.post(f"{RECEIVER}/remove")
def app_receiver_remove(app_id: str, receiver_id: int):
    app, receiver = _receiver_or_404(app_id, receiver_id)
    form = ConfirmForm()
    if not form.validate():
        # Not sent from the confirmation page: show it first.
        flash(_("Confirm the removal below."))
        return done("admin.app_receiver_remove_confirm", app_id=app_id, receiver_id=receiver_id)
    name = receiver.name
    removed = receivers.remove(db.session(), actor(), app, receiver)
    flash(
        _(
            "Receiver %(receiver)s removed, with its %(count)s deliveries.",
            receiver=name,
            count=removed,
        ),
        "ok",
    )
    return done("admin.app_receivers", app_id=app_id)
