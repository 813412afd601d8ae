"""`suite-server demo`: the newcomer's one command. The sandbox plays both platforms on one port,
the server runs on another with the in-process job runner, a demo suite, a demo component, the
demo provider account and a customized-app template are registered on both sides (one corp has
installed the template already, two the suite: one in its license trial, one licensed, see
`licenses.py`), an admin is created, and the URLs to open are printed.

The demo keeps its own SQLite database (`<instance>/demo.db`), made afresh on every start: the
sandbox's corps and accounts live in its memory, so tenants from an earlier run would hold
credentials no platform knows. Ctrl-C (or SIGTERM) stops everything at once: a job already
running may finish, no other starts, and a retry waiting for its time is not waited for.
"""

from __future__ import annotations

import logging
import secrets
import shlex
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import click
import requests
from flask import Flask, current_app
from sqlalchemy import select
from werkzeug.serving import WSGIRequestHandler, make_server

from suite_server import accounts, apps, create_app, db, instance_path, providers, schema
from suite_server.crypto.msgcrypt import generate_aes_key
from suite_server.demo import licenses, miniprograms
from suite_server.jobs import runner as job_runner
from suite_server.jobs import schedule
from suite_server.models import App, Tenant
from suite_server.ops import logs
from suite_server.sandbox import SandboxServer
from suite_server.sandbox.state import App as SandboxApp
from suite_server.sandbox.state import Provider as SandboxProvider
from suite_server.settings import PREFIX
from suite_server.tokens.service import TokenUnavailable, app_token
from suite_server.upstream import api_for

log = logging.getLogger(__name__)

DEMO_PROVIDER = "wwdemoprovider"
DEMO_APPS = (
    # platform, app id, name, provider corpid
    ("wecom", "wwdemosuite", "Demo suite", DEMO_PROVIDER),
    ("open", "wxdemocomponent", "Demo component", None),
    ("wecom", "dkdemotemplate", "Demo customized template", DEMO_PROVIDER),
)
# The corp that has installed the customized template when the demo starts (by scanning its QR
# code: the sandbox pushes create_auth, as WeCom does).
DEMO_CUSTOMER = ("wwdemocustomer", "Demo customer (customized app)")
# The corps that have installed the demo suite from the market: the first stays in its 90-day
# license trial, the second's members are licensed (an order bought, paid and activated).
DEMO_TRIAL = ("wwdemotrial", "Demo trial corp")
DEMO_LICENSED = ("wwdemolicensed", "Demo licensed corp")
ADMIN = "admin"
# The settings that point the server at the platforms: all of them at the sandbox.
SANDBOX_SETTINGS = ("WECOM_API_BASE", "WECHAT_API_BASE", "WECOM_INSTALL_URL", "OPEN_AUTH_URL")
TOKEN_WAIT = 15.0  # seconds to wait for the first tickets before saying why there is no token
STOP_WAIT = 3.0  # seconds Ctrl-C waits for running jobs (a webhook POST may take 13)


@dataclass
class Demo:
    app: Flask
    sandbox: SandboxServer
    public_url: str
    password: str


def run(host: str, port: int, sandbox_port: int, ticket_interval: int) -> None:
    sandbox = SandboxServer({"ticket_interval": ticket_interval}, host=host, port=sandbox_port)
    try:
        sandbox_url = sandbox.start()
    except OSError as exc:
        reason = exc.strerror or exc
        raise click.ClickException(
            f"sandbox: cannot listen on {host}:{sandbox_port}: {reason}"
        ) from None
    try:
        _serve(host, port, sandbox, sandbox_url)
    finally:
        sandbox.stop()


def _serve(host: str, port: int, sandbox: SandboxServer, sandbox_url: str) -> None:
    app = _demo_app(sandbox_url)
    logs.configure(app)
    try:
        server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    public_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{server.port}"
    app.config["PUBLIC_URL"] = public_url
    thread = threading.Thread(target=server.serve_forever, name="demo-http", daemon=True)
    thread.start()
    stop_schedule = threading.Event()
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        demo = Demo(app, sandbox, public_url, secrets.token_urlsafe(12))
        _set_up(demo)
        _report(demo)
        # After the first tickets: a sweep before them would only warn that none came yet.
        stop_schedule = schedule.start_in_process_schedule(app)
        stopping.wait()
    finally:
        # At once: no job starts after this line, and a retry waiting for its time is not waited
        # for. What it was to do is still pending in the database (a webhook delivery, an event).
        click.echo("Stopping the demo.")
        stop_schedule.set()
        job_runner.get_runner(app).shutdown(timeout=STOP_WAIT)
        server.shutdown()
        thread.join(5)
        db.dispose(app)


def _demo_app(sandbox_url: str) -> Flask:
    """The server's app on a fresh demo database, its platform URLs pointing at the sandbox."""
    instance = Path(instance_path())
    database = instance / "demo.db"
    for stale in (database, *(instance.glob("demo.db-*"))):
        stale.unlink(missing_ok=True)
    app = create_app(
        {
            "ENV": "development",
            "DATABASE_URL": f"sqlite:///{database}",
            "REDIS_URL": None,  # the in-process runner: nothing else to start
            # The development keys of the instance folder, whatever the environment says, so a
            # command in another shell (`_shell`) decrypts the demo's secrets.
            "SECRET_KEY": None,
            "ENCRYPTION_KEYS": None,
            "WECOM_API_BASE": sandbox_url,
            "WECHAT_API_BASE": sandbox_url,
            "WECOM_INSTALL_URL": f"{sandbox_url}/3rdapp/install",
            "OPEN_AUTH_URL": f"{sandbox_url}/cgi-bin/componentloginpage",
        }
    )
    schema.upgrade(app)
    return app


def _set_up(demo: Demo) -> None:
    """Register the provider and the demo apps on both sides and create the admin."""
    with demo.app.app_context():
        session = db.session()
        provider = providers.register_provider(
            session,
            corpid=DEMO_PROVIDER,
            name="Demo provider",
            secret=secrets.token_hex(16),
            token=secrets.token_hex(8),
            aes_key=generate_aes_key(),
        )
        session.commit()
        demo.sandbox.sandbox.register_provider(mirror_provider(provider, demo.public_url))
        for check in demo.sandbox.sandbox.verify_urls(DEMO_PROVIDER):
            click.echo(check["summary"])
        for platform, app_id, name, provider_corpid in DEMO_APPS:
            keys = {
                "secret": secrets.token_hex(16),
                "token": secrets.token_hex(8),
                "aes_key": generate_aes_key(),
            }
            app = apps.register_app(
                session,
                platform=platform,
                app_id=app_id,
                name=name,
                provider_corpid=provider_corpid,
                **keys,
            )
            session.commit()
            # The sandbox pushes a first ticket now, as the platform does when an app is approved.
            demo.sandbox.sandbox.register(mirror(app, demo.public_url))
            # As the WeCom console does when the URLs are saved: GET them with an echostr.
            for check in demo.sandbox.sandbox.verify_urls(app_id):
                click.echo(check["summary"])
        accounts.create_admin(session, ADMIN, demo.password)
        session.commit()


def _install(demo: Demo, app_id: str, tenant_id: str, name: str) -> str:
    """A corp installs the app (the sandbox pushes create_auth, as WeCom does when a customized
    template's QR code is scanned or a suite is installed from the market); its tenant appears
    once the job has exchanged the code."""
    try:
        answer = requests.post(
            f"{demo.sandbox.base_url}/sandbox/push",
            json={"app_id": app_id, "kind": "create_auth", "tenant_id": tenant_id, "name": name},
            timeout=10,
        ).json()
    except (requests.RequestException, ValueError) as exc:
        return f"not installed ({type(exc).__name__})"
    if not answer.get("delivered"):
        return f"not installed ({answer.get('error') or answer.get('body')})"
    with demo.app.app_context():
        deadline = time.monotonic() + TOKEN_WAIT
        while time.monotonic() < deadline:
            session = db.session()
            found = session.scalar(
                select(Tenant.status)
                .join(App, App.id == Tenant.app_pk)
                .where(App.app_id == app_id, Tenant.tenant_id == tenant_id)
            )
            session.rollback()
            if found == "active":
                return f"{tenant_id} installed it"
            time.sleep(0.2)
    return f"{tenant_id}: install still in progress"


def _licenses(demo: Demo) -> list[str]:
    """Two corps install the suite; the second is licensed; both are synced (licenses.py)."""
    suite = DEMO_APPS[0][1]
    corps = [DEMO_TRIAL, DEMO_LICENSED]
    for corp, name in corps:
        installed = _install(demo, suite, corp, name)
        if not installed.endswith("installed it"):
            return [f"  Licenses: {installed}"]
    licensed = DEMO_LICENSED[0]
    try:
        order_id = licenses.license_corp(
            demo.app, demo.sandbox.base_url, demo.public_url, DEMO_PROVIDER, licensed
        )
        bought = f"order {order_id} paid, an account activated for {licenses.MEMBER}"
    except licenses.StepFailed as exc:
        bought = f"no license bought ({exc})"
    licenses.sync(demo.app, DEMO_PROVIDER, [corp for corp, _ in corps])
    return [
        f"  Licenses of the demo suite (provider {DEMO_PROVIDER}):",
        *licenses.states(demo.app, suite, corps),
        f"    {licensed}: {bought}",
    ]


def mirror_provider(provider: App, server_url: str) -> SandboxProvider:
    """The sandbox's copy of our provider account, its system events going to `server_url`."""
    return SandboxProvider(
        corpid=provider.app_id,
        secret=provider.secret,
        token=provider.token,
        aes_key=provider.aes_key,
        server_url=server_url,
        name=provider.name or "",
    )


def mirror(app: App, server_url: str) -> SandboxApp:
    """The sandbox's copy of one of our apps, its pushes going to `server_url` (also what
    `suite-server sandbox --server-url` registers)."""
    return SandboxApp(
        platform=app.platform,
        app_id=app.app_id,
        secret=app.secret,
        token=app.token,
        aes_key=app.aes_key,
        server_url=server_url,
        provider_corpid=app.provider_corpid or "",
        name=app.name or "",
    )


def _report(demo: Demo) -> None:
    """Wait for the first tickets and app tokens, then print what to open."""
    lines = []
    with demo.app.app_context():
        session = db.session()
        for app in session.query(App).order_by(App.id):
            kind = "provider" if app.is_provider else app.platform
            lines.append(f"  {app.name} ({kind} {app.app_id}): {_first_token(app)}")
    template = DEMO_APPS[2][1]
    lines.append(f"  Customized template: {_install(demo, template, *DEMO_CUSTOMER)}")
    lines.extend(_licenses(demo))
    component = DEMO_APPS[1][1]
    lines.extend(miniprograms.run(demo.app, demo.public_url, demo.sandbox.base_url, component))
    base, sandbox = demo.public_url, demo.sandbox.base_url
    click.echo(
        "\n".join(
            [
                "",
                "suite-server demo is running (Ctrl-C to stop).",
                *lines,
                "",
                "Open in a browser:",
                f"  Install the demo suite (WeCom):        {base}/install/wwdemosuite",
                f"  Authorize the demo component (Open):   {base}/install/wxdemocomponent",
                f"  Install the customized template (QR):  {base}/install/dkdemotemplate",
                f"  The sandbox (pushes, faults, tenants): {sandbox}/sandbox/",
                "",
                f"Admin user: {ADMIN}  one-time password: {demo.password}",
                "",
                "In another shell, these settings point commands at the demo and its sandbox:",
                *(f"  export {name}={shlex.quote(value)}" for name, value in _shell(demo.app)),
                "  suite-server tenants list",
                "",
            ]
        )
    )


def _shell(app: Flask) -> list[tuple[str, str]]:
    """The settings a command needs to work on the demo: its database, the sandbox for every
    platform URL (or `tenants reconcile` would call the real hosts with the demo's credentials),
    and the instance folder, whose development keys decrypt the demo's secrets. Empty values
    unset what the shell may have (an empty setting is an unset one)."""
    config = app.config
    settings = {
        "INSTANCE_PATH": app.instance_path,
        "ENV": "development",
        "DATABASE_URL": config["DATABASE_URL"],
        "REDIS_URL": "",
        "SECRET_KEY": "",
        "ENCRYPTION_KEYS": "",
        "PUBLIC_URL": config["PUBLIC_URL"],
        **{name: config[name] for name in SANDBOX_SETTINGS},
    }
    return [(f"{PREFIX}_{name}", str(value)) for name, value in settings.items()]


def _first_token(app: App) -> str:
    api = api_for(app.platform, current_app.config)
    deadline = time.monotonic() + TOKEN_WAIT
    while True:
        session = db.session()
        try:
            token = app_token(session, app, api)
        except TokenUnavailable as exc:
            session.rollback()
            if exc.code != "no_ticket" or time.monotonic() > deadline:
                return f"no app token yet ({exc.message})"
            time.sleep(0.2)
            continue
        del token  # never printed
        return (
            "provider token obtained" if app.is_provider else "ticket received, app token obtained"
        )


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass
