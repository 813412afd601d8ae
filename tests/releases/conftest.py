"""The sandbox-backed fixtures of the release tests: a component registered on both sides."""

from tests.authorization.conftest import component, platform  # noqa: F401
