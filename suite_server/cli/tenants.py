"""`suite-server tenants`: list tenants, reconcile them with the platform, set their webhooks."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from suite_server import db
from suite_server.admin import tenants
from suite_server.authorization import reconcile
from suite_server.cli.common import find_app, needs_schema, print_secret, table
from suite_server.cli.progress import progress
from suite_server.dispatch import webhooks
from suite_server.ops import logs
from suite_server.tenants import lifecycle


@click.group("tenants", cls=AppGroup)
def tenants_group() -> None:
    """Inspect tenants (corps and accounts that authorized an app)."""


@tenants_group.command("list")
@click.option("--app", "app_id", default=None, help="only this app's tenants")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@needs_schema
def tenants_list(app_id: str | None, as_json: bool) -> None:
    """List tenants with status and token expiry."""
    rows = tenants.listing(db.session(), app_id)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table(
        ["APP ID", "TENANT ID", "NAME", "STATUS", "SINCE", "TOKEN EXPIRES", "REASON"],
        [
            [
                r["app_id"],
                r["tenant_id"],
                r["name"],
                r["status"],
                (r["cancelled_at"] if r["status"] == "cancelled" else r["authorized_at"] or "-")[
                    :19
                ],
                (r["token_expires_at"] or "none")[:19],
                (r["status_reason"] or "")[:60],
            ]
            for r in rows
        ],
    )


@tenants_group.command("reconcile")
@click.option("--app", "app_id", default=None, help="only this app")
@needs_schema
def tenants_reconcile(app_id: str | None) -> None:
    """Compare tenants with the platform now (what the daily job does) and print what changed."""
    if app_id:
        find_app(db.session(), app_id)  # one line for an unknown app, not an empty report
    with progress("reconciling tenants") as on_progress:
        results = reconcile.reconcile(app_id, on_progress=on_progress)
    failed = False
    for owner, result in results.items():
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
        app = find_app(session, app_id)
        tenant = lifecycle.find_tenant(session, app, tenant_id)
        if tenant is None:
            raise click.ClickException(f"no tenant {tenant_id!r} of app {app_id!r}")
        secret = webhooks.configure_tenant(session, app, tenant, url=url, off=off)
    click.echo(f"webhook of {app_id}/{tenant_id}: {tenant.webhook_url or 'off'}")
    print_secret(secret)
