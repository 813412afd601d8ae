"""The sandbox-backed fixtures of the billing tests: the dispatch tests' suite, handler registry
and webhook receivers, an API key for calls through the proxy, and quick retries."""

import pytest

from suite_server.jobs import attempts
from tests.api.conftest import api_key  # noqa: F401
from tests.dispatch.conftest import component, handlers, platform, receivers, suite  # noqa: F401


@pytest.fixture
def fast_retries(monkeypatch):
    """Backoff in tenths of a second instead of tens of seconds (time, not the network)."""
    monkeypatch.setattr(attempts, "BACKOFF_BASE", 0.1)
