"""Which platform client an app uses, built from the settings (WECOM_API_BASE, WECHAT_API_BASE)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from suite_server.upstream.openplatform import OpenApi
from suite_server.upstream.wecom import WeComApi


def api_for(platform: str, config: Mapping[str, Any]) -> WeComApi | OpenApi:
    """The client for an app's platform ("wecom" or "open"), pointed at the configured base.

    Clients are shared per base URL so their sessions keep connections alive between calls."""
    if platform == "wecom":
        return _wecom(str(config["WECOM_API_BASE"]))
    if platform == "open":
        return _open(str(config["WECHAT_API_BASE"]))
    raise ValueError(f"unknown platform {platform!r}")


@lru_cache(maxsize=16)
def _wecom(base_url: str) -> WeComApi:
    return WeComApi(base_url)


@lru_cache(maxsize=16)
def _open(base_url: str) -> OpenApi:
    return OpenApi(base_url)
