"""The sandbox-backed fixtures (a suite and a component registered on both sides), a webhook
receiver and the emptied handler registry, for the tests that follow a push past its storage.
test_routes.py has its own `suite` and `component`, registered here only."""

from tests.authorization.conftest import component, platform, suite  # noqa: F401
from tests.dispatch.conftest import either, handlers, receivers  # noqa: F401
