"""One-time install links (docs/api.md, docs/install.md): the ISV's service mints a link for one
of its customers, carrying the customer's `ref` and where the browser goes back to
(`return_to`, which the app's allow-list must admit). Only the link's SHA-256 is stored; the
link is in the answer, once."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request

from suite_server.api.routes import MAX_BODY, ApiError, _app, _route, _session
from suite_server.authorization import context, landing
from suite_server.errors import ValidationError

FIELDS = ("ref", "return_to", "expires_in")


@_route("/apps/<app_id>/install-links", "POST")
def install_link(app_id: str) -> Response:
    body = _body()
    app = _app(app_id)
    ref, return_to = body.get("ref"), body.get("return_to")
    seconds = body.get("expires_in")
    seconds = context.LINK_SECONDS if seconds is None else seconds
    if ref is not None and not isinstance(ref, str):
        raise ApiError(400, "bad_request", context.REF_RULE)
    if return_to is not None and (not isinstance(return_to, str) or not return_to):
        raise ApiError(400, "bad_request", "return_to must be an http(s) URL or null")
    low, high = context.MIN_LINK_SECONDS, context.MAX_LINK_SECONDS
    if type(seconds) is not int or not low <= seconds <= high:
        raise ApiError(400, "bad_request", f"expires_in must be whole seconds from {low} to {high}")
    if return_to is not None and not app.is_template:
        try:
            landing.check_url(return_to, "return_to")
        except ValidationError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
        if not landing.return_to_allowed(app, return_to):
            raise ApiError(
                400,
                "return_to_not_allowed",
                f"return_to is not under any prefix of app {app_id}'s allow-list "
                f"(suite-server apps landing {app_id} --allow PREFIX)",
            )
    try:
        link = context.mint_link(
            _session(),
            app,
            current_app.config["PUBLIC_URL"],
            ref=ref,
            return_to=return_to,
            seconds=seconds,
        )
    except ValidationError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    answer = jsonify(
        url=link.url,
        expires_at=link.expires_at.isoformat(),
        ref=link.ref,
        return_to=link.return_to,
    )
    answer.status_code = 201
    return answer


def _body() -> dict[str, Any]:
    request.max_content_length = MAX_BODY
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ApiError(
            400, "bad_request", 'send a JSON body {"ref": ..., "return_to": ..., "expires_in": ...}'
        )
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ApiError(400, "bad_request", f"unknown field {unknown[0][:40]!r}")
    return body
