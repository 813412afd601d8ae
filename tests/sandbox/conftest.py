"""Fixtures for sandbox tests: a running sandbox with a movable clock, a stand-in for our server
that checks every push with wechatpy (an independent implementation), and small platform clients.

Self-contained on purpose: these fixtures will move to tests/conftest.py.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import xmltodict
from wechatpy.crypto import WeChatCrypto as OpenCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WecomCrypto
from wechatpy.utils import check_signature
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from suite_server.sandbox import SandboxServer

WECOM_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"  # wecom-suite.md §2 vector A
OPEN_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"  # wecom-suite.md §2 vector B


class FakeClock:
    """A clock tests move by hand: `clock.advance(seconds)`."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class Received:
    """One push as our server would see it, checked and decrypted with wechatpy."""

    path: str
    channel: str  # command | data | auth | msg | system
    app_id: str
    args: dict[str, str]
    body: str
    outer: dict[str, Any]
    message: dict[str, Any] | None = None  # the decrypted payload, parsed
    plaintext: str = ""
    error: str | None = None


@dataclass
class Receiver:
    """Stands in for our server at the contract URLs. `mode` decides the answer:
    success | fail (HTTP 500) | wrong_body | empty | slow (sleeps `delay`) | reply (an encrypted
    passive reply with `reply_content`); `fail_first` makes the first N pushes fail with 500.
    A GET (the console's URL check) is answered with the echostr's plaintext, decrypted for the
    provider corpid in `providers` (wrong_body: with a newline after it)."""

    apps: dict[str, tuple[str, str]] = field(default_factory=dict)  # app_id -> (token, aes key)
    providers: dict[str, str] = field(default_factory=dict)  # suite id -> provider corpid
    received: list[Received] = field(default_factory=list)
    mode: str = "success"
    fail_first: int = 0
    delay: float = 0.0
    reply_content: str = "pong"
    reply_receive_id: str | None = None  # encrypt replies for this id instead of the right one
    base_url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def reset(self) -> None:
        with self._lock:
            self.apps.clear()
            self.providers.clear()
            self.received.clear()
        self.mode, self.fail_first, self.delay = "success", 0, 0.0
        self.reply_content, self.reply_receive_id = "pong", None

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, timeout: float = 5.0, **match: Any) -> Received:
        """The first push whose message fields (or channel/app_id/path) equal `match`."""
        return self.wait_for_count(1, timeout, **match)[0]

    def wait_for_count(self, count: int, timeout: float = 5.0, **match: Any) -> list[Received]:
        """At least `count` pushes matching `match` (waiting up to `timeout` s); all of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.snapshot() if all(_field(r, k) == v for k, v in match.items())]
            if len(found) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        assert len(found) >= count, f"{len(found)} pushes matching {match}, wanted {count}"
        return found

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def _wsgi(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        return self._handle(request)(environ, start_response)

    def _handle(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        # /callback/wecom/<suite>/command|data, /callback/open/<appid>/auth, …/msg/<authorizer>,
        # /callback/wecom/provider/<corpid> (a provider's system events: channel `system`)
        if len(parts) < 4 or parts[0] != "callback":
            return Response("not found", 404)
        app_id, channel = parts[2], parts[3]
        if parts[1] == "wecom" and parts[2] == "provider":
            app_id, channel = parts[3], "system"
        if request.method == "GET":
            return self._url_check(request, app_id, channel)
        body = request.get_data(as_text=True)
        args = {k: v for k, v in request.args.items()}
        item = Received(request.path, channel, app_id, args, body, xmltodict.parse(body)["xml"])
        token, key = self.apps[app_id]
        try:
            crypto = self._crypto(parts[1], channel, app_id, item.outer, token, key)
            if parts[1] == "open":
                check_signature(token, args["signature"], args["timestamp"], args["nonce"])
            item.plaintext = crypto.decrypt_message(
                body, args["msg_signature"], args["timestamp"], args["nonce"]
            )
            item.message = xmltodict.parse(item.plaintext)["xml"]
        except Exception as exc:  # record it; the test asserts on it
            item.error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.received.append(item)
            failing = self.fail_first > 0
            if failing:
                self.fail_first -= 1
        if item.error:
            return Response("bad push", 400)
        if failing or self.mode == "fail":
            return Response("boom", 500)
        if self.mode == "slow":
            time.sleep(self.delay)
        if self.mode == "wrong_body":
            return Response("ok")
        if self.mode == "empty":
            return Response("")
        if self.mode == "reply" and channel in ("data", "msg"):
            reply = (
                f"<xml><ToUserName><![CDATA[{item.message['FromUserName']}]]></ToUserName>"
                f"<FromUserName><![CDATA[{item.message['ToUserName']}]]></FromUserName>"
                f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                f"<Content><![CDATA[{self.reply_content}]]></Content></xml>"
            )
            if self.reply_receive_id is not None:
                crypto = type(crypto)(token, key, self.reply_receive_id)
            return Response(crypto.encrypt_message(reply, args["nonce"]), content_type="text/xml")
        return Response("success")

    def _url_check(self, request: Request, app_id: str, channel: str) -> Response:
        """The console's GET with `echostr` (wecom-suite.md §1): answer the plaintext bare."""
        args = {k: v for k, v in request.args.items()}
        item = Received(request.path, channel, app_id, args, "", {})
        token, key = self.apps[app_id]
        try:
            # wechatpy checks the receive id strictly: the provider corpid for every GET.
            crypto = WecomCrypto(token, key, self.providers.get(app_id, ""))
            item.plaintext = crypto.check_signature(
                args["msg_signature"], args["timestamp"], args["nonce"], args["echostr"]
            )
        except Exception as exc:  # record it; the test asserts on it
            item.error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.received.append(item)
        if item.error:
            return Response("bad URL check", 400)
        if self.mode == "fail":
            return Response("boom", 500)
        if self.mode == "slow":
            time.sleep(self.delay)
        if self.mode == "wrong_body":
            return Response(item.plaintext + "\n")
        return Response(item.plaintext)

    @staticmethod
    def _crypto(platform: str, channel: str, app_id: str, outer: dict, token: str, key: str) -> Any:
        if platform == "wecom":
            # wecom-suite.md §1: command POSTs carry the suite id, data POSTs the corp's id.
            # A provider's system events carry the provider corpid (isv-capabilities.md §2).
            receive_id = app_id if channel in ("command", "system") else outer["ToUserName"]
            return WecomCrypto(token, key, receive_id)
        return OpenCrypto(token, key, app_id)  # open-platform.md §0: always the component appid


def _field(item: Received, name: str) -> Any:
    if name in ("channel", "app_id", "path"):
        return getattr(item, name)
    return (item.message or {}).get(name)


class PlatformClient:
    """Talks to the sandbox like our server would, for one registered app."""

    def __init__(self, base_url: str, app: dict[str, Any], receiver: Receiver) -> None:
        self.base_url = base_url
        self.app = app
        self.app_id = app["app_id"]
        self.receiver = receiver

    def call(
        self, path: str, body: dict | None = None, method: str = "POST", **params: str
    ) -> dict:
        response = requests.request(
            method, self.base_url + path, json=body, params=params, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()

    def control(
        self, path: str, body: dict | None = None, method: str = "POST"
    ) -> requests.Response:
        return requests.request(method, f"{self.base_url}/sandbox{path}", json=body, timeout=30)

    def push(self, kind: str, **fields: Any) -> dict:
        response = self.control("/push", {"app_id": self.app_id, "kind": kind, **fields})
        assert response.status_code == 200, response.text
        return response.json()

    def latest_ticket(self) -> str:
        """The newest ticket our stand-in server received (wait for one if none yet)."""
        tag = "SuiteTicket" if self.app["platform"] == "wecom" else "ComponentVerifyTicket"
        self.receiver.wait_for(app_id=self.app_id, channel=self.ticket_channel)
        tickets = [
            r.message[tag]
            for r in self.receiver.snapshot()
            if r.app_id == self.app_id and r.message and tag in r.message
        ]
        return tickets[-1]

    @property
    def ticket_channel(self) -> str:
        return "command" if self.app["platform"] == "wecom" else "auth"


class WecomClient(PlatformClient):
    def suite_token(self) -> str:
        body = {
            "suite_id": self.app_id,
            "suite_secret": self.app["secret"],
            "suite_ticket": self.latest_ticket(),
        }
        return self.call("/cgi-bin/service/get_suite_token", body)["suite_access_token"]

    def pre_auth_code(self) -> str:
        answer = self.call(
            "/cgi-bin/service/get_pre_auth_code",
            method="GET",
            suite_access_token=self.suite_token(),
        )
        return answer["pre_auth_code"]

    def approve(self, corpid: str = "wwcorp0001", name: str = "Corp One", **extra: Any) -> dict:
        body = {"app_id": self.app_id, "pre_auth_code": self.pre_auth_code(), "tenant_id": corpid}
        response = self.control("/approve", {**body, "name": name, **extra})
        assert response.status_code == 200, response.text
        return response.json()

    def install(self, corpid: str = "wwcorp0001", name: str = "Corp One") -> dict:
        """Approve and exchange the code: the get_permanent_code answer."""
        code = self.approve(corpid, name)["auth_code"]
        return self.call(
            "/cgi-bin/service/get_permanent_code",
            {"auth_code": code},
            suite_access_token=self.suite_token(),
        )


class OpenClient(PlatformClient):
    def component_token(self) -> str:
        body = {
            "component_appid": self.app_id,
            "component_appsecret": self.app["secret"],
            "component_verify_ticket": self.latest_ticket(),
        }
        return self.call("/cgi-bin/component/api_component_token", body)["component_access_token"]

    def pre_auth_code(self, token: str | None = None) -> str:
        answer = self.call(
            "/cgi-bin/component/api_create_preauthcode",
            {"component_appid": self.app_id},
            component_access_token=token or self.component_token(),
        )
        return answer["pre_auth_code"]

    def approve(
        self, appid: str = "wxaccount0001", name: str = "Account One", **extra: Any
    ) -> dict:
        body = {"app_id": self.app_id, "pre_auth_code": self.pre_auth_code(), "tenant_id": appid}
        response = self.control("/approve", {**body, "name": name, **extra})
        assert response.status_code == 200, response.text
        return response.json()

    def authorize(self, appid: str = "wxaccount0001", name: str = "Account One") -> dict:
        """Approve and exchange the code: the api_query_auth answer's authorization_info."""
        code = self.approve(appid, name)["auth_code"]
        return self.call(
            "/cgi-bin/component/api_query_auth",
            {"component_appid": self.app_id, "authorization_code": code},
            component_access_token=self.component_token(),
        )["authorization_info"]


START = 1_700_000_000.0


@pytest.fixture(scope="session")
def sandbox_server():
    """One sandbox for the session (starting one per test costs more than the test); the
    `sandbox` fixture resets it before each test."""
    server = SandboxServer({"ticket_interval": 3600, "push_timeout": 2}, clock=FakeClock(START))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer):
    """The sandbox, emptied, with default settings (ticket interval 1 h, push timeout 2 s) and
    its clock back at START."""
    sandbox_server.sandbox.pusher.join()  # no push of the previous test may land in this one
    sandbox_server.state.reset()
    sandbox_server.state.clock.now = START
    yield sandbox_server
    sandbox_server.sandbox.pusher.join()


@pytest.fixture
def clock(sandbox: SandboxServer) -> FakeClock:
    return sandbox.state.clock


@pytest.fixture(scope="session")
def receiver_server():
    stand_in = Receiver()
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    """The stand-in for our server, forgetting earlier pushes and answering `success`."""
    receiver_server.reset()
    return receiver_server


def _register(sandbox: SandboxServer, receiver: Receiver, app: dict[str, Any]) -> None:
    receiver.apps[app["app_id"]] = (app["token"], app["aes_key"])
    receiver.providers[app["app_id"]] = app.get("provider_corpid", "")
    body = {**app, "server_url": receiver.base_url}
    response = requests.post(f"{sandbox.base_url}/sandbox/apps", json=body, timeout=10)
    assert response.status_code == 201, response.text


@pytest.fixture
def wecom(sandbox: SandboxServer, receiver: Receiver) -> WecomClient:
    """A registered suite; its first ticket has arrived at the receiver."""
    app = {
        "platform": "wecom",
        "app_id": "wwsuite0000000001",
        "secret": "suite-secret",
        "token": "QDG6eK",
        "aes_key": WECOM_KEY,
        "provider_corpid": "wwprovider000001",
        "name": "Demo Suite",
    }
    _register(sandbox, receiver, app)
    client = WecomClient(sandbox.base_url, app, receiver)
    client.latest_ticket()
    return client


@pytest.fixture
def open_app(sandbox: SandboxServer, receiver: Receiver) -> OpenClient:
    """A registered component; its first ticket has arrived at the receiver."""
    app = {
        "platform": "open",
        "app_id": "wxcomponent00001",
        "secret": "component-secret",
        "token": "AAAAA",
        "aes_key": OPEN_KEY,
        "name": "Demo Component",
    }
    _register(sandbox, receiver, app)
    client = OpenClient(sandbox.base_url, app, receiver)
    client.latest_ticket()
    return client
