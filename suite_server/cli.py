"""The `suite-server` command group (docs/cli.md): every user error is one line on stderr
and a non-zero exit, never a traceback."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup
from redis.exceptions import RedisError
from sqlalchemy import select
from werkzeug.serving import run_simple

from suite_server import accounts, apps, create_app, db, demo, schema
from suite_server.apps import ValidationError
from suite_server.authorization import reconcile
from suite_server.crypto import secrets
from suite_server.dispatch import webhooks
from suite_server.jobs import runner as job_runner
from suite_server.jobs import schedule
from suite_server.models import App, InboundEvent, Tenant, TenantToken, WebhookDelivery
from suite_server.models.events import STATUSES as EVENT_STATUSES
from suite_server.models.webhooks import STATUSES as WEBHOOK_STATUSES
from suite_server.ops import failures, logs
from suite_server.processing import pipeline
from suite_server.sandbox import sandbox_command
from suite_server.settings import SettingsError


def _load_app():
    try:
        return create_app()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(
    cls=FlaskGroup,
    create_app=_load_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
)
def cli() -> None:
    """suite-server: WeCom suite and WeChat Open Platform component server."""


# FlaskGroup's --app/--env-file/--debug would let the CLI run some other app: ours is fixed.
cli.params.clear()


def main() -> None:
    try:
        cli.main(prog_name="suite-server")
    except Exception as exc:
        reason = failures.one_line(exc)  # settings, database, Redis, keys: one line
        if reason is None:
            raise
        click.echo(f"Error: {logs.printable(reason)}", err=True)
        sys.exit(1)


def needs_schema(command: Callable[..., Any]) -> Callable[..., Any]:
    """Commands that read or write tables. In development the database is brought up to date on
    the spot so a fresh checkout just works; production requires `suite-server db upgrade`."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        app = current_app._get_current_object()
        if app.config["ENV"] != "production":
            schema.upgrade(app)
        elif not schema.is_current(app):
            raise click.ClickException("database is not up to date: run `suite-server db upgrade`")
        try:
            return command(*args, **kwargs)
        except ValidationError as exc:
            db.session().rollback()
            raise click.ClickException(str(exc)) from None

    return wrapper


# -- db ----------------------------------------------------------------------------------------


@cli.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply Alembic migrations up to the newest revision."""
    schema.upgrade(current_app._get_current_object())
    click.echo("database is up to date")


# -- apps --------------------------------------------------------------------------------------


@cli.group("apps")
def apps_group() -> None:
    """Register and list apps (WeCom suites, Open Platform components)."""


@apps_group.group("add")
def apps_add() -> None:
    """Register an app."""


_common_app_options = [
    click.option("--secret", required=True, help="suite_secret / component_appsecret"),
    click.option("--token", required=True, help="callback Token from the console"),
    click.option("--aes-key", required=True, help="callback EncodingAESKey (43 characters)"),
    click.option("--name", default="", help="display name"),
    click.option("--test-mode", is_flag=True, help="install in test mode (WeCom auth_type=1)"),
    click.option("--landing-url", default=None, help="where to send the browser after install"),
]


def _app_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_common_app_options):
        command = option(command)
    return command


@apps_add.command("wecom")
@click.option("--suite-id", required=True)
@_app_options
@click.option("--provider-corpid", default=None, help="the provider's corpid (URL checks)")
@needs_schema
def apps_add_wecom(suite_id: str, provider_corpid: str | None, **options: Any) -> None:
    """Register a WeCom suite."""
    _add("wecom", suite_id, provider_corpid=provider_corpid, **options)


@apps_add.command("open")
@click.option("--appid", required=True, help="component_appid")
@_app_options
@needs_schema
def apps_add_open(appid: str, **options: Any) -> None:
    """Register an Open Platform component."""
    _add("open", appid, **options)


def _add(platform: str, app_id: str, *, aes_key: str, **options: Any) -> None:
    with db.transaction() as session:
        app = apps.register_app(
            session, platform=platform, app_id=app_id, aes_key=aes_key, **options
        )
    click.echo(f"registered {platform} app {app.app_id}")


@apps_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@needs_schema
def apps_list(as_json: bool) -> None:
    """List apps with ticket age and app-token expiry."""
    rows = apps.overview(db.session())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _table(
        ["APP ID", "PLATFORM", "NAME", "TICKET AGE", "TICKETS", "TOKEN EXPIRES"],
        [
            [
                r["app_id"],
                r["platform"],
                r["name"],
                "none" if r["ticket_age"] is None else f"{r['ticket_age']}s",
                r["ticket_state"],
                r["token_expires_at"] or "none",
            ]
            for r in rows
        ],
    )


@apps_group.command("webhook")
@click.argument("app_id")
@click.option("--url", default=None, help="where this app's tenant messages are POSTed")
@click.option("--off", is_flag=True, help="stop sending: clears the URL and the secret")
@click.option("--rotate-secret", is_flag=True, help="replace the signing secret")
@needs_schema
def apps_webhook(app_id: str, url: str | None, off: bool, rotate_secret: bool) -> None:
    """Set, rotate or turn off an app's webhook (docs/webhooks.md); a new secret is printed once.
    With no option, shows the current setting."""
    with db.transaction() as session:
        app = _find_app(session, app_id)
        if url is None and not (off or rotate_secret):
            secret_set = " (secret set)" if app.webhook_secret else ""
            click.echo(f"webhook of {app_id}: {app.webhook_url or 'off'}{secret_set}")
            return
        secret = webhooks.configure_app(session, app, url=url, off=off, rotate=rotate_secret)
        state = app.webhook_url or "off"
    click.echo(f"webhook of {app_id}: {state}")
    _print_secret(secret)


# -- tenants -----------------------------------------------------------------------------------


@cli.group("tenants")
def tenants_group() -> None:
    """Inspect tenants (corps and accounts that authorized an app)."""


@tenants_group.command("list")
@click.option("--app", "app_id", default=None, help="only this app's tenants")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@needs_schema
def tenants_list(app_id: str | None, as_json: bool) -> None:
    """List tenants with status and token expiry."""
    query = (
        select(App.app_id, Tenant, TenantToken.expires_at)
        .join(App, App.id == Tenant.app_pk)
        .outerjoin(TenantToken, TenantToken.tenant_pk == Tenant.id)
        .order_by(App.app_id, Tenant.tenant_id)
    )
    if app_id:
        query = query.where(App.app_id == app_id)
    rows = [
        {
            "app_id": owner,
            "tenant_id": tenant.tenant_id,
            "name": tenant.name,
            "status": tenant.status,
            "status_reason": tenant.status_reason,
            "authorized_at": _iso(tenant.authorized_at),
            "cancelled_at": _iso(tenant.cancelled_at),
            "token_expires_at": _iso(expires_at),
        }
        for owner, tenant, expires_at in db.session().execute(query)
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _table(
        ["APP ID", "TENANT ID", "NAME", "STATUS", "SINCE", "TOKEN EXPIRES", "REASON"],
        [
            [r["app_id"], r["tenant_id"], r["name"], r["status"],
             (r["cancelled_at"] if r["status"] == "cancelled" else r["authorized_at"] or "-")[:19],
             (r["token_expires_at"] or "none")[:19], (r["status_reason"] or "")[:60]]
            for r in rows
        ],
    )  # fmt: skip


@tenants_group.command("reconcile")
@click.option("--app", "app_id", default=None, help="only this app")
@needs_schema
def tenants_reconcile(app_id: str | None) -> None:
    """Compare tenants with the platform now (what the daily job does) and print what changed."""
    if app_id and db.session().scalar(select(App.id).where(App.app_id == app_id)) is None:
        raise click.ClickException(f"no app {app_id!r}")
    failed = False
    for owner, result in reconcile.reconcile(app_id).items():
        if isinstance(result, str):
            failed = True
            click.echo(f"{owner}: not reconciled: {logs.printable(result)}")
        else:
            click.echo(f"{owner}: " + ", ".join(f"{k} {v}" for k, v in result.items()))
    if failed:
        sys.exit(1)


@tenants_group.command("webhook")
@click.argument("app_id")
@click.argument("tenant_id")
@click.option("--url", default=None, help="the tenant's own receiver (signed with the app secret)")
@click.option("--off", is_flag=True, help="stop sending to the tenant's own receiver")
@needs_schema
def tenants_webhook(app_id: str, tenant_id: str, url: str | None, off: bool) -> None:
    """Set or clear a tenant's own webhook, besides the app's."""
    if (url is None) == (not off):
        raise click.ClickException("give either --url URL or --off")
    with db.transaction() as session:
        app = _find_app(session, app_id)
        tenant = session.scalar(
            select(Tenant).where(Tenant.app_pk == app.id, Tenant.tenant_id == tenant_id)
        )
        if tenant is None:
            raise click.ClickException(f"no tenant {tenant_id!r} of app {app_id!r}")
        secret = webhooks.configure_tenant(session, app, tenant, url=url, off=off)
    click.echo(f"webhook of {app_id}/{tenant_id}: {tenant.webhook_url or 'off'}")
    _print_secret(secret)


def _print_secret(secret: str | None) -> None:
    if secret:
        click.echo(f"webhook secret: {secret}")
        click.echo("store this secret now: it is not shown again", err=True)


# -- events ------------------------------------------------------------------------------------


@cli.group("events")
def events_group() -> None:
    """Inbound events: every push as stored, newest first."""


@events_group.command("list")
@click.option("--app", "app_id", default=None, help="only this app's events")
@click.option("--status", type=click.Choice(EVENT_STATUSES), default=None)
@click.option("--kind", default=None, help="InfoType, MsgType or event:<Event>")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@needs_schema
def events_list(
    app_id: str | None, status: str | None, kind: str | None, limit: int, as_json: bool
) -> None:
    """List inbound events (never their payloads)."""
    query = (
        select(App.app_id, InboundEvent)
        .join(App, App.id == InboundEvent.app_pk)
        .order_by(InboundEvent.id.desc())
        .limit(limit)
    )
    for column, value in ((App.app_id, app_id), (InboundEvent.status, status)):
        if value:
            query = query.where(column == value)
    if kind:
        query = query.where(InboundEvent.kind == kind)
    rows = [
        {
            "id": event.id,
            "app_id": owner,
            "tenant_id": event.tenant_id,
            "channel": event.channel,
            "kind": event.kind,
            "status": event.status,
            "attempts": event.attempts,
            "error": event.error,
            "received_at": event.received_at.isoformat(),
        }
        for owner, event in db.session().execute(query)
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _table(
        ["ID", "APP ID", "TENANT", "CHANNEL", "KIND", "STATUS", "RECEIVED"],
        [
            [r["id"], r["app_id"], r["tenant_id"] or "-", r["channel"], r["kind"], r["status"],
             r["received_at"][:19]]
            for r in rows
        ],
    )  # fmt: skip


@events_group.command("reprocess")
@click.argument("event_id", type=int)
@needs_schema
def events_reprocess(event_id: int) -> None:
    """Run a failed event's processing again (in the background)."""
    try:
        pipeline.reprocess(event_id)
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    runner = job_runner.get_runner()
    if isinstance(runner, job_runner.InProcessRunner):
        runner.drain(timeout=60)  # no worker will run it once this command exits
    event = db.session().get(InboundEvent, event_id)
    db.session().refresh(event)
    error = f" ({logs.printable(event.error)})" if event.error else ""
    click.echo(f"event {event_id}: {event.status}{error}")


# -- webhooks ----------------------------------------------------------------------------------


@cli.group("webhooks")
def webhooks_group() -> None:
    """Webhook deliveries of tenant messages, newest first."""


@webhooks_group.command("list")
@click.option("--app", "app_id", default=None, help="only this app's deliveries")
@click.option("--status", type=click.Choice(WEBHOOK_STATUSES), default=None)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@needs_schema
def webhooks_list(app_id: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """List webhook deliveries (never their bodies)."""
    rows = webhooks.overview(db.session(), app_id=app_id, status=status, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _table(
        ["ID", "APP ID", "TENANT", "EVENT", "STATUS", "ATTEMPTS", "CREATED", "URL", "LAST ERROR"],
        [
            [r["id"], r["app_id"], r["tenant_id"] or "-", r["event_id"], r["status"],
             r["attempts"], r["created_at"][:19], r["url"][:60], (r["last_error"] or "")[:40]]
            for r in rows
        ],
    )  # fmt: skip


@webhooks_group.command("redeliver")
@click.argument("delivery_id", type=int)
@needs_schema
def webhooks_redeliver(delivery_id: int) -> None:
    """Send a delivery again (same body, a new round of retries)."""
    try:
        webhooks.redeliver(db.session(), delivery_id)
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    runner = job_runner.get_runner()
    if isinstance(runner, job_runner.InProcessRunner):
        runner.drain(timeout=30)  # no worker will run it once this command exits
    delivery = db.session().get(WebhookDelivery, delivery_id)
    db.session().refresh(delivery)
    error = f" ({logs.printable(delivery.last_error)})" if delivery.last_error else ""
    click.echo(f"webhook delivery {delivery_id}: {delivery.status}{error}")


# -- accounts ----------------------------------------------------------------------------------


@cli.group("admin")
def admin_group() -> None:
    """Admin users of the web UI."""


@admin_group.command("create")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@needs_schema
def admin_create(username: str, password: str) -> None:
    """Create an admin user (prompts for the password when --password is not given)."""
    with db.transaction() as session:
        accounts.create_admin(session, username, password)
    click.echo(f"created admin user {username}")


@cli.group("apikeys")
def apikeys_group() -> None:
    """API keys for the token API."""


@apikeys_group.command("create")
@click.argument("name")
@click.option("--app", "app_ids", multiple=True, metavar="APP_ID", help="limit it to this app")
@click.option(
    "--path-prefix", "path_prefixes", multiple=True, metavar="PREFIX",
    help="gateway paths it may call (stored; not enforced until the gateway exists)",
)  # fmt: skip
@needs_schema
def apikeys_create(name: str, app_ids: tuple[str, ...], path_prefixes: tuple[str, ...]) -> None:
    """Create an API key and print it once; --app (repeatable) limits it to those apps."""
    with db.transaction() as session:
        key = accounts.create_api_key(session, name, app_ids=app_ids, path_prefixes=path_prefixes)
    click.echo(key)
    click.echo("store this key now: it is not shown again", err=True)


@apikeys_group.command("list")
@needs_schema
def apikeys_list() -> None:
    """List API keys with their scope (never the key itself)."""
    rows = [
        [k.name, k.prefix + "...", accounts.scope_of(k), _iso(k.last_used_at) or "-",
         "revoked" if k.revoked_at else "active"]
        for k in accounts.list_api_keys(db.session())
    ]  # fmt: skip
    _table(["NAME", "KEY", "SCOPE", "LAST USED", "STATE"], rows)


@apikeys_group.command("revoke")
@click.argument("name")
@needs_schema
def apikeys_revoke(name: str) -> None:
    """Revoke an API key: requests with it are refused from now on."""
    with db.transaction() as session:
        accounts.revoke_api_key(session, name)
    click.echo(f"revoked API key {name}")


# -- keys --------------------------------------------------------------------------------------


@cli.group("keys")
def keys_group() -> None:
    """Encryption keys for secrets at rest (SUITE_SERVER_ENCRYPTION_KEYS)."""


@keys_group.command("generate", with_appcontext=False)
def keys_generate() -> None:
    """Print a new key to put first in SUITE_SERVER_ENCRYPTION_KEYS."""
    click.echo(secrets.generate_key())


@keys_group.command("rotate")
@needs_schema
def keys_rotate() -> None:
    """Re-encrypt every stored secret with the first key of SUITE_SERVER_ENCRYPTION_KEYS."""
    count = secrets.rotate(db.session())
    click.echo(f"re-encrypted {count} rows with the first key")


# -- sandbox ---------------------------------------------------------------------------------

# The offline platform simulator is its own small app: it needs no settings or database of ours.
cli.add_command(sandbox_command, "sandbox")


# -- serve -------------------------------------------------------------------------------------


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@needs_schema
def serve(host: str, port: int) -> None:
    """Serve the web app with the development server (use gunicorn wsgi:app in production)."""
    app = current_app._get_current_object()
    logs.configure(app)
    if isinstance(job_runner.get_runner(app), job_runner.InProcessRunner):
        schedule.start_in_process_schedule(app)  # no cron process without Redis
    # Flask's app.run() refuses to run under its own CLI; werkzeug's server is what it wraps.
    run_simple(host, port, app, threaded=True)


@cli.command("worker")
@click.option("--burst", is_flag=True, help="stop when the queues are empty")
@needs_schema
def worker(burst: bool) -> None:
    """Run an RQ worker for the queues (with its scheduler); needs SUITE_SERVER_REDIS_URL."""
    logs.configure(current_app._get_current_object())
    try:
        job_runner.run_worker(current_app._get_current_object(), burst=burst)
    except (job_runner.NoRedisConfigured, RedisError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None


@cli.command("cron")
@needs_schema
def cron() -> None:
    """Enqueue the periodic jobs on time (any number may run); needs SUITE_SERVER_REDIS_URL."""
    logs.configure(current_app._get_current_object())
    try:
        schedule.run_cron(current_app._get_current_object())
    except (job_runner.NoRedisConfigured, RedisError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None


@cli.command("demo", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--sandbox-port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--ticket-interval", default=60, show_default=True, type=click.IntRange(min=1),
    help="seconds between the sandbox's ticket pushes (the platforms: 600)",
)  # fmt: skip
def demo_command(host: str, port: int, sandbox_port: int, ticket_interval: int) -> None:
    """Sandbox + server + jobs in one go: demo apps and an admin created, URLs printed."""
    try:
        demo.run(host, port, sandbox_port, ticket_interval)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _find_app(session, app_id: str) -> App:
    app = session.scalar(select(App).where(App.app_id == app_id))
    if app is None:
        raise click.ClickException(f"no app {app_id!r}")
    return app


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _table(headers: list[str], rows: list[list[str]]) -> None:
    # Names and errors come from tenants and platforms: an escape code must not reach a terminal.
    cells = [[logs.printable(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(c) for c in column) for column in zip(*cells, strict=True)]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        click.echo("(none)")


if __name__ == "__main__":
    main()
