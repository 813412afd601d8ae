"""The sandbox-backed fixtures of the authorization tests: a suite and a component registered on
both sides with their first tickets, and a way to install tenants by push; the handler registry
emptied for a test, and either platform's app."""

import pytest

from suite_server.dispatch import router
from tests.authorization.conftest import component, platform, suite  # noqa: F401


@pytest.fixture
def handlers():
    """The package's router, emptied for the test and restored after it."""
    saved = list(router.routes)
    router.clear()
    yield router
    router.routes[:] = saved


@pytest.fixture(params=["wecom", "open"])
def either(request):
    return request.getfixturevalue("suite" if request.param == "wecom" else "component")
