"""Platform APIs the tenant gateway's proxy is tested with (docs/gateway.md "Proxy"): a few real
ones, each taking exactly the token kind the platform takes there, so a call made with the wrong
kind is refused with the platform's errcode.

WeCom (qyapi.weixin.qq.com):
- `cgi-bin/user/get?userid=` (corp token): a member; 41009 without userid; 701016 for a member
  without a license once the app's license trial is over (licenses.py).
- `cgi-bin/media/upload?type=` (corp token; multipart field `media`): stores the bytes, answers
  a media_id (40004 bad type, 41005 no media, 40006 under 5 bytes).
- `cgi-bin/media/get?media_id=` (corp token): the bytes as uploaded, with their Content-Type and
  Content-Disposition; 40007 for a media_id of another corp or none.
- `cgi-bin/service/get_admin_list` (suite token, POST {auth_corpid, agentid}): the installer as
  the app's admin; 40058 for a corp that has not installed the suite.
- `cgi-bin/service/get_login_info` (the PROVIDER token, sent as `access_token`; POST
  {auth_code}): who logged in; codes come from POST /sandbox/login-codes (40029 unknown or used).
The Open Platform's authorizer-token `cgi-bin/message/custom/send` and component-token
`cgi-bin/component/api_get_authorizer_list` are in open_api.py.

Like every platform API here, calls are counted (/sandbox/calls, by view name: `user_get`,
`media_upload`, ...) and fault rules apply.
"""

from __future__ import annotations

import secrets
import weakref
from collections import OrderedDict
from dataclasses import dataclass

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from suite_server.sandbox import control_input as given
from suite_server.sandbox import customized, licenses, wecom
from suite_server.sandbox.api_common import post_body
from suite_server.sandbox.control_input import ControlError
from suite_server.sandbox.errors import ApiError, error_response
from suite_server.sandbox.metering import drop_fields, meter_and_inject
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import WECOM, SandboxState

MEDIA_TYPES = ("image", "voice", "video", "file")
MEDIA_LIMIT = 20 * 1024 * 1024  # WeCom's largest (a file); the sandbox's own limit is 1 MiB
MEDIA_KEPT = 100  # uploads kept per sandbox, the oldest forgotten first
LOGIN_CODE_TTL = 300.0
OK = {"errcode": 0, "errmsg": "ok"}

bp = Blueprint("sandbox_gateway_api", __name__)
control = Blueprint("sandbox_gateway_control", __name__, url_prefix="/sandbox")


@bp.before_request
def _meter() -> Response | None:
    # Uploads go up to WeCom's limit; set before the metering reads the body.
    request.max_content_length = MEDIA_LIMIT + 64 * 1024
    return meter_and_inject(WECOM)


@bp.after_request
def _drop(response: Response) -> Response:
    return drop_fields(response)


@bp.errorhandler(ApiError)
def _api_error(error: ApiError) -> Response:
    return error_response(WECOM, error)


@dataclass(frozen=True)
class Media:
    owner: tuple[str, str]  # (app_id, corpid): only that corp's token reads it
    content: bytes
    filename: str
    content_type: str


_media: weakref.WeakKeyDictionary[SandboxState, OrderedDict[str, Media]] = (
    weakref.WeakKeyDictionary()
)


def _state() -> SandboxState:
    return current_sandbox().state


def _corp():
    return wecom.corp_from_token(_state(), request.args.get("access_token"))


@bp.route("/cgi-bin/user/get", methods=["GET"])
def user_get() -> ResponseReturnValue:
    tenant = _corp()
    userid = request.args.get("userid", "")
    if not userid:
        raise ApiError(41009, "missing userid")
    if len(userid) > 64:
        raise ApiError(60111, "userid not found")
    licenses.check_member(_state(), tenant, userid)
    return jsonify(
        {
            **OK,
            "userid": userid,
            "name": tenant.installer if userid == tenant.installer else userid,
            "department": [1],
            "status": 1,
            "open_userid": "wo" + secrets.token_hex(4) + userid[:16],
        }
    )


@bp.route("/cgi-bin/media/upload", methods=["POST"])
def media_upload() -> ResponseReturnValue:
    tenant = _corp()
    kind = request.args.get("type", "")
    if kind not in MEDIA_TYPES:
        raise ApiError(40004, "invalid media type")
    media = request.files.get("media")
    if media is None:
        raise ApiError(41005, "media data missing")
    content = media.read()
    if len(content) < 5:
        raise ApiError(40006, "invalid file size")
    state = _state()
    media_id = "3" + secrets.token_urlsafe(40)
    with state.lock:
        kept = _media.setdefault(state, OrderedDict())
        kept[media_id] = Media(
            (tenant.app_id, tenant.tenant_id),
            content,
            media.filename or "media",
            media.mimetype or "application/octet-stream",
        )
        while len(kept) > MEDIA_KEPT:
            kept.popitem(last=False)
    return jsonify({**OK, "type": kind, "media_id": media_id, "created_at": str(int(state.now()))})


@bp.route("/cgi-bin/media/get", methods=["GET"])
def media_get() -> ResponseReturnValue:
    tenant = _corp()
    media_id = request.args.get("media_id", "")
    if not media_id:
        raise ApiError(41006, "media_id missing")
    state = _state()
    with state.lock:
        media = _media.get(state, {}).get(media_id)
    if media is None or media.owner != (tenant.app_id, tenant.tenant_id):
        raise ApiError(40007, "invalid media_id")
    response = Response(media.content, mimetype=media.content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{media.filename}"'
    return response


@bp.route("/cgi-bin/service/get_admin_list", methods=["GET", "POST"])
def get_admin_list() -> ResponseReturnValue:
    body = post_body()
    state = _state()
    app = wecom.suite_from_token(state, request.args.get("suite_access_token"))
    tenant = state.tenant(app.app_id, wecom.text(body, "auth_corpid"))
    if tenant is None or not tenant.active:
        raise ApiError(40058, "invalid parameter: auth_corpid")
    admin = {"userid": tenant.installer, "open_userid": "wo" + tenant.installer, "auth_type": 1}
    return jsonify({**OK, "admin": [admin] if tenant.installer else []})


@bp.route("/cgi-bin/service/get_login_info", methods=["GET", "POST"])
def get_login_info() -> ResponseReturnValue:
    body = post_body()
    state = _state()
    value = request.args.get("access_token")
    if not value:
        raise ApiError(41001)
    provider = customized.provider_from_token(state, value)
    auth_code = wecom.text(body, "auth_code")
    if not auth_code:
        raise ApiError(41008)
    with state.lock:
        code = state.codes.get(auth_code)
        if (
            code is None
            or code.kind != "login"
            or code.used
            or code.app_id != provider.corpid
            or code.expires_at <= state.now()
        ):
            raise ApiError(40029, "invalid code")
        code.used = True
    userid = code.state
    return jsonify(
        {
            **OK,
            "usertype": 1,
            "user_info": {"userid": userid, "open_userid": "wo" + userid, "name": userid},
            "corp_info": {"corpid": code.tenant_id},
            "agent": [],
            "auth_info": {"department": []},
        }
    )


@control.post("/login-codes")
def new_login_code() -> ResponseReturnValue:
    """{provider_corpid, corpid, userid}: the auth_code a member of `corpid` brings back from
    the provider's web login, for get_login_info."""
    state = _state()
    body = given.body()
    provider = state.provider(given.text(body, "provider_corpid", required=True))
    if provider is None:
        raise ControlError(404, "no such provider")
    corpid = given.text(body, "corpid", required=True)
    userid = given.text(body, "userid", required=True)
    code = state.new_code(
        "login", provider.as_app(), LOGIN_CODE_TTL, tenant_id=corpid, state=userid
    )
    return jsonify({"auth_code": code.value, "expires_in": int(LOGIN_CODE_TTL)}), 201
