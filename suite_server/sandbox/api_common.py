"""What every platform API route shares: a blueprint that meters calls, injects faults (drop
rules included) and answers errcodes, and lenient-but-strict JSON body parsing."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from suite_server.sandbox import quota
from suite_server.sandbox.errors import ApiError, error_response
from suite_server.sandbox.metering import drop_fields, meter_and_inject
from suite_server.sandbox.state import OPEN


def platform_blueprint(name: str, platform: str) -> Blueprint:
    """A blueprint whose routes are counted, fault-injected, and turn ApiError into JSON."""
    bp = Blueprint(name, __name__)

    @bp.before_request
    def _meter() -> Response | None:
        return meter_and_inject(platform)

    @bp.after_request
    def _drop(response: Response) -> Response:
        response = drop_fields(response)
        return quota.keep_rid(response) if platform == OPEN else response

    @bp.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(platform, error)

    return bp


def json_body() -> dict[str, Any]:
    """The request's JSON object; {} when the body is empty; 47001 when it is not a JSON object.

    Like the platforms, the Content-Type header is not required.
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(47001) from exc
    if not isinstance(body, dict):
        raise ApiError(47001)
    return body


def post_body() -> dict[str, Any]:
    """json_body() for POST-only APIs; a GET gets 43002 "require POST method"."""
    if request.method != "POST":
        raise ApiError(43002)
    return json_body()
