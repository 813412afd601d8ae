"""Tenants: the list, one tenant's page, and its actions."""

from __future__ import annotations

from flask import abort, flash, render_template, request
from flask_babel import gettext as _

from suite_server import db
from suite_server.admin import quota as quota_page
from suite_server.admin import tenants
from suite_server.admin.forms import ActionForm, DeactivateForm
from suite_server.admin.i18n import local
from suite_server.admin.routes.common import actor, app_ids, arg, bp, done, int_arg
from suite_server.admin.tenants import ActionFailed
from suite_server.billing import ledger, orders
from suite_server.gateway import quota
from suite_server.models.tenants import STATUSES as TENANT_STATUSES
from suite_server.tenants import capabilities, views
from suite_server.whole_numbers import MAX_SMALL_ID

RECENT_ORDERS = 10  # a tenant's paid-app orders on its page


@bp.get("/tenants")
def tenant_list():
    page = tenants.search(
        db.session(),
        app_id=arg("app"),
        status=arg("status", TENANT_STATUSES),
        q=arg("q"),
        before=int_arg("before", MAX_SMALL_ID),
    )
    return render_template(
        "admin/tenants.html",
        page=page,
        args=request.args,
        statuses=TENANT_STATUSES,
        app_ids=app_ids(),
    )


def _tenant_or_404(app_id: str, tenant_id: str):
    found = tenants.find(db.session(), app_id, tenant_id)
    if found is None:
        abort(404)
    return found


def _back(app_id: str, tenant_id: str):
    return done("admin.tenant_page", app_id=app_id, tenant_id=tenant_id)


@bp.get("/tenants/<app_id>/<tenant_id>")
def tenant_page(app_id: str, tenant_id: str):
    app, tenant = _tenant_or_404(app_id, tenant_id)
    return render_template(
        "admin/tenant.html",
        view=tenants.page_of(db.session(), app, tenant),
        edition=views.edition((tenant.auth_info or {}).get("edition_info")),
        caps=capabilities.of(app.platform, tenant.auth_info, app.required_func_info),
        orders=orders.recent(db.session(), app.id, tenant.tenant_id, limit=RECENT_ORDERS),
        licenses=(
            ledger.of_tenant(db.session(), app, tenant) if ledger.licensed_app(app) else None
        ),
        form=ActionForm(),
    )


@bp.post("/tenants/<app_id>/<tenant_id>/refresh-token")
def tenant_refresh(app_id: str, tenant_id: str):
    app, tenant = _tenant_or_404(app_id, tenant_id)
    try:
        refreshed = tenants.refresh_token(db.session(), actor(), app, tenant)
    except ActionFailed as exc:
        flash(str(exc), "error")
        return _back(app_id, tenant_id)
    expires = local(refreshed.served.expires_at)
    if refreshed.same_token:
        # WeCom answers get_corp_token with the token it already gave while that one is valid
        # (wecom-suite.md §4): nothing new was obtained, and saying so avoids a false comfort.
        if app.platform == "wecom":
            message = _(
                "WeCom handed back the token we already had (it gives the same token until "
                "that one expires): it expires at %(expires)s. No new token was issued.",
                expires=expires,
            )
        else:
            message = _(
                "The platform handed back the token we already had (it gives the same token "
                "until that one expires): it expires at %(expires)s. No new token was issued.",
                expires=expires,
            )
        flash(message, "ok")
    else:
        flash(_("New token obtained; it expires at %(expires)s.", expires=expires), "ok")
    return _back(app_id, tenant_id)


@bp.post("/tenants/<app_id>/<tenant_id>/reread-auth-info")
def tenant_reread(app_id: str, tenant_id: str):
    app, tenant = _tenant_or_404(app_id, tenant_id)
    try:
        changed = tenants.reread_auth_info(db.session(), actor(), app, tenant)
        if changed:
            flash(_("Auth info re-read: it changed."), "ok")
        else:
            flash(_("Auth info re-read: no change."), "ok")
    except ActionFailed as exc:
        flash(str(exc), "error")
    return _back(app_id, tenant_id)


@bp.post("/tenants/<app_id>/<tenant_id>/check-licenses")
def tenant_check_licenses(app_id: str, tenant_id: str):
    app, tenant = _tenant_or_404(app_id, tenant_id)
    try:
        queued = tenants.check_licenses(db.session(), actor(), app, tenant)
    except ActionFailed as exc:
        flash(str(exc), "error")
        return _back(app_id, tenant_id)
    flash(
        _(
            "License check queued: the corp's license info and accounts are read again in the "
            "background; reload this page in a moment."
        )
        if queued
        else _("A license check of this corp is already waiting: it will do."),
        "ok",
    )
    return _back(app_id, tenant_id)


@bp.get("/tenants/<app_id>/<tenant_id>/deactivate")
def tenant_deactivate_confirm(app_id: str, tenant_id: str):
    app, tenant = _tenant_or_404(app_id, tenant_id)
    return render_template(
        "admin/deactivate.html", app=app, tenant=tenant, form=DeactivateForm(formdata=None)
    )


@bp.post("/tenants/<app_id>/<tenant_id>/deactivate")
def tenant_deactivate(app_id: str, tenant_id: str):
    app, tenant = _tenant_or_404(app_id, tenant_id)
    form = DeactivateForm()
    if form.confirm.data != "yes":
        # Not sent from the confirmation page: show it first.
        flash(_("Confirm the deactivation below."))
        return done("admin.tenant_deactivate_confirm", app_id=app_id, tenant_id=tenant_id)
    try:
        if not form.validate():
            raise ActionFailed(_("The reason is at most 200 characters."))
        tenants.deactivate(db.session(), actor(), app, tenant, form.reason.data or "")
        flash(_("Deactivated: its token is dropped, and no longer refreshed or served."), "ok")
    except ActionFailed as exc:
        flash(str(exc), "error")
    return _back(app_id, tenant_id)


@bp.post("/tenants/<app_id>/<tenant_id>/reactivate")
def tenant_reactivate(app_id: str, tenant_id: str):
    app, tenant = _tenant_or_404(app_id, tenant_id)
    try:
        served = tenants.reactivate(db.session(), actor(), app, tenant)
        flash(
            _(
                "Active again: the platform gave a token until %(expires)s.",
                expires=local(served.expires_at),
            ),
            "ok",
        )
    except ActionFailed as exc:
        flash(str(exc), "error")
    return _back(app_id, tenant_id)


@bp.get("/tenants/<app_id>/<tenant_id>/quota")
def tenant_quota(app_id: str, tenant_id: str):
    """An Open Platform account's API quota: ?cgi_path= asks for one path, ?rid= looks up a
    failed call; both audited."""
    app, tenant = _tenant_or_404(app_id, tenant_id)
    if app.platform != "open":
        abort(404)
    cgi_path = request.args.get("cgi_path", "").strip()[:300]
    rid = request.args.get("rid", "").strip()[:300]
    page = quota_page.page_of(db.session(), actor(), app, tenant, cgi_path, rid)
    return render_template(
        "admin/quota.html",
        app=app,
        tenant=tenant,
        page=page,
        cgi_path=cgi_path,
        rid=rid,
        budget=quota.CLEARS_A_MONTH,
        form=ActionForm(),
    )


@bp.post("/tenants/<app_id>/<tenant_id>/quota/clear")
def tenant_quota_clear(app_id: str, tenant_id: str):
    app, tenant = _tenant_or_404(app_id, tenant_id)
    if app.platform != "open":
        abort(404)
    try:
        via = quota_page.clear(db.session(), actor(), app, tenant)
    except ActionFailed as exc:
        flash(str(exc), "error")
    else:
        if via == "token":
            flash(_("Quota of the day reset with its token."), "ok")
        else:
            flash(_("Quota of the day reset with the component's secret (no token)."), "ok")
    return done("admin.tenant_quota", app_id=app_id, tenant_id=tenant_id)
