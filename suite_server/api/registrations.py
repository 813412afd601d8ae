"""Registering mini programs for merchants (docs/registrations.md): the ISV's service starts an
enterprise, personal or beta registration through the component, and reads how its requests
went. The outcome arrives later as a push, told as `registration.succeeded` / `.failed`."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request

from suite_server.api.routes import MAX_BODY, ApiError, _app, _route, _session
from suite_server.authorization import registrations
from suite_server.errors import UpstreamError, ValidationError
from suite_server.models import Registration
from suite_server.models.registrations import STATUSES
from suite_server.protocol import xml
from suite_server.tokens.service import with_app_token
from suite_server.upstream import api_for

LISTED = 100


@_route("/apps/<app_id>/registrations", "POST")
def registration_start(app_id: str) -> Response:
    """{kind, ref?, ...the platform's fields} -> 201 {registration}."""
    body = _body()
    app = _component(app_id)
    kind, ref = body.pop("kind", None), body.pop("ref", None)
    session = _session()
    api = api_for(app.platform, current_app.config)
    try:
        row = with_app_token(
            session,
            app,
            api,
            lambda token: registrations.start(session, app, kind, body, ref, api, token),
        )
    except ValidationError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    except UpstreamError as exc:
        session.rollback()
        if exc.kind == "busy":
            raise ApiError(503, "upstream_busy", f"the platform is busy: {exc.errcode}") from None
        raise ApiError(
            400, "platform_refused", f"the platform refused it: errcode {exc.errcode} {exc.errmsg}"
        ) from None
    answer = jsonify(registration=registrations.as_json(row))
    answer.status_code = 201
    return answer


@_route("/apps/<app_id>/registrations")
def registration_list(app_id: str) -> Response:
    """The app's latest registrations (at most 100), newest first; ?status= filters."""
    app = _component(app_id)
    status = request.args.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(400, "bad_request", f"status must be one of {', '.join(STATUSES)}")
    rows = registrations.recent(_session(), app.id, LISTED, status)
    return jsonify(registrations=[registrations.as_json(row) for row in rows])


@_route("/apps/<app_id>/registrations/<registration_id>")
def registration_one(app_id: str, registration_id: str) -> Response:
    app = _component(app_id)
    number = xml.whole_number(registration_id, 9)
    row = _session().get(Registration, number) if number is not None else None
    if row is None or row.app_pk != app.id:
        raise ApiError(404, "not_found", f"no registration {registration_id} of {app_id}")
    return jsonify(registration=registrations.as_json(row))


def _component(app_id: str):
    app = _app(app_id)
    if app.platform != "open":
        raise ApiError(400, "bad_request", "registrations are made through an Open component")
    return app


def _body() -> dict[str, Any]:
    request.max_content_length = MAX_BODY
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", 'send a JSON body {"kind": ..., ...}')
    return body
