"""WSGI entry for gunicorn: `gunicorn wsgi:app`.

With SUITE_SERVER_REDIS_URL set, background jobs go to RQ (`suite-server worker`, `suite-server
cron`). Without it, each process runs its jobs and the periodic schedule on its own threads: fine
for one process; with several, every process sweeps (the token locks keep refreshes single).
In production the process refuses to start on a database that `suite-server db upgrade` has not
brought up to date.

A process that cannot start says why in one line on stderr, as every CLI command does, and exits
with 4: gunicorn's "App failed to load", on which its master stops. On any other exit code it
would boot a new worker that fails the same way, again and again.
"""

import sys
from typing import NoReturn

from suite_server import create_app, schema
from suite_server.jobs import runner, schedule
from suite_server.ops import logs
from suite_server.ops.failures import one_line

APP_LOAD_ERROR = 4


def _refuse(reason: str) -> NoReturn:
    print(f"suite-server: {logs.printable(reason)}", file=sys.stderr, flush=True)
    raise SystemExit(APP_LOAD_ERROR)


try:
    app = create_app()
    logs.configure(app)
    if app.config["ENV"] != "production":
        schema.upgrade(app)  # as the CLI does in development: a fresh checkout just works
    elif not schema.is_current(app):
        # Like every CLI command in production: never serve on an old schema (pushes would 500).
        _refuse("database is not up to date: run `suite-server db upgrade`")
except Exception as exc:
    reason = one_line(exc)  # settings, an unreachable database: the operator's to fix
    if reason is None:
        raise
    _refuse(reason)
if isinstance(runner.get_runner(app), runner.InProcessRunner):
    schedule.start_in_process_schedule(app)
