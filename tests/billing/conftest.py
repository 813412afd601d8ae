"""The sandbox-backed fixtures of the billing tests: the dispatch tests' suite, handler registry
and webhook receivers."""

from tests.dispatch.conftest import component, handlers, platform, receivers, suite  # noqa: F401
