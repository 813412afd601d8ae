"""Typed calls to the platforms' server APIs; every platform HTTP request goes through here."""

from suite_server.upstream.clients import api_for
from suite_server.upstream.openplatform import AuthorizerToken, OpenApi
from suite_server.upstream.results import Code, Token
from suite_server.upstream.wecom import WeComApi

__all__ = ["AuthorizerToken", "Code", "OpenApi", "Token", "WeComApi", "api_for"]
