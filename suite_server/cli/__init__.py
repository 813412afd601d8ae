"""The `suite-server` command group (docs/cli.md): every user error is one line on stderr and a
non-zero exit, never a traceback.

One module per area registers its commands here: `db.py`, `apps.py`, `providers.py`,
`tenants.py`, `events.py` (events and webhook deliveries), `receivers.py` (`webhooks receivers`),
`accounts.py` (admin users, API keys), `keys.py`, `sandbox.py` and `run.py` (serve, worker, cron,
demo); `common.py` holds the schema guard and the tables, `progress.py` the progress bar of the
batch commands and `bulk.py` their `--failed` forms."""

from __future__ import annotations

import sys

import click
from flask.cli import FlaskGroup

from suite_server import create_app
from suite_server.cli import (
    accounts,
    apps,
    db,
    events,
    keys,
    providers,
    receivers,
    run,
    sandbox,
    tenants,
)
from suite_server.cli.common import needs_schema
from suite_server.errors import SettingsError
from suite_server.ops import failures, logs

__all__ = ["cli", "main", "needs_schema"]


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

events.webhooks_group.add_command(receivers.receivers_group)

for command in (
    db.db_group,
    apps.apps_group,
    providers.providers_group,
    tenants.tenants_group,
    events.events_group,
    events.webhooks_group,
    accounts.admin_group,
    accounts.apikeys_group,
    keys.keys_group,
    # The offline platform simulator is its own small app: it needs no settings of ours.
    sandbox.sandbox_command,
    run.serve,
    run.worker,
    run.cron,
    run.demo_command,
):
    cli.add_command(command)


def main() -> None:
    try:
        cli.main(prog_name="suite-server")
    except Exception as exc:
        reason = failures.one_line(exc)  # settings, database, Redis, keys: one line
        if reason is None:
            raise
        click.echo(f"Error: {logs.printable(reason)}", err=True)
        sys.exit(1)
