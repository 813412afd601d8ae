"""The tenant gateway's tests run against the sandbox over HTTP: its fixtures, and the token
API's (an API key, a tenant installed by push), shared from tests/authorization and tests/api."""

from __future__ import annotations

from tests.api.conftest import api_key, auth, either, installed
from tests.authorization.conftest import component, platform, suite

__all__ = ["api_key", "auth", "component", "either", "installed", "platform", "suite"]
