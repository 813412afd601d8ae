"""Open Platform component API routes (host api.weixin.qq.com): thin wrappers around
`openplatform`."""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from suite_server.sandbox import openplatform as op
from suite_server.sandbox import payloads
from suite_server.sandbox.api_common import platform_blueprint, post_body
from suite_server.sandbox.pushes import AUTH, wire_time
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import OPEN

bp = platform_blueprint("sandbox_open_api", OPEN)
BOTH = ["GET", "POST"]


def _state():
    return current_sandbox().state


def _component(body: dict):
    # open-platform.md §4: the token comes as component_access_token (older docs and SDKs) or
    # as access_token (newer doc pages); accept both.
    value = request.args.get("component_access_token") or request.args.get("access_token")
    return op.component_from_token(_state(), value, body)


@bp.route("/cgi-bin/component/api_component_token", methods=BOTH)
def api_component_token() -> ResponseReturnValue:
    return jsonify(op.api_component_token(_state(), post_body()))


@bp.route("/cgi-bin/component/api_create_preauthcode", methods=BOTH)
def api_create_preauthcode() -> ResponseReturnValue:
    body = post_body()
    return jsonify(op.api_create_preauthcode(_state(), _component(body)))


@bp.route("/cgi-bin/component/api_query_auth", methods=BOTH)
def api_query_auth() -> ResponseReturnValue:
    body = post_body()
    return jsonify(op.api_query_auth(_state(), _component(body), body))


@bp.route("/cgi-bin/component/api_authorizer_token", methods=BOTH)
def api_authorizer_token() -> ResponseReturnValue:
    body = post_body()
    return jsonify(op.api_authorizer_token(_state(), _component(body), body))


@bp.route("/cgi-bin/component/api_get_authorizer_info", methods=BOTH)
def api_get_authorizer_info() -> ResponseReturnValue:
    body = post_body()
    return jsonify(op.api_get_authorizer_info(_state(), _component(body), body))


@bp.route("/cgi-bin/component/api_get_authorizer_list", methods=BOTH)
def api_get_authorizer_list() -> ResponseReturnValue:
    body = post_body()
    return jsonify(op.api_get_authorizer_list(_state(), _component(body), body))


@bp.route("/cgi-bin/component/api_start_push_ticket", methods=BOTH)
def api_start_push_ticket() -> ResponseReturnValue:
    sandbox = current_sandbox()
    app = op.api_start_push_ticket(sandbox.state, post_body())

    def push() -> None:
        ticket = sandbox.state.issue_ticket(app)
        plaintext = payloads.open_verify_ticket(app.app_id, ticket.value, wire_time())
        sandbox.pusher.deliver(app, "ticket", AUTH, plaintext)

    # The push runs after we answer, as on the platform, so a caller that is itself the push
    # receiver (single-threaded) does not deadlock.
    sandbox.pusher.deliver_later(push)
    return jsonify(op.OK)


@bp.route("/cgi-bin/message/custom/send", methods=BOTH)
def custom_send() -> ResponseReturnValue:
    body = post_body()
    tenant = op.authorizer_from_token(_state(), request.args.get("access_token"))
    return jsonify(op.custom_send(_state(), tenant, body))
