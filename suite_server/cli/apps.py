"""`suite-server apps`: register apps, list them, set their webhooks and where installs land."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
from flask.cli import AppGroup

from suite_server import apps, db
from suite_server.authorization import landing
from suite_server.cli.common import find_app, needs_schema, print_secret, table
from suite_server.dispatch import webhooks
from suite_server.errors import ValidationError


@click.group("apps", cls=AppGroup)
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
@click.option(
    "--provider-corpid",
    default=None,
    help="the provider's corpid (URL checks; a customized template's install link)",
)
@needs_schema
def apps_add_wecom(suite_id: str, provider_corpid: str | None, **options: Any) -> None:
    """Register a WeCom suite (or a customized-app template: a suite id starting with dk)."""
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
        # A landing URL: the landing secret signing its assertion, made now and shown once.
        secret = landing.configure(app) if app.landing_url else None
    click.echo(f"registered {platform} app {app.app_id}")
    _print_landing_secret(secret)


@apps_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@needs_schema
def apps_list(as_json: bool) -> None:
    """List apps with ticket age and app-token expiry."""
    rows = apps.overview(db.session())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table(
        ["APP ID", "PLATFORM", "KIND", "NAME", "TICKET AGE", "TICKETS", "TOKEN EXPIRES"],
        [
            [
                r["app_id"],
                r["platform"],
                r["kind"],
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
        app = find_app(session, app_id)
        if url is None and not (off or rotate_secret):
            secret_set = " (secret set)" if app.webhook_secret else ""
            click.echo(f"webhook of {app_id}: {app.webhook_url or 'off'}{secret_set}")
            return
        secret = webhooks.configure_app(session, app, url=url, off=off, rotate=rotate_secret)
        state = app.webhook_url or "off"
    click.echo(f"webhook of {app_id}: {state}")
    print_secret(secret)


@apps_group.command("landing")
@click.argument("app_id")
@click.option("--url", default=None, help="the landing URL after an install ('' clears it)")
@click.option(
    "--allow",
    "allow",
    multiple=True,
    help="add a URL prefix an install link's return_to may start with (repeatable)",
)
@click.option("--clear-allow", is_flag=True, help="remove every allowed prefix (before --allow)")
@click.option("--rotate-secret", is_flag=True, help="replace the landing secret")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@needs_schema
def apps_landing(
    app_id: str,
    url: str | None,
    allow: tuple[str, ...],
    clear_allow: bool,
    rotate_secret: bool,
    as_json: bool,
) -> None:
    """Where installs of an app land and the secret signing what they carry there
    (docs/install.md); a new secret is printed once. With no option, shows the settings."""
    with db.transaction() as session:
        app = find_app(session, app_id)
        if app.is_provider:
            raise ValidationError(f"{app_id} is a provider account: nothing is installed from it")
        secret = None
        if url is not None or allow or clear_allow or rotate_secret:
            options: dict[str, Any] = {} if url is None else {"url": url}
            secret = landing.configure(
                app, allow=list(allow), clear_allow=clear_allow, rotate=rotate_secret, **options
            )
        shown = {
            "app_id": app.app_id,
            "landing_url": app.landing_url,
            "return_to_allowed": landing.allowed_prefixes(app),
            "landing_secret": "set" if app.landing_secret else "none",
        }
    if as_json:
        click.echo(json.dumps({**shown, "new_landing_secret": secret}, indent=2))
        if secret:
            click.echo("store this secret now: it is not shown again", err=True)
        return
    click.echo(f"landing URL of {app_id}: {shown['landing_url'] or 'none (the built-in page)'}")
    prefixes = shown["return_to_allowed"]
    click.echo(f"allowed return_to prefixes: {', '.join(prefixes) if prefixes else 'none'}")
    click.echo(f"landing secret: {shown['landing_secret']}")
    _print_landing_secret(secret)


def _print_landing_secret(secret: str | None) -> None:
    if secret:
        click.echo(f"new landing secret: {secret}")
        click.echo("store this secret now: it is not shown again", err=True)
