"""The moving parts of bench/soak.py: our processes (killed and restarted), the platform's pushes
and the token readers. The run itself, its checks and its figures are in bench/soak.py."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.common import ROOT, free_port, gunicorn
from bench.token_common import Reads, stop_all

KINDS = ("web", "worker", "cron")
# The platform's answers that say a token is no good: 42001 expired, 40014 invalid, 40001 (Open)
# superseded longer than its grace period ago.
DEAD_TOKEN = (42001, 40014, 40001)


# -- our processes -------------------------------------------------------------------------------


class Fleet:
    """`webs` gunicorns (1 gthread worker each) sharing one port through SO_REUSEPORT, as web
    servers behind a load balancer: one killed, the others go on answering; `workers` `suite-server
    worker` and `crons` `suite-server cron`. Each runs in its own process group: a kill is a
    SIGKILL to the whole group (a gunicorn's master and its worker together), then the same slot
    is started again. Output goes to <workdir>/<slot>.log, appended across restarts; the kills
    are listed in <workdir>/kills.log."""

    def __init__(
        self, env: dict, web_env: dict, workdir: Path, webs: int, workers: int, crons: int
    ) -> None:
        self.env, self.web_env, self.workdir = env, web_env, workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.slots: dict[str, subprocess.Popen | None] = {}
        for kind, count in (("web", webs), ("worker", workers), ("cron", crons)):
            self.slots.update({f"{kind}{n}": None for n in range(1, count + 1)})
        self.kills: Counter = Counter()  # by kind
        self.crashes: Counter = Counter()  # slots found dead that we had not killed
        self.lock = threading.Lock()

    def start_all(self) -> None:
        for slot in self.slots:
            self.start(slot)

    def start(self, slot: str) -> None:
        kind = slot.rstrip("0123456789")
        with open(self.workdir / f"{slot}.log", "a") as log:  # the child keeps its own copy
            if kind == "web":
                process, _ = gunicorn(
                    "wsgi:app", self.web_env, 1, log, port=self.port, reuse_port=True
                )
            else:
                command = os.path.join(os.path.dirname(sys.executable), "suite-server")
                process = subprocess.Popen(
                    [command, kind],
                    cwd=ROOT,
                    env={**os.environ, **self.env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        self.slots[slot] = process

    def kill_one(self, rng: random.Random) -> str:
        """SIGKILL one process of a random kind (a random one of that kind), start it again;
        returns the slot."""
        kind = rng.choice(KINDS)
        slot = rng.choice([s for s in self.slots if s.startswith(kind)])
        with self.lock:
            self._kill(self.slots[slot])
            self.kills[kind] += 1
            with open(self.workdir / "kills.log", "a") as log:  # to read beside the others
                log.write(f"{time.strftime('%H:%M:%S')} {slot}\n")
            self.start(slot)
        return slot

    def restart_dead(self) -> list[str]:
        """Start again any slot whose process exited by itself (counted as a crash)."""
        dead = []
        with self.lock:
            for slot, process in self.slots.items():
                if process is not None and process.poll() is not None:
                    self.crashes[slot] += 1
                    dead.append(slot)
                    self._kill(process)
                    self.start(slot)
        return dead

    def stop(self) -> None:
        processes = [p for p in self.slots.values() if p is not None]
        stop_all(processes)  # SIGTERM: warm shutdowns
        for process in processes:
            self._kill(process)  # and whatever is left of its group

    @staticmethod
    def _kill(process: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# -- the platform's pushes -----------------------------------------------------------------------


@dataclass(frozen=True)
class Pushed:
    """One push as the sandbox reports it: what it sent and whether our server answered it."""

    app_id: str
    kind: str  # ticket | authorization | message
    tenant_id: str | None
    delivered: bool
    attempts: int
    payload: str
    error: str | None


@dataclass
class Pushes:
    done: list[Pushed] = field(default_factory=list)
    control_errors: Counter = field(default_factory=Counter)  # the control API itself failed
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class Platform:
    """One app at the sandbox: its id, platform, install push kind and the tenants pushed to."""

    app_id: str
    platform: str  # wecom | open
    tenants: tuple[str, ...]

    @property
    def install_kind(self) -> str:
        return "create_auth" if self.platform == "wecom" else "authorized"


def push_loop(
    stop: threading.Event,
    sandbox: str,
    apps: list[Platform],
    interval: float,
    shares: tuple[float, float],
    pushes: Pushes,
    seed: int,
) -> None:
    """Every `interval` seconds one push through the sandbox, which delivers it as the platform
    does (retrying it `push_attempts` times) and answers what our server made of it: a ticket
    (share shares[0]), a new authorization (shares[1]) or else a tenant's text message."""
    rng = random.Random(seed)
    http = requests.Session()
    number = 0
    while not stop.is_set():
        started = time.monotonic()
        app = rng.choice(apps)
        draw = rng.random()
        if draw < shares[0]:
            kind, body = "ticket", {"app_id": app.app_id, "kind": "ticket"}
        elif draw < shares[0] + shares[1]:
            kind, body = "authorization", {"app_id": app.app_id, "kind": app.install_kind}
        else:
            number += 1
            tenant = rng.choice(app.tenants)
            content = f"soak {seed}-{number}"
            kind = "message"
            body = {"app_id": app.app_id, "kind": "text", "tenant_id": tenant, "content": content}
        try:
            answer = http.post(f"{sandbox}/sandbox/push", json=body, timeout=60).json()
        except (requests.RequestException, ValueError) as exc:
            with pushes.lock:
                pushes.control_errors[type(exc).__name__] += 1
        else:
            pushed = Pushed(
                app.app_id,
                kind,
                answer.get("tenant_id"),
                bool(answer.get("delivered")),
                int(answer.get("attempts") or 0),
                answer.get("payload") or "",
                answer.get("error"),
            )
            with pushes.lock:
                pushes.done.append(pushed)
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


# -- token readers -------------------------------------------------------------------------------


def read_loop(
    stop: threading.Event,
    api: str,
    key: str,
    sandbox: str,
    tenants: list[tuple[str, str, str]],
    pause: float,
    reads: Reads,
    lock: threading.Lock,
    seed: int,
) -> None:
    """Ask our token API for a random (platform, app id, tenant id)'s token and use it at once
    against the sandbox (WeCom message/send, Open custom/send), as a tenant's code would."""
    rng = random.Random(seed)
    http = requests.Session()
    headers = {"Authorization": f"Bearer {key}"}
    while not stop.is_set():
        platform, app_id, tenant = rng.choice(tenants)
        started = time.perf_counter()
        try:
            answer = http.get(
                f"{api}/api/v1/apps/{app_id}/tenants/{tenant}/access-token",
                headers=headers,
                timeout=30,
            )
            latency = time.perf_counter() - started
            if answer.status_code != 200:
                with lock:
                    reads.api_errors[f"{answer.status_code} {error_code(answer)}"] += 1
                stop.wait(pause)
                continue
            body = answer.json()
            errcode = use_token(http, sandbox, platform, body["access_token"])
        except (requests.RequestException, ValueError, KeyError) as exc:
            with lock:
                reads.api_errors[type(exc).__name__] += 1
            stop.wait(pause)
            continue
        with lock:
            reads.served += 1
            reads.latencies.append(latency)
            reads.expires_in.append(body["expires_in"])
            if errcode:
                reads.refused[errcode] += 1
                if len(reads.examples) < 5:
                    reads.examples.append(
                        f"{app_id}/{tenant}: errcode {errcode}, served with expires_in "
                        f"{body['expires_in']}"
                    )
        stop.wait(pause)


def use_token(http: requests.Session, sandbox: str, platform: str, token: str) -> int:
    """The platform's errcode for a message sent with `token` (0: accepted)."""
    if platform == "wecom":
        path = "/cgi-bin/message/send"
        message = {"touser": "@all", "msgtype": "text", "agentid": 1, "text": {"content": "soak"}}
    else:
        path = "/cgi-bin/message/custom/send"
        message = {"touser": "o_soak_reader", "msgtype": "text", "text": {"content": "soak"}}
    answer = http.post(
        f"{sandbox}{path}", params={"access_token": token}, json=message, timeout=30
    ).json()
    return int(answer.get("errcode", 0))


def error_code(answer: requests.Response) -> str:
    try:
        found = (answer.json() or {}).get("error", {})
    except ValueError:
        return ""
    return str(found.get("code") if isinstance(found, dict) else found)
