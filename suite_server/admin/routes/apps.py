"""Apps: the list (and the provider accounts), one app's or provider's page (console URLs,
settings, AES key rotation, webhook, landing secret rotation)."""

from __future__ import annotations

from flask import abort, flash, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import current_user

from suite_server import audit, db
from suite_server.admin import apps, dashboard, sessions
from suite_server.admin.forms import ActionForm, AppSettingsForm, RotateForm, WebhookForm
from suite_server.admin.routes.common import actor, bp, done, form_errors
from suite_server.admin.tenants import ActionFailed
from suite_server.apps import key_mismatches
from suite_server.authorization import registrations
from suite_server.billing import ledger, orders
from suite_server.releases import deployments

# What an app page may show once, after the action that made it (sessions.show_once).
RECENT_ORDERS = 10  # a suite's latest paid-app orders on its page
RECENT_LICENSE_ORDERS = 20  # license orders on an app's or a provider's page
RECENT_REGISTRATIONS = 20  # a component's latest mini-program registrations
RECENT_DEPLOYMENTS = 20  # and its latest code deployments
SHOWN_ONCE = {
    "aes_key": (
        lazy_gettext("New EncodingAESKey"),
        lazy_gettext(
            "Paste it into the platform's console now: it is not shown again. Pushes encrypted "
            "with the previous key are still accepted until the next rotation."
        ),
    ),
    "webhook_secret": (
        lazy_gettext("New webhook signing secret"),
        lazy_gettext("Give it to your receivers now: it is not shown again (docs/webhooks.md)."),
    ),
    "landing_secret": (
        lazy_gettext("New landing secret"),
        lazy_gettext(
            "Give it to your landing page now, to verify the `install` assertion: it is not "
            "shown again (docs/install.md). Assertions signed with a previous one no longer "
            "verify."
        ),
    ),
}


# A component's mini-program registrations (models/registrations.py), in the admin's language.
@bp.get("/apps")
def app_list():
    return render_template(
        "admin/apps.html",
        apps=dashboard.health(db.session()),
        providers=apps.provider_accounts(db.session()),
    )


def _app_or_404(app_id: str):
    app = apps.find(db.session(), app_id)
    if app is None:
        abort(404)
    return app


@bp.get("/apps/<app_id>")
def app_page(app_id: str):
    app = _app_or_404(app_id)
    shown_once = None
    mark = current_user.shown_once or ""
    what, _, of_app = mark.partition(":")
    if (
        what in SHOWN_ONCE
        and of_app == app_id
        and sessions.take_shown_once(db.session(), current_user.session_pk, mark)
    ):
        title, note = SHOWN_ONCE[what]
        value = getattr(app, what)  # the keys of SHOWN_ONCE are the App's columns
        shown_once = {"title": title, "value": value, "note": note}
    return render_template(
        "admin/app.html",
        app=app,
        urls=apps.console_urls(app),
        links=apps.links(db.session(), app),
        orders=orders.recent(db.session(), app.id, limit=RECENT_ORDERS),
        registrations=(
            registrations.recent(db.session(), app.id, RECENT_REGISTRATIONS)
            if app.platform == "open"
            else None
        ),
        deployments=(
            [
                (row, deployments.progress(db.session(), row))
                for row in deployments.recent(db.session(), app, RECENT_DEPLOYMENTS)
            ]
            if app.platform == "open"
            else None
        ),
        license_orders=(
            ledger.orders_of_app(db.session(), app, limit=RECENT_LICENSE_ORDERS)
            if app.is_provider or ledger.licensed_app(app)
            else None
        ),
        form=ActionForm(),
        settings_form=AppSettingsForm(
            formdata=None,
            name=app.name,
            landing_url=app.landing_url,
            return_to_allowed=app.return_to_allowed or "",
            test_mode=app.test_mode,
            required_func_info=", ".join(str(n) for n in app.required_func_info or []),
        ),
        webhook_form=WebhookForm(formdata=None, url=app.webhook_url),
        shown_once=shown_once,
        key_mismatch=next(iter(key_mismatches(db.session(), app.id)), None),
    )


@bp.post("/apps/<app_id>/settings")
def app_settings(app_id: str):
    app = _app_or_404(app_id)
    form = AppSettingsForm()
    had_landing_secret = bool(app.landing_secret)
    try:
        if not form.validate():
            raise ActionFailed(form_errors(form))
        changed = apps.update_settings(
            db.session(),
            actor(),
            app,
            name=form.name.data or "",
            landing_url=form.landing_url.data or "",
            test_mode=form.test_mode.data,
            secret=form.secret.data or "",
            token=form.token.data or "",
            aes_key=form.aes_key.data or "",
            return_to_allowed=None if app.is_provider else form.return_to_allowed.data or "",
            required_func_info=(
                form.required_func_info.data or "" if app.platform == "open" else None
            ),
        )
    except ActionFailed as exc:
        flash(_("Not saved: %(error)s", error=exc), "error")
        return done("admin.app_page", app_id=app_id)
    if changed:
        # The fields by their names (landing_url, secret...), as the audit log has them.
        flash(_("Saved: %(fields)s", fields=", ".join(changed)), "ok")
    else:
        flash(_("Nothing changed."), "ok")
    if app.landing_secret and not had_landing_secret:
        sessions.show_once(db.session(), current_user.session_pk, f"landing_secret:{app_id}")
        db.session().commit()
    return done("admin.app_page", app_id=app_id)


@bp.post("/apps/<app_id>/rotate-landing-secret")
def app_rotate_landing_secret(app_id: str):
    app = _app_or_404(app_id)
    try:
        apps.rotate_landing_secret(db.session(), actor(), app)
    except ActionFailed as exc:
        flash(str(exc), "error")
        return done("admin.app_page", app_id=app_id)
    sessions.show_once(db.session(), current_user.session_pk, f"landing_secret:{app_id}")
    db.session().commit()
    flash(_("Landing secret rotated."), "ok")
    return done("admin.app_page", app_id=app_id)


@bp.get("/apps/<app_id>/rotate-aes-key")
def app_rotate_confirm(app_id: str):
    app = _app_or_404(app_id)
    form = RotateForm(formdata=None, key=apps.key_fingerprint(app.aes_key))
    last = audit.last(db.session(), "app.rotate_aes_key", f"app:{app_id}")
    return render_template("admin/rotate.html", app=app, form=form, last=last)


@bp.post("/apps/<app_id>/rotate-aes-key")
def app_rotate_aes_key(app_id: str):
    app = _app_or_404(app_id)
    form = RotateForm()
    if not form.validate():
        flash(_("Confirm the rotation below."))
        return done("admin.app_rotate_confirm", app_id=app_id)
    try:
        apps.rotate_aes_key(db.session(), actor(), app, confirmed_key=form.key.data)
    except ActionFailed as exc:
        flash(str(exc), "error")
        return done("admin.app_page", app_id=app_id)
    # The key is shown on the page this redirects to, once: the session row carries the mark,
    # never the key (nor does the cookie).
    sessions.show_once(db.session(), current_user.session_pk, f"aes_key:{app_id}")
    db.session().commit()
    flash(_("AES key rotated."), "ok")
    return done("admin.app_page", app_id=app_id)


@bp.post("/apps/<app_id>/webhook")
def app_webhook(app_id: str):
    app = _app_or_404(app_id)
    form = WebhookForm()
    try:
        if not form.validate():
            raise ActionFailed(form_errors(form))
        secret = apps.configure_webhook(
            db.session(),
            actor(),
            app,
            url="" if form.off.data else form.url.data or "",
            off=form.off.data,
            rotate=form.rotate.data,
        )
    except ActionFailed as exc:
        flash(_("Not saved: %(error)s", error=exc), "error")
        return done("admin.app_page", app_id=app_id)
    if secret is not None:
        sessions.show_once(db.session(), current_user.session_pk, f"webhook_secret:{app_id}")
        db.session().commit()
    flash(_("Webhook turned off.") if form.off.data else _("Webhook saved."), "ok")
    return done("admin.app_page", app_id=app_id)
