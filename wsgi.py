"""WSGI entry for gunicorn: `gunicorn wsgi:app`.

With SUITE_SERVER_REDIS_URL set, background jobs go to RQ (`suite-server worker`, `suite-server
cron`). Without it, each process runs its jobs and the periodic schedule on its own threads: fine
for one process; with several, every process sweeps (the token locks keep refreshes single).
"""

from suite_server import create_app, logs
from suite_server.jobs import runner, schedule

app = create_app()
logs.configure(app)
if isinstance(runner.get_runner(app), runner.InProcessRunner):
    schedule.start_in_process_schedule(app)
