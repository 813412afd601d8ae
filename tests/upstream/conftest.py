"""Fixtures for the upstream clients: the sandbox (`platform_sandbox` from tests/conftest.py), a
tiny stand-in for our callback URLs that answers `success`, and a registered suite and component
whose first ticket has been delivered."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from suite_server.sandbox import SandboxServer
from suite_server.upstream import OpenApi, WeComApi

# Any valid 43-character EncodingAESKey: these tests never decrypt a push.
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
TIMEOUT = (1.0, 2.0)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@pytest.fixture(scope="session")
def receiver_url() -> Iterator[str]:
    """Our callback URLs as far as the sandbox can tell: every push is answered `success`."""

    @Request.application
    def answer(request: Request) -> Response:
        return Response("success")

    server = make_server("127.0.0.1", 0, answer, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@dataclass
class Registered:
    """An app registered in the sandbox, with the ticket it was pushed."""

    sandbox: str  # the sandbox's base URL
    app_id: str
    secret: str
    ticket: str

    def control(self, method: str, path: str, body: dict | None = None) -> dict:
        response = requests.request(method, f"{self.sandbox}/sandbox{path}", json=body, timeout=10)
        assert response.status_code < 300, response.text
        return response.json()

    def fault(self, endpoint: str, **rule: Any) -> None:
        self.control("POST", "/faults", {"endpoint": endpoint, "count": 1, **rule})

    def bulk_tenants(self, count: int) -> list[dict]:
        return self.control("POST", "/tenants/bulk", {"app_id": self.app_id, "count": count})[
            "tenants"
        ]

    def tickets(self) -> list[str]:
        return [t["value"] for t in self.control("GET", f"/apps/{self.app_id}")["tickets"]]


def register(sandbox: SandboxServer, receiver_url: str, **app: str) -> Registered:
    """Register an app and wait until its first ticket push has been delivered."""
    body = {"token": "tok", "aes_key": AES_KEY, "server_url": receiver_url, **app}
    answer = requests.post(f"{sandbox.base_url}/sandbox/apps", json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    registered = Registered(sandbox.base_url, app["app_id"], app["secret"], "")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        query = f"/pushes?app_id={registered.app_id}&kind=ticket"
        if any(p["delivered"] for p in registered.control("GET", query)["pushes"]):
            registered.ticket = registered.tickets()[-1]
            return registered
        time.sleep(0.01)
    raise AssertionError(f"no ticket delivered for {registered.app_id}")


@pytest.fixture
def suite(platform_sandbox: SandboxServer, receiver_url: str) -> Registered:
    return register(
        platform_sandbox,
        receiver_url,
        platform="wecom",
        app_id="wwsuite_upstream",
        secret="suite-secret-value-1234",
        provider_corpid="wwprovider_upstream",
    )


@pytest.fixture
def component(platform_sandbox: SandboxServer, receiver_url: str) -> Registered:
    return register(
        platform_sandbox,
        receiver_url,
        platform="open",
        app_id="wxcomponent_upstream",
        secret="component-secret-value-5678",
    )


@pytest.fixture
def wecom(platform_sandbox: SandboxServer) -> WeComApi:
    return WeComApi(platform_sandbox.base_url, timeout=TIMEOUT)


@pytest.fixture
def open_api(platform_sandbox: SandboxServer) -> OpenApi:
    return OpenApi(platform_sandbox.base_url, timeout=TIMEOUT)
