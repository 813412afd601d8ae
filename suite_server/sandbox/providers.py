"""Provider accounts in the control API (isv-capabilities.md §2), under /sandbox/:

* `POST /sandbox/providers {corpid, secret, token, aes_key, server_url, name?}` registers one
  (201 new, 200 replaced); `GET /sandbox/providers` -> `{"providers": [...]}`, secrets included.
* `POST /sandbox/providers/<corpid>/push {kind, auth_corpid?, fields?}` pushes a system event
  (any InfoType of 1-64 letters or `_`: license_pay_success, license_refund, auto_activate…) to
  `<server_url>/callback/wecom/provider/<corpid>`, encrypted with the provider's Token and
  EncodingAESKey for receive id = provider corpid; answers like /sandbox/push (delivered,
  attempts, status, body, error, url, payload…) and is recorded in /sandbox/pushes with
  app_id = the provider corpid and channel `system`.

The provider token (get_provider_token), its early invalidation (/sandbox/tokens/invalidate with
app_id = the corpid) and the URL check (/sandbox/verify_url with app_id = the corpid) work on the
same records.
"""

from __future__ import annotations

import re
import secrets

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from suite_server.sandbox import control_input as given
from suite_server.sandbox import payloads
from suite_server.sandbox.approvals import TENANT_ID
from suite_server.sandbox.control_input import ControlError
from suite_server.sandbox.pushes import SYSTEM, wire_time
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import Provider

bp = Blueprint("sandbox_providers", __name__, url_prefix="/sandbox")
CORPID = re.compile(r"[A-Za-z0-9_-]{1,64}")
INFO_TYPE = re.compile(r"[A-Za-z_]{1,64}")
# The system-event InfoTypes the docs name (isv-capabilities.md §2); any other works too.
SYSTEM_KINDS = (
    "license_pay_success",
    "license_refund",
    "auto_activate",
    "advanced_api_pay_success",
    "advanced_api_trial_expired",
)


@bp.get("/providers")
def list_providers() -> ResponseReturnValue:
    state = current_sandbox().state
    with state.lock:
        return jsonify({"providers": [p.public() for p in state.providers.values()]})


@bp.post("/providers")
def register_provider() -> ResponseReturnValue:
    """{corpid, secret, token, aes_key, server_url, name?}"""
    state = current_sandbox().state
    body = given.body()
    corpid = given.text(body, "corpid", required=True)
    if not CORPID.fullmatch(corpid):
        raise ControlError(400, "corpid must be 1-64 letters, digits, _ or -")
    aes_key, server_url = given.receiver(body)
    provider = Provider(
        corpid=corpid,
        secret=given.text(body, "secret", required=True),
        token=given.text(body, "token", required=True),
        aes_key=aes_key,
        server_url=server_url,
        name=given.text(body, "name"),
    )
    with state.lock:
        existing = state.providers.get(corpid)
        state.providers[corpid] = provider
    return jsonify({"provider": provider.public()}), 200 if existing else 201


@bp.post("/providers/<corpid>/push")
def push_system_event(corpid: str) -> ResponseReturnValue:
    """{kind, auth_corpid?, fields?} -> the push result (see the module docstring)."""
    sandbox = current_sandbox()
    provider = sandbox.state.provider(corpid)
    if provider is None:
        raise ControlError(404, f"unknown provider {corpid!r}")
    data = given.body()
    kind = given.text(data, "kind", required=True)
    if not INFO_TYPE.fullmatch(kind):
        raise ControlError(400, "kind must be an InfoType: 1-64 letters or _")
    auth_corpid = given.text(data, "auth_corpid")
    if auth_corpid and not TENANT_ID.fullmatch(auth_corpid):
        raise ControlError(400, "auth_corpid must be 1-64 letters, digits or _.@-")
    fields = given.xml_fields(data)
    now = wire_time()
    order_id = "OI" + secrets.token_hex(15).upper()
    plaintext = payloads.wecom_system_event(corpid, kind, auth_corpid, now, fields, order_id)
    return jsonify(sandbox.pusher.deliver(provider.as_app(), kind, SYSTEM, plaintext))
