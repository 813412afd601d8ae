"""An app pointed at the sandbox over real HTTP, with a suite and a component registered on both
sides and their first tickets delivered."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from suite_server import db
from suite_server.jobs import runner as job_runner
from suite_server.models import App, Tenant, TenantHistory, Ticket
from suite_server.sandbox import SandboxServer
from suite_server.sandbox.install_pages import NEW
from tests import factories


@dataclass
class Platform:
    """The sandbox's control API and a browser's view of an install."""

    base: str
    server: str
    sandbox: SandboxServer

    def join(self) -> None:
        """Wait until the sandbox has delivered the pushes it sends in the background."""
        self.sandbox.sandbox.pusher.join()

    def control(self, path: str, **body) -> dict:
        response = requests.post(f"{self.base}/sandbox/{path}", json=body, timeout=30)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def calls(self) -> dict:
        return requests.get(f"{self.base}/sandbox/calls", timeout=10).json()["by_endpoint"]

    def register(self, app: App, **extra) -> None:
        self.control(
            "apps",
            platform=app.platform,
            app_id=app.app_id,
            secret=app.secret,
            token=app.token,
            aes_key=app.aes_key,
            server_url=self.server,
            push_ticket=False,
            **extra,
        )
        pushed = self.control("push", app_id=app.app_id, kind="ticket")
        assert pushed["delivered"], pushed

    def register_provider(self, provider: App) -> None:
        """Our provider account on the platform's side, its system events pushed to us."""
        self.control(
            "providers",
            corpid=provider.app_id,
            secret=provider.secret,
            token=provider.token,
            aes_key=provider.aes_key,
            server_url=self.server,
        )

    def start_install(self, app: App, **query) -> str:
        """GET /install/<app_id> as a browser: the platform page it is sent to."""
        response = requests.get(
            f"{self.server}/install/{app.app_id}", params=query, allow_redirects=False, timeout=30
        )
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def approve_in_browser(self, page: str, tenant_id: str, name: str = "") -> str:
        """Approve on the platform's page; returns where the platform sends the browser back."""
        response = requests.post(
            page,
            data={"tenant": NEW, "new_id": tenant_id, "new_name": name},
            allow_redirects=False,
            timeout=30,
        )
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def install(self, app: App, tenant_id: str, name: str = "") -> requests.Response:
        back = self.approve_in_browser(self.start_install(app), tenant_id, name)
        return requests.get(back, allow_redirects=False, timeout=30)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def platform(app, live_server, platform_sandbox) -> Platform:
    app.config.update(
        PUBLIC_URL=live_server,
        WECOM_API_BASE=platform_sandbox.base_url,
        WECHAT_API_BASE=platform_sandbox.base_url,
        WECOM_INSTALL_URL=f"{platform_sandbox.base_url}/3rdapp/install",
        OPEN_AUTH_URL=f"{platform_sandbox.base_url}/cgi-bin/componentloginpage",
    )
    return Platform(platform_sandbox.base_url, live_server, platform_sandbox)


@pytest.fixture
def suite(platform) -> App:
    app = factories.wecom_app(db.session(), app_id="wwinstallsuite", provider_corpid="wwprov")
    platform.register(app, provider_corpid="wwprov")
    return app


@pytest.fixture
def component(platform) -> App:
    app = factories.open_app(db.session(), app_id="wxinstallcomp")
    platform.register(app)
    return app


def wait_until(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        db.session().expire_all()
        result = check()
        if result or time.monotonic() > deadline:
            return result
        db.session().rollback()
        time.sleep(0.05)


def stale_crowd(url: str, api_key: str, stale: str, callers: int = 50) -> list:
    """`callers` threads POSTing {"stale_token": stale} to the refresh `url` at the same moment;
    their answers."""
    go, answers = threading.Event(), []

    def caller():
        go.wait()
        answers.append(
            requests.post(
                url,
                json={"stale_token": stale},
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=60,
            )
        )

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(90)
    return answers


def newest_ticket(app: App) -> Ticket | None:
    return db.session().scalars(select(Ticket).where(Ticket.app_pk == app.id)).first()


def drain(app) -> None:
    assert job_runner.get_runner(app).drain(timeout=30), "jobs still running after 30 s"
    db.session().expire_all()


def tenant_of(app: App, tenant_id: str) -> Tenant | None:
    db.session().expire_all()
    return db.session().scalar(
        select(Tenant).where(Tenant.app_pk == app.id, Tenant.tenant_id == tenant_id)
    )


def history(tenant: Tenant) -> list[tuple[str, str]]:
    rows = db.session().scalars(
        select(TenantHistory).where(TenantHistory.tenant_pk == tenant.id).order_by(TenantHistory.id)
    )
    return [(row.action, row.source) for row in rows]


def push(platform, app: App, kind: str, **fields) -> dict:
    result = platform.control("push", app_id=app.app_id, kind=kind, **fields)
    assert result["delivered"] and result["body"] == "success", result
    return result


DEAD_URL = "http://127.0.0.1:9"  # nothing listens there: the platform's push is lost


def miss_pushes(platform, app: App, missed: bool) -> None:
    """Point the sandbox's pushes for `app` at a dead URL (missed) or back at our server."""
    platform.control(
        "apps",
        platform=app.platform,
        app_id=app.app_id,
        secret=app.secret,
        token=app.token,
        aes_key=app.aes_key,
        server_url=DEAD_URL if missed else platform.server,
        provider_corpid=app.provider_corpid or "",
        push_ticket=False,
    )
