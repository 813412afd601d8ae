"""The sandbox-backed fixtures of the authorization tests: a suite and a component registered on
both sides with their first tickets, and a way to install tenants by push; the handler registry
emptied for a test, either platform's app, and local webhook receivers that check every
request's signature with the documented code and with `verify`."""

import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from suite_server.cli import cli
from suite_server.dispatch import router, webhooks
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


DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verifier():
    """The receiver's verification code exactly as docs/webhooks.md shows it."""
    code = re.search(r"```python\n(.*?def verify_webhook.*?)```", DOCS.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(code, namespace)
    return namespace["verify_webhook"]


verify_webhook = documented_verifier()


@dataclass
class Request:
    headers: dict[str, str]
    body: bytes
    documented_ok: bool
    verify_ok: bool


@dataclass
class Receiver:
    """A webhook receiver on a free loopback port: answers `answers` in turn (the last one from
    then on; "hang" sleeps past the read timeout) and checks every request's signature."""

    answers: list
    secret: str = ""
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def bodies(self, header: str, value: object) -> list[bytes]:
        """What arrived with this header value (jobs run concurrently: arrival order varies)."""
        return [r.body for r in self.requests if r.headers[header] == str(value)]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        self.requests.append(
            Request(
                dict(handler.headers.items()),
                body,
                verify_webhook(self.secret, handler.headers, body),
                webhooks.verify(self.secret, handler.headers, None, body),
            )
        )
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if answer == "hang":
            time.sleep(0.5)
            answer = 200
        reply = b"ok" if answer < 300 else b"nope " * 200  # long: the excerpt keeps 500 chars
        handler.send_response(answer)
        handler.send_header("Content-Length", str(len(reply)))
        handler.end_headers()
        handler.wfile.write(reply)


@pytest.fixture
def receivers():
    servers = []

    def start(*answers) -> Receiver:
        receiver = Receiver(list(answers) or [200])
        receiver.url = serve(receiver.handle, "/hook", servers)
        return receiver

    yield start
    stop(servers)


def serve(handle, path: str, servers: list) -> str:
    """An HTTP server on a free loopback port whose POSTs go to `handle(handler)`; it is added
    to `servers` (for `stop`). Returns the URL of `path` on it."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            handle(self)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    servers.append(server)
    return f"http://127.0.0.1:{server.server_port}{path}"


def stop(servers: list) -> None:
    for server in servers:
        server.shutdown()
        server.server_close()


def run(runner, *args):
    """A CLI command's result, as a user typing it would get it."""
    return runner.invoke(cli, list(args))


def one_line_error(result, text: str) -> None:
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [f"Error: {text}"]
