"""Mini-program code deployments (docs/releases.md): the ISV's release service ships one template
version to many of a component's mini programs and follows each one's steps; it may retry the
failed ones or stop the rest. Templates themselves are managed through the app proxy
(`/api/v1/apps/<component>/proxy/wxa/gettemplatelist`, ...)."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from suite_server.api.routes import MAX_BODY, ApiError, _app, _route, _session
from suite_server.errors import ValidationError
from suite_server.models import Deployment
from suite_server.protocol import xml
from suite_server.releases import deployments


@_route("/apps/<app_id>/deployments", "POST")
def deployment_start(app_id: str) -> Response:
    """{template_id, user_version, user_desc?, ext_json?, targets?, gray_percentage?} -> 201."""
    request.max_content_length = MAX_BODY
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", 'send a JSON body {"template_id": ..., ...}')
    app = _app(app_id)
    caller = getattr(g, "caller", None)
    actor = f"apikey:{caller.name}" if caller is not None else "api"
    try:
        deployment = deployments.start(_session(), app, body, actor)
    except ValidationError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    answer = jsonify(deployment=deployments.as_json(_session(), deployment))
    answer.status_code = 201
    return answer


@_route("/apps/<app_id>/deployments")
def deployment_list(app_id: str) -> Response:
    app = _app(app_id)
    session = _session()
    rows = deployments.recent(session, app, limit=100)
    return jsonify(deployments=[deployments.as_json(session, row) for row in rows])


@_route("/apps/<app_id>/deployments/<deployment_id>")
def deployment_one(app_id: str, deployment_id: str) -> Response:
    deployment = _deployment(app_id, deployment_id)
    return jsonify(deployment=deployments.as_json(_session(), deployment, with_targets=True))


@_route("/apps/<app_id>/deployments/<deployment_id>/retry", "POST")
def deployment_retry(app_id: str, deployment_id: str) -> Response:
    deployment = _deployment(app_id, deployment_id)
    count = deployments.retry(_session(), deployment)
    return jsonify(retried=count, deployment=deployments.as_json(_session(), deployment))


@_route("/apps/<app_id>/deployments/<deployment_id>/revert", "POST")
def deployment_revert(app_id: str, deployment_id: str) -> Response:
    deployment = _deployment(app_id, deployment_id)
    count = deployments.revert(_session(), deployment)
    return jsonify(reverted=count, deployment=deployments.as_json(_session(), deployment))


@_route("/apps/<app_id>/deployments/<deployment_id>/stop", "POST")
def deployment_stop(app_id: str, deployment_id: str) -> Response:
    deployment = _deployment(app_id, deployment_id)
    deployments.stop(_session(), deployment)
    return jsonify(deployment=deployments.as_json(_session(), deployment))


def _deployment(app_id: str, deployment_id: str) -> Deployment:
    app = _app(app_id)
    number = xml.whole_number(deployment_id, 9)
    row: Any = _session().get(Deployment, number) if number is not None else None
    if row is None or row.app_pk != app.id:
        raise ApiError(404, "not_found", f"no deployment {deployment_id[:20]!r} of {app_id}")
    return row
