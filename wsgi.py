"""WSGI entry for gunicorn: `gunicorn wsgi:app`.

With SUITE_SERVER_REDIS_URL set, background jobs go to RQ (`suite-server worker`, `suite-server
cron`). Without it, each process runs its jobs and the periodic schedule on its own threads: fine
for one process; with several, every process sweeps (the token locks keep refreshes single).
In production the process refuses to start on a database that `suite-server db upgrade` has not
brought up to date.
"""

from suite_server import create_app, logs, schema
from suite_server.jobs import runner, schedule

app = create_app()
logs.configure(app)
if app.config["ENV"] != "production":
    schema.upgrade(app)  # as the CLI does in development: a fresh checkout just works
elif not schema.is_current(app):
    # Like every CLI command in production: never serve on an old schema (pushes would get 500s).
    raise SystemExit("suite-server: database is not up to date: run `suite-server db upgrade`")
if isinstance(runner.get_runner(app), runner.InProcessRunner):
    schedule.start_in_process_schedule(app)
