"""The sandbox-backed fixtures of the authorization tests: a suite and a component registered on
both sides with their first tickets, and a way to install tenants by push."""

from tests.authorization.conftest import component, platform, suite  # noqa: F401
