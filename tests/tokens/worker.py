"""Run by the token tests as separate processes (`python -m tests.tokens.worker ...`), configured
like the test's app through SUITE_SERVER_* variables.

`crowd TENANT_PK THREADS GO_FILE`: THREADS threads ask for the tenant's token at the same moment
(once GO_FILE exists) and print the tokens they got, one JSON list.
`crash TENANT_PK`: refresh the tenant's token and be killed (SIGKILL) after the platform
answered, before the answer is committed.
`rq`: `suite-server worker` (an RQ worker) with its clock scaled down (FAST): a worker that stops
beating is dead after 2 s instead of 30, and a refresh lock it held lapses after 2 s.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from suite_server import create_app, db
from suite_server.jobs import recovery
from suite_server.jobs.runner import run_worker
from suite_server.models import Tenant
from suite_server.tokens import locks, service, store

FAST = {"HEARTBEAT_EVERY": 0.2, "RECOVER_EVERY": 0.5, "DEAD_AFTER": 2.0}
FAST_LEASE = 2


def crowd(app, tenant_pk: int, threads: int, go_file: str) -> None:
    tokens: list[str] = []
    errors: list[str] = []
    barrier = threading.Barrier(threads, timeout=60)

    def ask() -> None:
        try:
            with app.app_context():
                tenant = db.session().get(Tenant, tenant_pk)
                db.session().commit()  # give the connection back while waiting
                barrier.wait()
                tokens.append(service.serve_tenant_token(db.session(), tenant).access_token)
        except Exception as exc:
            errors.append(repr(exc))
            barrier.abort()

    workers = [threading.Thread(target=ask) for _ in range(threads)]
    while not Path(go_file).exists():
        time.sleep(0.01)
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        sys.exit("\n".join(errors))
    print(json.dumps(tokens))


def crash(app, tenant_pk: int) -> None:
    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    store._store = killed  # the line after the platform's answer
    with app.app_context():
        tenant = db.session().get(Tenant, tenant_pk)
        service.refresh_tenant_token(db.session(), tenant, stale_token=None)


def rq_worker(app) -> None:
    for name, value in FAST.items():
        setattr(recovery, name, value)
    locks.LEASE = FAST_LEASE
    run_worker(app)


def main() -> None:
    app = create_app()
    command, *rest = sys.argv[1:]
    if command == "rq":
        return rq_worker(app)
    tenant_pk, *rest = rest
    if command == "crowd":
        crowd(app, int(tenant_pk), int(rest[0]), rest[1])
    else:
        crash(app, int(tenant_pk))


if __name__ == "__main__":
    main()
