"""Typed answers the platform clients return; secret values are kept out of their repr."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from suite_server.errors import UpstreamError

# wecom-suite.md §4, open-platform.md §4: tokens live 7200 s; used when an answer omits it.
DEFAULT_TOKEN_TTL = 7200


@dataclass(frozen=True)
class Token:
    """An access token (suite, corp, component) and its lifetime in seconds from now."""

    access_token: str = field(repr=False)
    expires_in: int


@dataclass(frozen=True)
class Code:
    """A pre-auth code and its lifetime in seconds from now."""

    code: str = field(repr=False)
    expires_in: int


def required(answer: dict[str, Any], name: str, endpoint: str) -> str:
    """A string field a success answer must carry; UpstreamError ("other") when it does not."""
    value = answer.get(name)
    if not isinstance(value, str) or not value:
        raise UpstreamError(endpoint, None, f"success answer without {name}", "other")
    return value


def seconds(
    answer: dict[str, Any], name: str = "expires_in", default: int = DEFAULT_TOKEN_TTL
) -> int:
    """A lifetime field as int, or `default` when it is missing or not a number."""
    value = answer.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        return int(value)
    except ValueError:
        return default
