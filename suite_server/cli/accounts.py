"""`suite-server admin` and `suite-server apikeys`: admin users of the web UI and the token
API's keys."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from suite_server import accounts, db
from suite_server.cli.common import needs_schema, table


@click.group("admin", cls=AppGroup)
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


@click.group("apikeys", cls=AppGroup)
def apikeys_group() -> None:
    """API keys for the token API."""


@apikeys_group.command("create")
@click.argument("name")
@click.option("--app", "app_ids", multiple=True, metavar="APP_ID", help="limit it to this app")
@click.option(
    "--path-prefix",
    "path_prefixes",
    multiple=True,
    metavar="PREFIX",
    help="platform paths it may call through the gateway's proxy (/cgi-bin/message/)",
)
@needs_schema
def apikeys_create(name: str, app_ids: tuple[str, ...], path_prefixes: tuple[str, ...]) -> None:
    """Create an API key and print it once; --app (repeatable) limits it to those apps."""
    with db.transaction() as session:
        key = accounts.create_api_key(session, name, app_ids=app_ids, path_prefixes=path_prefixes)
    click.echo(key)
    click.echo("store this key now: it is not shown again", err=True)


@apikeys_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@needs_schema
def apikeys_list(as_json: bool) -> None:
    """List API keys with their scope (never the key itself)."""
    keys = accounts.list_api_keys(db.session())
    if as_json:
        # The stored prefix is all there is of a key: only its hash is kept.
        rows = [
            {
                "name": k.name,
                "prefix": k.prefix,
                "apps": k.app_ids,
                "path_prefixes": k.path_prefixes,
                "created_at": db.iso(k.created_at),
                "last_used_at": db.iso(k.last_used_at),
                "revoked_at": db.iso(k.revoked_at),
            }
            for k in keys
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    rows = [
        [
            k.name,
            k.prefix + "...",
            accounts.scope_of(k),
            db.iso(k.last_used_at) or "-",
            "revoked" if k.revoked_at else "active",
        ]
        for k in keys
    ]
    table(["NAME", "KEY", "SCOPE", "LAST USED", "STATE"], rows)


@apikeys_group.command("revoke")
@click.argument("name")
@needs_schema
def apikeys_revoke(name: str) -> None:
    """Revoke an API key: requests with it are refused from now on."""
    with db.transaction() as session:
        accounts.revoke_api_key(session, name)
    click.echo(f"revoked API key {name}")
