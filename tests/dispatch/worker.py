"""`suite-server worker` for the webhook tests, run as a separate process (`python -m
tests.dispatch.worker`), configured like the test's app through SUITE_SERVER_* variables. It
counts every attempt of every task in the Redis hash RUNS (task name -> attempts)."""

from __future__ import annotations

from redis import Redis

from suite_server import create_app
from suite_server.jobs import attempts, runner

RUNS = "tests:job_runs"


def main() -> None:
    app = create_app()
    counter = Redis.from_url(app.config["REDIS_URL"])
    perform = attempts.perform

    def counted(flask_app, task, *args, **kwargs):
        counter.hincrby(RUNS, task.name, 1)
        return perform(flask_app, task, *args, **kwargs)

    attempts.perform = counted
    runner.run_worker(app)


if __name__ == "__main__":
    main()
