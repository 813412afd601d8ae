"""Benchmark: one tenant's webhooks drained in order, with real Redis, RQ workers and a receiver
on loopback, against a baseline measured in the same run.

    python bench/webhook_drain.py [--messages 300] [--workers 2] [--database postgresql|sqlite]
                                  [--redis-url redis://127.0.0.1:6379/14] [--timeout 600]

What runs: a fresh database with one WeCom app and one tenant, the app's webhook pointing at a
receiver on loopback (a threaded HTTP server in this process that answers 200 at once and checks
every signature); --workers `suite-server worker` processes (RQ SimpleWorker with its scheduler,
as deployed), each counting the jobs it runs in Redis; the Redis database given is flushed. Then
--messages messages of that one tenant are stored and scheduled one after the other, as the
dispatch job does (webhooks.schedule), while the workers are suspended (RQ's `rq suspend`); then
they are resumed, and the run waits until every delivery has arrived, for --timeout seconds at
most. So the drain is measured alone, from the resume to the last delivery's arrival, as when a
burst of messages has piled up.

Baseline, in the same run: as many signed POSTs sent one after the other from one thread of this
process to the same receiver (webhooks.post: no queue, no database, no worker). In-order delivery
to one receiver is one request at a time, so this is about the most it could reach.

Prints the drain time and messages/s, the baseline and the ratio, job runs (webhooks.deliver,
and all jobs) and job runs per message, whether the deliveries first arrived in the order of
their messages, duplicates and bad signatures. Target (issue 17 item 11): 300 messages in under
10 s, in order.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.fernet import Fernet
from redis import Redis
from rq.suspension import resume, suspend

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.callbacks import prepare_database  # noqa: E402
from bench.common import ROOT  # noqa: E402
from suite_server import create_app, db, schema  # noqa: E402
from suite_server.apps import register_app  # noqa: E402
from suite_server.dispatch import Message, webhooks  # noqa: E402
from suite_server.jobs import attempts  # noqa: E402
from suite_server.jobs import runner as job_runner  # noqa: E402
from suite_server.models import InboundEvent, Tenant  # noqa: E402

SUITE, CORP = "wwdrainsuite", "wwdraincorp"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
DEAD_URL = "http://127.0.0.1:9"  # no platform is called; if one were, it would fail at once
COUNTER = "bench:webhook_drain:job_runs"  # task name -> attempts run, written by the workers


class Receiver:
    """Answers 200 at once; records (delivery id, arrival time), the event ids the bodies carry
    and whether the signature held."""

    def __init__(self) -> None:
        self.secret = ""
        self.arrivals: list[tuple[int, float]] = []
        self.events: set[str] = set()  # the body's "id" (evt_N) of every delivery
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The answer in one segment: headers and body written separately would wait for
            # the client's delayed ACK (Nagle), 40 ms a request that no real receiver takes.
            wbufsize = -1
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                good = webhooks.verify(receiver.secret, self.headers, None, body)
                try:
                    event = json.loads(body).get("id")
                except (ValueError, AttributeError):
                    event = None
                with receiver.lock:
                    receiver.events.add(event)
                    receiver.arrivals.append(
                        (int(self.headers["X-Suite-Server-Delivery"]), time.perf_counter())
                    )
                    receiver.bad_signatures += not good
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def reset(self) -> None:
        with self.lock:
            self.arrivals, self.events, self.bad_signatures = [], set(), 0

    def distinct(self) -> int:
        with self.lock:
            return len({delivery for delivery, _ in self.arrivals})


def count_jobs_and_work() -> None:
    """--worker: `suite-server worker`, counting every attempt of every task in Redis."""
    app = create_app()
    counter = Redis.from_url(app.config["REDIS_URL"])
    perform = attempts.perform

    def counted(flask_app, task, *args, **kwargs):
        counter.hincrby(COUNTER, task.name, 1)
        return perform(flask_app, task, *args, **kwargs)

    attempts.perform = counted
    job_runner.run_worker(app)


def store_message(session, suite, tenant, n: int) -> Message:
    fields = {
        "ToUserName": CORP,
        "FromUserName": "zhangsan",
        "CreateTime": str(1700000000 + n),
        "MsgType": "text",
        "Content": f"message {n}",
        "MsgId": str(10_000 + n),
        "AgentID": "1",
    }
    payload = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"
    event = InboundEvent(
        app_pk=suite.id,
        tenant_id=CORP,
        channel="data",
        kind="text",
        dedupe_key=uuid.uuid4().hex,
        raw="<xml/>",
        payload=payload,
    )
    session.add(event)
    session.commit()
    return Message.of(event, suite, tenant, fields)


def baseline(receiver: Receiver, count: int) -> float:
    """Seconds for `count` signed POSTs one after the other, straight from this process."""
    body = json.dumps({"id": "evt_0", "kind": "text"}).encode()
    started = time.perf_counter()
    for n in range(count):
        outcome = webhooks.post(receiver.url, body, receiver.secret, n, n + 1)
        if not outcome.ok:
            raise SystemExit(f"baseline: the receiver answered {outcome}")
    return time.perf_counter() - started


def start_workers(count: int, env: dict, workdir: Path) -> list[subprocess.Popen]:
    processes = []
    for n in range(count):
        log = open(workdir / f"worker{n}.log", "w")  # noqa: SIM115 (the process keeps it)
        processes.append(
            subprocess.Popen(
                [sys.executable, "bench/webhook_drain.py", "--worker"],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )
    return processes


def stop_workers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)  # warm shutdown: the job in hand finishes
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # and whatever is left of its group
        process.wait()


def wait(condition, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("SUITE_SERVER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return count_jobs_and_work()

    workdir = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    url, drop = prepare_database(args.database, workdir)
    redis = Redis.from_url(args.redis_url)
    redis.flushdb()
    try:
        measure(args, workdir, url, redis)
    finally:
        redis.flushdb()
        drop()


def measure(args, workdir: Path, url: str, redis: Redis) -> None:
    env = {
        "SUITE_SERVER_INSTANCE_PATH": str(workdir),
        "SUITE_SERVER_DATABASE_URL": url,
        "SUITE_SERVER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SUITE_SERVER_SECRET_KEY": "bench",
        "SUITE_SERVER_REDIS_URL": args.redis_url,
        "SUITE_SERVER_WECOM_API_BASE": DEAD_URL,
        "SUITE_SERVER_WECHAT_API_BASE": DEAD_URL,
    }
    os.environ.update(env)
    app = create_app()
    schema.upgrade(app)
    receiver = Receiver()
    workers: list[subprocess.Popen] = []
    try:
        with app.app_context():
            session = db.session()
            suite = register_app(
                session, platform="wecom", app_id=SUITE, secret="s", token="T", aes_key=AES_KEY
            )
            session.flush()
            receiver.secret = webhooks.configure_app(session, suite, url=receiver.url)
            tenant = Tenant(app_pk=suite.id, tenant_id=CORP, name="Drain", credential="pc")
            session.add(tenant)
            session.commit()

            baseline_seconds = baseline(receiver, args.messages)
            receiver.reset()

            suspend(redis)  # the workers start suspended: nothing runs while messages pile up
            workers = start_workers(args.workers, env, workdir)
            ready = wait(lambda: redis.scard("rq:workers") >= args.workers, 60)
            if not ready:
                raise SystemExit(f"the workers did not start: see {workdir}/worker*.log")
            print(f"workers up; scheduling {args.messages} messages", file=sys.stderr)
            started = time.perf_counter()
            for n in range(args.messages):
                webhooks.schedule(session, store_message(session, suite, tenant, n))
            scheduled = time.perf_counter() - started
            started = time.perf_counter()
            resume(redis)
            done = wait(lambda: receiver.distinct() >= args.messages, args.timeout, 0.02)
            finished = time.perf_counter()
    finally:
        stop_workers(workers)
        receiver.server.shutdown()
    runs = {k.decode(): int(v) for k, v in redis.hgetall(COUNTER).items()}
    db.dispose(app)

    arrivals = receiver.arrivals
    delivered = len({delivery for delivery, _ in arrivals})
    last_new = max((at for _, at in arrivals), default=started)
    first_new = min((at for _, at in arrivals), default=started)
    drain = (last_new if done else finished) - started
    rate = delivered / drain if drain > 0 else 0.0
    base_rate = args.messages / baseline_seconds
    first, seen = [], set()
    for delivery, _ in arrivals:
        if delivery not in seen:
            seen.add(delivery)
            first.append(delivery)
    out_of_order = sum(1 for a, b in zip(first, first[1:], strict=False) if b < a)
    deliver_runs = runs.get("webhooks.deliver", 0)

    print(f"bench/webhook_drain.py  {time.strftime('%Y-%m-%d %H:%M')}  {platform.platform()}")
    print(
        f"database {args.database}, {args.workers} RQ workers, one tenant, {args.messages} "
        f"messages scheduled in {scheduled:.2f} s while they were suspended, then drained; "
        f"a receiver on loopback answering 200 at once"
    )
    if not done:
        print(f"NOT DRAINED: {delivered} of {args.messages} delivered after {args.timeout:g} s")
    # One figure per line, `label: value unit  (target ...)`: bench/run_all.py parses these.
    print(f"messages delivered: {delivered}  (target = {args.messages})")
    print(f"drain time: {drain:.2f} s  (target < 10 s: 300 messages, from the resume)")
    print(f"first delivery after the resume: {first_new - started:.2f} s")  # RQ polls each 1 s
    print(f"messages/s: {rate:.1f}")
    print(f"messages/s baseline (one sender, no queue): {base_rate:.1f}")
    print(f"ratio ours/baseline (messages/s): {rate / base_rate:.2f}")
    print(f"job runs webhooks.deliver: {deliver_runs}")
    print(f"job runs all: {sum(runs.values())}")
    print(f"deliver runs per message: {deliver_runs / args.messages:.2f}  (target <= 2)")
    print(f"out of order: {out_of_order}  (target = 0)")
    print(f"duplicates: {len(arrivals) - delivered}")
    print(f"bad signatures: {receiver.bad_signatures}  (target = 0)")


if __name__ == "__main__":
    main()
