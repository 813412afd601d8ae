"""`suite-server webhooks receivers`: an app's receivers besides its webhook URL, each with its
own URL, secret and match patterns (docs/webhooks.md "Several receivers"). A new secret is
printed once."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from suite_server import db
from suite_server.cli.common import find_app, needs_schema, table
from suite_server.dispatch.webhooks import receivers


@click.group("receivers", cls=AppGroup)
def receivers_group() -> None:
    """An app's webhook receivers, by the kinds of messages they get."""


_MATCH_HELP = (
    "a pattern of the kinds it gets (text, event:subscribe, event:*, change_contact, tenant.*, "
    "*); repeat the option for several"
)


@receivers_group.command("add")
@click.argument("app_id")
@click.option("--name", required=True, help="its name in this app (letters, digits, _ . -)")
@click.option("--url", required=True, help="where its messages are POSTed")
@click.option("--match", "patterns", multiple=True, required=True, help=_MATCH_HELP)
@click.option("--sync", is_flag=True, help="ask it inside the platform's request for a reply")
@click.option("--disabled", is_flag=True, help="add it disabled (it gets nothing until enabled)")
@needs_schema
def receivers_add(
    app_id: str, name: str, url: str, patterns: tuple[str, ...], sync: bool, disabled: bool
) -> None:
    """Add a receiver; its signing secret is printed once."""
    with db.transaction() as session:
        app = find_app(session, app_id)
        receiver, secret = receivers.add(
            session, app, name=name, url=url, patterns=patterns, sync=sync, enabled=not disabled
        )
        line = _line(receiver)
    click.echo(f"receiver of {app_id}: {line}")
    _print_secret(secret)


@receivers_group.command("list")
@click.option("--app", "app_id", default=None, help="only this app's receivers")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@needs_schema
def receivers_list(app_id: str | None, as_json: bool) -> None:
    """List receivers (never their secrets)."""
    rows = receivers.listing(db.session(), app_id=app_id)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table(
        ["APP ID", "NAME", "MATCHES", "SYNC", "ENABLED", "URL"],
        [
            [
                r["app_id"],
                r["name"],
                " ".join(r["matches"]),
                "yes" if r["sync"] else "no",
                "yes" if r["enabled"] else "no",
                r["url"],
            ]
            for r in rows
        ],
    )


@receivers_group.command("update")
@click.argument("app_id")
@click.argument("name")
@click.option("--url", default=None, help="a new URL (pending deliveries keep theirs)")
@click.option(
    "--match", "patterns", multiple=True, help="replaces the patterns; repeat for several"
)
@click.option("--enable", is_flag=True, help="send to it again")
@click.option("--disable", is_flag=True, help="stop sending to it")
@click.option("--sync", is_flag=True, help="ask it inside the platform's request for a reply")
@click.option("--no-sync", is_flag=True, help="make it an ordinary receiver")
@click.option("--rotate-secret", is_flag=True, help="replace its signing secret")
@needs_schema
def receivers_update(
    app_id: str,
    name: str,
    url: str | None,
    patterns: tuple[str, ...],
    enable: bool,
    disable: bool,
    sync: bool,
    no_sync: bool,
    rotate_secret: bool,
) -> None:
    """Change a receiver; a new secret is printed once."""
    enabled, sync_ = (
        _either(enable, disable, "--enable", "--disable"),
        _either(sync, no_sync, "--sync", "--no-sync"),
    )
    with db.transaction() as session:
        app = find_app(session, app_id)
        receiver = receivers.find(session, app, name)
        changed, secret = receivers.update(
            session,
            app,
            receiver,
            url=url,
            patterns=patterns or None,
            enabled=enabled,
            sync=sync_,
            rotate=rotate_secret,
        )
        line = _line(receiver)
    what = ", ".join(changed) if changed else "nothing changed"
    click.echo(f"receiver of {app_id}: {line} ({what})")
    _print_secret(secret)


@receivers_group.command("remove")
@click.argument("app_id")
@click.argument("name")
@needs_schema
def receivers_remove(app_id: str, name: str) -> None:
    """Remove a receiver, and its deliveries with it (pending ones are not sent)."""
    with db.transaction() as session:
        app = find_app(session, app_id)
        removed = receivers.remove(session, receivers.find(session, app, name))
    click.echo(f"receiver {name} of {app_id} removed, with its {removed} deliveries")


def _either(yes: bool, no: bool, yes_name: str, no_name: str) -> bool | None:
    if yes and no:
        raise click.ClickException(f"give {yes_name} or {no_name}, not both")
    return True if yes else False if no else None


def _line(receiver) -> str:
    flags = [f for f, on in (("sync", receiver.sync), ("disabled", not receiver.enabled)) if on]
    extra = f" [{', '.join(flags)}]" if flags else ""
    return f"{receiver.name} {receiver.url} matches {receiver.matches}{extra}"


def _print_secret(secret: str | None) -> None:
    if secret:
        click.echo(f"receiver secret: {secret}")
        click.echo("store this secret now: it is not shown again", err=True)
