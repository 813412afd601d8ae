"""Reading and checking control-API JSON: every helper answers bad input with ControlError (4xx)."""

from __future__ import annotations

import re
from typing import Any

from flask import request

from suite_server.crypto.msgcrypt import decode_aes_key
from suite_server.sandbox.runtime import current_sandbox
from suite_server.sandbox.state import App, Tenant

XML_TAG = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class ControlError(Exception):
    """A control-API request that cannot be served; `status` is the HTTP answer (4xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def body() -> dict[str, Any]:
    """The JSON object sent ({} for an empty body)."""
    if not request.get_data(cache=True).strip():
        return {}
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise ControlError(400, "body must be a JSON object")
    return data


def text(data: dict[str, Any], name: str, required: bool = False) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ControlError(400, f"{name} is required")
        return ""
    if not isinstance(value, str) or len(value) > 2048:
        raise ControlError(400, f"{name} must be a string")
    return value


def receiver(data: dict[str, Any]) -> tuple[str, str]:
    """(aes_key, server_url) of an app or provider being registered: a key that decodes, and
    the http(s) URL its pushes go to."""
    aes_key = text(data, "aes_key", required=True)
    try:
        decode_aes_key(aes_key)
    except ValueError as exc:
        raise ControlError(400, f"aes_key: {exc}") from exc
    server_url = text(data, "server_url", required=True)
    if not server_url.startswith(("http://", "https://")):
        raise ControlError(400, "server_url must be an http(s) URL")
    return aes_key, server_url


def app(app_id: str) -> App:
    found = current_sandbox().state.app(app_id)
    if found is None:
        raise ControlError(404, f"unknown app {app_id!r}")
    return found


def tenant(of: App, tenant_id: str) -> Tenant:
    found = current_sandbox().state.tenant(of.app_id, tenant_id)
    if found is None:
        raise ControlError(404, f"{of.app_id} has no tenant {tenant_id!r}")
    return found


def func_ids(data: dict[str, Any]) -> list[int] | None:
    """Open permission set ids for func_info, e.g. [1, 15, 18]."""
    value = data.get("func_ids")
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v < 1000 for v in value
    ):
        raise ControlError(400, "func_ids must be a list of permission set ids")
    return value


def xml_fields(data: dict[str, Any]) -> dict[str, Any] | None:
    """Extra payload tags, {"Tag": "text" | number}, added to (or replacing) the defaults."""
    value = data.get("fields")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ControlError(400, "fields must be an object of XML tag -> text or number")
    for tag, item in value.items():
        if not XML_TAG.fullmatch(tag) or isinstance(item, bool) or not isinstance(item, str | int):
            raise ControlError(400, f"fields.{tag}: tags are XML names, values text or numbers")
    return value


def whole_number(data: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ControlError(400, f"{name} must be a whole number from {low} to {high}")
    return value
