"""`suite-server providers`: the ISV's WeCom provider account (服务商), whose token licenses,
customized-app install links and ID conversion need (docs/providers.md)."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from suite_server import db, providers
from suite_server.cli.common import needs_schema, table


@click.group("providers", cls=AppGroup)
def providers_group() -> None:
    """Register and list WeCom provider accounts."""


@providers_group.command("add")
@click.option("--corpid", required=True, help="the provider's corpid (服务商 CorpID)")
@click.option("--secret", required=True, help="provider_secret (ProviderSecret)")
@click.option("--token", default=None, help="the system event URL's Token")
@click.option("--aes-key", default=None, help="the system event URL's EncodingAESKey")
@click.option("--name", default="", help="display name")
@needs_schema
def providers_add(
    corpid: str, secret: str, token: str | None, aes_key: str | None, name: str
) -> None:
    """Register the provider account; suites and templates whose --provider-corpid names it
    are linked to it."""
    with db.transaction() as session:
        provider = providers.register_provider(
            session, corpid=corpid, secret=secret, token=token, aes_key=aes_key, name=name
        )
    click.echo(f"registered provider {provider.app_id}")
    if token:
        base = current_app.config["PUBLIC_URL"]
        click.echo(f"system event URL: {base}/callback/wecom/provider/{provider.app_id}")


@providers_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@needs_schema
def providers_list(as_json: bool) -> None:
    """List provider accounts with their token's expiry and linked apps."""
    rows = providers.overview(db.session())
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table(
        ["CORPID", "NAME", "SYSTEM EVENT URL", "LINKED APPS", "TOKEN EXPIRES"],
        [
            [
                r["corpid"],
                r["name"],
                "set" if r["system_event_url"] else "not set",
                str(r["linked_apps"]),
                r["token_expires_at"] or "none",
            ]
            for r in rows
        ],
    )
