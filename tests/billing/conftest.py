"""The sandbox-backed fixtures of the billing tests: the dispatch tests' suite, handler registry
and webhook receivers, and an API key for calls through the proxy."""

from tests.api.conftest import api_key  # noqa: F401
from tests.dispatch.conftest import component, handlers, platform, receivers, suite  # noqa: F401
