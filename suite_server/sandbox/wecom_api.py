"""WeCom server API routes (host qyapi.weixin.qq.com): thin wrappers around `wecom` and
`customized` (the provider token, 代开发 QR links and gettoken)."""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from suite_server.sandbox import customized, wecom
from suite_server.sandbox.api_common import json_body, platform_blueprint, post_body
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import WECOM

bp = platform_blueprint("sandbox_wecom_api", WECOM)
BOTH = ["GET", "POST"]


def _state():
    return current_sandbox().state


def _suite():
    return wecom.suite_from_token(_state(), request.args.get("suite_access_token"))


@bp.route("/cgi-bin/service/get_suite_token", methods=BOTH)
def get_suite_token() -> ResponseReturnValue:
    # wecom-suite.md §4: sent as GET the body is dropped, which WeCom answers with 40083.
    body = json_body() if request.method == "POST" else {}
    return jsonify(wecom.get_suite_token(_state(), body))


@bp.route("/cgi-bin/service/get_pre_auth_code", methods=BOTH)
def get_pre_auth_code() -> ResponseReturnValue:
    return jsonify(wecom.get_pre_auth_code(_state(), _suite()))


@bp.route("/cgi-bin/service/set_session_info", methods=BOTH)
def set_session_info() -> ResponseReturnValue:
    body = post_body()
    return jsonify(wecom.set_session_info(_state(), _suite(), body))


@bp.route("/cgi-bin/service/get_permanent_code", methods=BOTH)
def get_permanent_code() -> ResponseReturnValue:
    body = post_body()
    return jsonify(wecom.get_permanent_code(_state(), _suite(), body))


@bp.route("/cgi-bin/service/get_auth_info", methods=BOTH)
def get_auth_info() -> ResponseReturnValue:
    body = post_body()
    return jsonify(wecom.get_auth_info(_state(), _suite(), body))


@bp.route("/cgi-bin/service/get_corp_token", methods=BOTH)
def get_corp_token() -> ResponseReturnValue:
    body = post_body()
    return jsonify(wecom.get_corp_token(_state(), _suite(), body))


@bp.route("/cgi-bin/message/send", methods=BOTH)
def message_send() -> ResponseReturnValue:
    body = post_body()
    tenant = wecom.corp_from_token(_state(), request.args.get("access_token"))
    return jsonify(wecom.send_message(_state(), tenant, body))


@bp.route("/cgi-bin/service/get_provider_token", methods=BOTH)
def get_provider_token() -> ResponseReturnValue:
    # Like get_suite_token: a GET carries no body, so it misses the corpid.
    body = json_body() if request.method == "POST" else {}
    return jsonify(customized.get_provider_token(_state(), body))


@bp.route("/cgi-bin/service/get_customized_auth_url", methods=BOTH)
def get_customized_auth_url() -> ResponseReturnValue:
    body = post_body()
    provider = customized.provider_from_token(_state(), request.args.get("provider_access_token"))
    answer = customized.get_customized_auth_url(_state(), provider, body, request.host_url)
    return jsonify(answer)


@bp.route("/cgi-bin/gettoken", methods=BOTH)
def gettoken() -> ResponseReturnValue:
    # doc/97164: a GET with query parameters; a POST may send them in a JSON body instead.
    body = json_body() if request.method == "POST" else {}
    corpid = request.args.get("corpid") or wecom.text(body, "corpid")
    corpsecret = request.args.get("corpsecret") or wecom.text(body, "corpsecret")
    return jsonify(customized.gettoken(_state(), corpid, corpsecret))
