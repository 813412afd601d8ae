"""`suite-server sandbox`: the offline simulator of both platforms in the foreground. With
--server-url it first reads our apps from our database and registers them with it; the sandbox
itself knows nothing of our database (it imports only crypto and protocol)."""

from __future__ import annotations

import click

from suite_server import apps, create_app, db, schema
from suite_server import sandbox as simulator
from suite_server.demo import mirror, mirror_provider
from suite_server.errors import SettingsError
from suite_server.sandbox.state import App as SandboxApp
from suite_server.sandbox.state import Provider as SandboxProvider


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--ticket-interval",
    default=600,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seconds between ticket pushes to every registered app.",
)
@click.option("--token-ttl", default=7200, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--strict-refresh",
    is_flag=True,
    help="Rotate the Open refresh token on every api_authorizer_token call.",
)
@click.option(
    "--latency",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 60),
    help="Seconds every platform API call waits before answering, as a faraway platform does "
    "(0.08 is a server in mainland China).",
)
@click.option(
    "--latency-jitter",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 60),
    help="Up to this many seconds more, drawn at random for each call.",
)
@click.option(
    "--seed",
    default=None,
    type=int,
    help="Seed the random choices (ticket cadence and repeats, fault rates, MsgIds): "
    "the same seed repeats a run.",
)
@click.option(
    "--server-url",
    default=None,
    metavar="URL",
    help="Register every app and provider account of this server's database (read with the "
    "SUITE_SERVER_ settings), its pushes going to URL (e.g. http://127.0.0.1:8000).",
)
def sandbox_command(
    host: str,
    port: int,
    ticket_interval: int,
    token_ttl: int,
    strict_refresh: bool,
    latency: float,
    latency_jitter: float,
    seed: int | None,
    server_url: str | None,
) -> None:
    """Run the offline simulator of WeCom and the WeChat Open Platform."""
    if server_url and not server_url.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http(s) URL", param_hint="--server-url")
    settings = {
        "ticket_interval": ticket_interval,
        "token_ttl": token_ttl,
        "strict_refresh": strict_refresh,
        "latency": latency,
        "latency_jitter": latency_jitter,
    }
    copies, providers = _server_apps(server_url) if server_url else ([], [])
    simulator.serve(settings, host=host, port=port, seed=seed, apps=copies, providers=providers)


def _server_apps(server_url: str) -> tuple[list[SandboxApp], list[SandboxProvider]]:
    """Our server's apps and provider accounts, read from its database as `suite-server` itself
    would."""
    try:
        server = create_app()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if server.config["ENV"] != "production":
        schema.upgrade(server)  # as every other command does in development
    with server.app_context():
        copies, providers = [], []
        for app in apps.every_app(db.session()):
            if app.is_provider:
                providers.append(mirror_provider(app, server_url))
            else:
                copies.append(mirror(app, server_url))
        db.dispose(server)
    if not copies:
        raise click.ClickException("the server's database has no apps: add one with `apps add`")
    return copies, providers
