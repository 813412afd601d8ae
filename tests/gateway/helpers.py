"""Calls through the proxy, as another service of the ISV makes them."""

from __future__ import annotations

import requests

USER_GET = "cgi-bin/user/get"
CUSTOM_SEND = "cgi-bin/message/custom/send"
TEXT = {"touser": "oUser", "msgtype": "text", "text": {"content": "hello"}}


def proxied(live_server: str, key: str, path: str, method: str = "GET", **kwargs):
    """`method` /api/v1<path> with the key; kwargs as requests takes them."""
    return requests.request(
        method,
        f"{live_server}/api/v1{path}",
        headers={"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})},
        timeout=60,
        **kwargs,
    )


def tenant_call(live_server: str, key: str, app, tenant_id: str = "tenant-api", **extra):
    """The platform's own tenant API through the proxy: WeCom user/get, Open custom/send."""
    base = f"/apps/{app.app_id}/tenants/{tenant_id}/proxy/"
    if app.platform == "wecom":
        return proxied(live_server, key, base + USER_GET, params={"userid": "zhangsan"}, **extra)
    return proxied(live_server, key, base + CUSTOM_SEND, "POST", json=TEXT, **extra)


TENANT_API = {"wecom": "user_get", "open": "custom_send"}
