"""The page behind a get_customized_auth_url QR code (isv-capabilities.md §1, doc/98744): a corp
admin scans it, picks (or names) the corp and approves; the corp then has a customized app of
each template the link names.

`GET /sandbox/customized_install?link=<id>` shows the form; `POST` to the same URL approves it.
Form fields (as on the install pages): `tenant` = an existing corpid, or `__new__` for a new corp
named by `new_id` (corpid; one is made up when empty) and `new_name`.

For each template the corp is authorized (install state = the link's `state`), an auth code is
issued and `create_auth` (SuiteId = the template id, AuthCode, InfoType, TimeStamp, State) is
pushed to the template's command URL, then the page shows the corp id and each push's outcome.
There is no redirect: a customized install never returns to the ISV's page, the push is the only
way in. A link unknown or older than 864000 s answers 400 with an error page.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from suite_server.sandbox import approvals
from suite_server.sandbox import authorizations as auth
from suite_server.sandbox.events import EventError
from suite_server.sandbox.install_pages import NEW
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import WECOM, App, CustomizedLink

bp = Blueprint("sandbox_customized_install", __name__, url_prefix="/sandbox")
MAX_LISTED = 50  # existing corps offered on the page


class LinkError(Exception):
    pass


@bp.route("/customized_install", methods=["GET", "POST"])
def customized_install() -> ResponseReturnValue:
    sandbox = current_sandbox()
    try:
        link, templates = _check_link(request.args.get("link", ""))
    except LinkError as exc:
        return render_template("sandbox/error.html", message=str(exc)), 400
    if request.method == "GET":
        return render_template("sandbox/customized_install.html", **_context(link, templates))
    chosen = request.form.get("tenant", NEW)
    tenant_id = request.form.get("new_id", "").strip() if chosen == NEW else chosen
    tenant_id = tenant_id or auth.new_tenant_id(WECOM)  # one corp for every template
    name = request.form.get("new_name", "").strip() if chosen == NEW else ""
    installed = []
    try:
        for app in templates:
            result = approvals.approve(
                sandbox,
                app,
                tenant_id=tenant_id,
                name=name,
                via=approvals.MARKET,  # no pre-auth code, no redirect: create_auth is pushed
                install_state=link.state,
            )
            installed.append({"template_id": app.app_id, **result})
    except EventError as exc:
        return render_template("sandbox/error.html", message=exc.message), exc.status
    return render_template(
        "sandbox/customized_installed.html", corpid=tenant_id, state=link.state, installed=installed
    )


def _check_link(link_id: str) -> tuple[CustomizedLink, list[App]]:
    """The link and its templates, or LinkError with what the real page would say."""
    state = current_sandbox().state
    with state.lock:
        link = state.customized_links.get(link_id)
        if link is None:
            raise LinkError("unknown QR code; ask the provider for a new one")
        if state.now() >= link.expires_at:
            raise LinkError("this QR code has expired; ask the provider for a new one")
        templates = [state.app(i, WECOM) for i in link.template_ids]
    if any(app is None for app in templates):
        raise LinkError("a template of this QR code no longer exists")
    return link, [app for app in templates if app is not None]


def _context(link: CustomizedLink, templates: list[App]) -> dict[str, Any]:
    state = current_sandbox().state
    with state.lock:
        corps: dict[str, str] = {}
        for app in templates:
            for tenant in state.tenants_of(app.app_id):
                corps.setdefault(tenant.tenant_id, tenant.name)
    return {
        "link": link,
        "templates": templates,
        "corps": list(corps.items())[:MAX_LISTED],
        "suggested_id": auth.new_tenant_id(WECOM),
        "new": NEW,
    }
