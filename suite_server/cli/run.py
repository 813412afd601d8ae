"""The processes: `suite-server serve`, `worker`, `cron`, and `demo` (all of it in one go)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from redis.exceptions import RedisError
from werkzeug.serving import run_simple

from suite_server import demo
from suite_server.cli.common import needs_schema
from suite_server.errors import SettingsError
from suite_server.jobs import runner as job_runner
from suite_server.jobs import schedule
from suite_server.ops import logs, metrics


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@with_appcontext
@needs_schema
def serve(host: str, port: int) -> None:
    """Serve the web app with the development server (use gunicorn wsgi:app in production)."""
    app = current_app._get_current_object()
    logs.configure(app)
    if isinstance(job_runner.get_runner(app), job_runner.InProcessRunner):
        schedule.start_in_process_schedule(app)  # no cron process without Redis
    # Flask's app.run() refuses to run under its own CLI; werkzeug's server is what it wraps.
    run_simple(host, port, app, threaded=True)


@click.command("worker")
@click.option("--burst", is_flag=True, help="stop when the queues are empty")
@with_appcontext
@needs_schema
def worker(burst: bool) -> None:
    """Run an RQ worker for the queues (with its scheduler); needs SUITE_SERVER_REDIS_URL."""
    logs.configure(current_app._get_current_object())
    metrics.forget_live_gauges_at_exit()
    try:
        job_runner.run_worker(current_app._get_current_object(), burst=burst)
    except (job_runner.NoRedisConfigured, RedisError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None


@click.command("cron")
@with_appcontext
@needs_schema
def cron() -> None:
    """Enqueue the periodic jobs on time (any number may run); needs SUITE_SERVER_REDIS_URL."""
    logs.configure(current_app._get_current_object())
    metrics.forget_live_gauges_at_exit()
    try:
        schedule.run_cron(current_app._get_current_object())
    except (job_runner.NoRedisConfigured, RedisError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--sandbox-port", default=8001, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--ticket-interval",
    default=60,
    show_default=True,
    type=click.IntRange(min=1),
    help="seconds between the sandbox's ticket pushes (the platforms: 600)",
)
def demo_command(host: str, port: int, sandbox_port: int, ticket_interval: int) -> None:
    """Sandbox + server + jobs in one go: demo apps and an admin created, URLs printed."""
    try:
        demo.run(host, port, sandbox_port, ticket_interval)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
