"""The sandbox fixtures (tests/authorization/conftest.py) and the API ones (tests/api/conftest.py),
shared with the gateway's tests, plus a provider account registered on both sides."""

from __future__ import annotations

import pytest

from suite_server import db
from suite_server.models import App
from tests import factories
from tests.api.conftest import admin_browser, api_key, auth, either, installed
from tests.authorization.conftest import component, platform, suite

__all__ = [
    "admin_browser",
    "api_key",
    "auth",
    "component",
    "either",
    "installed",
    "platform",
    "suite",
]

PROVIDER = "wwgatewayprovider"


@pytest.fixture
def provider(platform) -> App:
    row = factories.provider(db.session(), corpid=PROVIDER, secret="the-provider-secret")
    platform.register_provider(row)
    return row
