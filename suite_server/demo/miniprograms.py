"""The demo's mini programs (docs/registrations.md, docs/releases.md): the ISV's release service
registers a beta mini program for a merchant through the demo component (the sandbox plays the
merchant confirming it), a second mini program authorizes the component, and one template
version is shipped to both: committed, audited by the sandbox, released. All through the API
with an API key, as the ISV's own services do.

Steps that fail say why in the demo's report; the demo runs on without them.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from flask import Flask
from sqlalchemy import select

from suite_server import accounts, db
from suite_server.models import App, Tenant

SERVICE_KEY = "demo-release"
REGISTERED = ("Demo Cafe", "oDemoCafeOwner")  # the beta mini program's name and owner
SHOP = ("wxdemoshop0000001", "Demo Shop")  # a mini program that authorizes the component
VERSION = "1.0.0"
WAIT = 30.0


class StepFailed(Exception):
    """A step of the mini-program demo that did not work; its message says which and why."""


class Client:
    """The ISV's release service: our API with its key, and the sandbox's control API."""

    def __init__(self, app: Flask, public_url: str, sandbox_url: str, component: str) -> None:
        with app.app_context():
            session = db.session()
            self.key = accounts.create_api_key(session, SERVICE_KEY, app_ids=[component])
            session.commit()  # never printed: `suite-server apikeys create` makes yours
        self.api = f"{public_url}/api/v1/apps/{component}"
        self.sandbox = f"{sandbox_url}/sandbox"
        self.component = component

    def call(self, method: str, path: str, **body: Any) -> dict:
        try:
            response = requests.request(
                method,
                f"{self.api}{path}",
                json=body or None,
                headers={"Authorization": f"Bearer {self.key}"},
                timeout=30,
            )
            answer = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise StepFailed(f"{path}: {type(exc).__name__}") from None
        if response.status_code >= 400 or answer.get("errcode"):
            error = answer.get("error") or {}
            reason = error.get("message") if isinstance(error, dict) else answer.get("errmsg")
            raise StepFailed(f"{path}: {reason or response.status_code}")
        return answer

    def control(self, path: str, **body: Any) -> dict:
        try:
            response = requests.post(f"{self.sandbox}/{path}", json=body, timeout=30)
            answer = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise StepFailed(f"sandbox {path}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise StepFailed(f"sandbox {path}: {answer.get('error') or response.status_code}")
        return answer


def register(client: Client) -> str:
    """Register the beta mini program and let the merchant confirm it; returns its appid."""
    name, owner = REGISTERED
    started = client.call("POST", "/registrations", kind="beta", name=name, openid=owner)
    unique_id = started["registration"]["unique_id"]
    done = client.control(
        "registrations/complete", app_id=client.component, kind="beta", unique_id=unique_id
    )
    return done["registration"]["appid"]


def authorize_shop(client: Client) -> str:
    appid, name = SHOP
    client.control(
        "push",
        app_id=client.component,
        kind="authorized",
        tenant_id=appid,
        name=name,
        account_type="mini_program",
    )
    return appid


def wait_for_tenants(app: Flask, component: str, appids: list[str]) -> None:
    deadline = time.monotonic() + WAIT
    with app.app_context():
        while time.monotonic() < deadline:
            session = db.session()
            active = set(
                session.scalars(
                    select(Tenant.tenant_id)
                    .join(App, App.id == Tenant.app_pk)
                    .where(App.app_id == component, Tenant.status == "active")
                )
            )
            session.rollback()
            if set(appids) <= active:
                return
            time.sleep(0.2)
    raise StepFailed(f"the mini programs did not become tenants within {WAIT:.0f} s")


def ship(client: Client, appids: list[str]) -> dict:
    """A draft on the platform made a template, shipped to `appids`; the finished deployment."""
    client.control(
        "templates/drafts",
        app_id=client.component,
        user_version=VERSION,
        user_desc="the demo's first version",
    )
    drafts = client.call("GET", "/proxy/wxa/gettemplatedraftlist")["draft_list"]
    client.call("POST", "/proxy/wxa/addtotemplate", draft_id=drafts[-1]["draft_id"])
    template_id = client.call("GET", "/proxy/wxa/gettemplatelist")["template_list"][-1][
        "template_id"
    ]
    started = client.call(
        "POST",
        "/deployments",
        template_id=str(template_id),
        user_version=VERSION,
        user_desc="the demo's first version",
        targets=appids,
    )["deployment"]
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        body = client.call("GET", f"/deployments/{started['id']}")["deployment"]
        if body["status"] != "running":
            return body
        time.sleep(0.3)
    return body


def run(app: Flask, public_url: str, sandbox_url: str, component: str) -> list[str]:
    """The report's lines."""
    try:
        client = Client(app, public_url, sandbox_url, component)
        registered = register(client)
        shop = authorize_shop(client)
        wait_for_tenants(app, component, [registered, shop])
        deployment = ship(client, [registered, shop])
    except StepFailed as exc:
        return [f"  Mini programs: {exc}"]
    progress = ", ".join(
        f"{count} {step}" for step, count in sorted(deployment["progress"].items())
    )
    return [
        f"  Mini programs of the demo component ({component}):",
        f"    {registered} ({REGISTERED[0]}): registered as a beta mini program",
        f"    {shop} ({SHOP[1]}): authorized the component",
        f"    deployment {deployment['id']} of version {VERSION}: {deployment['status']},"
        f" {progress}",
    ]
