"""What the token benchmarks share (bench/token_refresh.py, bench/refresh.py, bench/soak.py): the
sandbox's token calls recorded, bench tenants added to the sandbox and to our database, our token
rows read, threads reading the token API as a service would, our processes started and stopped,
and their logs summed up."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
import sqlalchemy as sa
from flask import g, request

from bench.common import ROOT
from suite_server import db
from suite_server.accounts import create_api_key
from suite_server.apps import register_app
from suite_server.db import utcnow
from suite_server.models import App, Tenant, TenantToken
from suite_server.sandbox import SandboxServer
from suite_server.tokens.service import LAST_SECONDS

SUITE, SECRET, TOKEN = "wwbenchrefresh", "bench-secret", "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
PREFIX = "wwbench"
BULK_MAX = 10_000  # the sandbox's limit per POST /sandbox/tenants/bulk
POLL = 2.0  # seconds between database polls
PROGRESS = 30.0  # seconds between progress lines on stderr
DUPLICATE_WITHIN = 5.0  # two calls for one tenant this close together: a double refresh


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- what the sandbox saw ----------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    at: float  # sandbox clock (epoch seconds)
    tenant: str
    by_api: bool  # made by the token API (a read found no usable token), not by a worker
    left: float | None  # seconds the platform's current token had left (< 0: expired); None: none
    new: bool  # the answer carried a token other than the current one
    errcode: int | None  # of a failed call


@dataclass(frozen=True)
class Watched:
    """A tenant-token endpoint of the sandbox: the kind of token it hands out, the app whose
    tenants it serves, the body field naming the tenant and the answer's field with the token."""

    kind: str
    app_id: str
    tenant_field: str
    token_field: str


def corp_tokens(suite: str) -> dict[str, Watched]:
    """WeCom's get_corp_token for `suite`'s tenants (the same token while it is valid)."""
    return {"get_corp_token": Watched("corp", suite, "auth_corpid", "access_token")}


def authorizer_tokens(component: str) -> dict[str, Watched]:
    """The Open Platform's api_authorizer_token for `component` (a new token on every call)."""
    return {
        "api_authorizer_token": Watched(
            "authorizer", component, "authorizer_appid", "authorizer_access_token"
        )
    }


class CallRecorder:
    """Hooks on the sandbox's Flask app: for every call to a watched endpoint (by default
    get_corp_token of this bench's suite), the tenant's token as the platform held it before the
    call and what the call answered. The web process reaches the sandbox as `localhost`, the
    workers as 127.0.0.1: the Host header tells who called."""

    def __init__(self, server: SandboxServer, watched: dict[str, Watched] | None = None) -> None:
        self.state = server.state
        self.watched = watched or corp_tokens(SUITE)
        self.calls: list[Call] = []  # appended from the sandbox's request threads
        server.app.before_request(self._before)
        server.app.after_request(self._after)

    def _before(self) -> None:
        watched = self.watched.get((request.endpoint or "").rsplit(".", 1)[-1])
        if watched is None:
            return
        body = request.get_json(silent=True, force=True) or {}
        tenant = body.get(watched.tenant_field) if isinstance(body, dict) else None
        with self.state.lock:
            now = self.state.now()
            token = self.state.tokens.current(watched.kind, watched.app_id, tenant)
            alive = token is not None and not token.revoked
            g.bench_call = (
                watched,
                now,
                tenant,
                request.host.startswith("localhost"),
                token.value if alive else None,
                token.expires_at - now if alive else None,
            )

    def _after(self, response):
        if "bench_call" in g:
            watched, at, tenant, by_api, before, left = g.bench_call
            answer = response.get_json(silent=True) or {}
            value = answer.get(watched.token_field)
            new = bool(value) and value != before
            errcode = None if value else answer.get("errcode", response.status_code)
            self.calls.append(Call(at, tenant, by_api, left, new, errcode))
        return response

    def between(self, start: float, end: float) -> list[Call]:
        return [c for c in list(self.calls) if start <= c.at < end]


# -- readers: served tokens, used at once ------------------------------------------------------


@dataclass
class Reads:
    served: int = 0
    refused: Counter = field(default_factory=Counter)  # platform errcode -> count
    api_errors: Counter = field(default_factory=Counter)  # "503 refresh_in_progress" -> count
    expires_in: list[int] = field(default_factory=list)  # what our API said was left
    platform_left: list[float] = field(default_factory=list)  # what the platform had left
    latencies: list[float] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)


def read_tokens(stop, api, key, sandbox, state, tenants, pause, reads: Reads, lock) -> None:
    http = requests.Session()
    headers = {"Authorization": f"Bearer {key}"}
    message = {"touser": "@all", "msgtype": "text", "agentid": 1, "text": {"content": "bench"}}
    while not stop.is_set():
        tenant = random.choice(tenants)
        started = time.perf_counter()
        try:
            answer = http.get(
                f"{api}/api/v1/apps/{SUITE}/tenants/{tenant}/access-token",
                headers=headers,
                timeout=30,
            )
            latency = time.perf_counter() - started
            if answer.status_code != 200:
                code = (answer.json() or {}).get("error", {})
                code = code.get("code") if isinstance(code, dict) else code
                with lock:
                    reads.api_errors[f"{answer.status_code} {code}"] += 1
                stop.wait(pause)
                continue
            body = answer.json()
            token = body["access_token"]
            used = http.post(
                f"{sandbox}/cgi-bin/message/send",
                params={"access_token": token},
                json=message,
                timeout=30,
            ).json()
        except (requests.RequestException, ValueError) as exc:
            with lock:
                reads.api_errors[type(exc).__name__] += 1
            stop.wait(pause)
            continue
        with state.lock:
            owner = state.tokens.owner_of(token)
            left = owner.expires_at - state.now() if owner is not None else None
        errcode = used.get("errcode", 0)
        with lock:
            reads.served += 1
            reads.latencies.append(latency)
            reads.expires_in.append(body["expires_in"])
            if left is not None:
                reads.platform_left.append(left)
            if errcode:
                reads.refused[errcode] += 1
                if len(reads.examples) < 5:
                    reads.examples.append(
                        f"{tenant}: errcode {errcode}, served with expires_in "
                        f"{body['expires_in']}, platform left {left}"
                    )
        stop.wait(pause)


# -- our side ----------------------------------------------------------------------------------


def token_rows(app, prefix: str = "") -> list[tuple]:
    """The active tenants' token rows (those whose id starts with `prefix`)."""
    with app.app_context():
        session = db.session()
        rows = session.execute(
            sa.select(
                TenantToken.access_token.isnot(None),
                TenantToken.obtained_at,
                TenantToken.expires_at,
                TenantToken.last_error.isnot(None),
            )
            .join(Tenant, Tenant.id == TenantToken.tenant_pk)
            .where(Tenant.status == "active", Tenant.tenant_id.startswith(prefix))
        ).all()
        session.rollback()
        return rows


def unusable_count(rows) -> int:
    """Tenants whose token our server would not serve now: a WeCom token is served down to its
    last LAST_SECONDS (tokens/policy.py), whatever TOKEN_MIN_REMAINING says."""
    now = utcnow()
    missing = 0
    for has_token, _obtained_at, expires_at, _error in rows:
        if not has_token or expires_at is None:
            missing += 1
            continue
        missing += (expires_at - now).total_seconds() < LAST_SECONDS
    return missing


def seed(app, tenants: list[dict]) -> str:
    """The suite, the tenants with their sandbox credentials and empty token rows; an API key."""
    key = seed_app(app)
    with app.app_context():
        session = db.session()
        add_tenants(session, session.scalar(sa.select(App).where(App.app_id == SUITE)), tenants)
        session.commit()
    return key


def seed_app(app) -> str:
    """The suite in our database; an API key."""
    with app.app_context():
        session = db.session()
        register_app(
            session, platform="wecom", app_id=SUITE, secret=SECRET, token=TOKEN, aes_key=AES_KEY
        )
        key = create_api_key(session, "bench-refresh")
        session.commit()
    return key


def add_tenants(session, app_row, tenants: list[dict]) -> None:
    """The sandbox's tenants (as /sandbox/tenants lists them: tenant_id, name, credential) as our
    rows of `app_row`, with empty token rows as `store_first_token(session, tenant, None)` leaves
    them: rows the sweep fills. The caller commits."""
    now = utcnow()
    rows = [
        Tenant(
            app_pk=app_row.id,
            tenant_id=t["tenant_id"],
            name=t["name"],
            credential=t["credential"],
            authorized_at=now,
        )
        for t in tenants
    ]
    session.add_all(rows)
    session.flush()
    session.add_all(TenantToken(tenant_pk=row.id, version=0) for row in rows)


def start(name: str, command: list[str], env: dict, workdir: Path) -> subprocess.Popen:
    with open(workdir / f"{name}.log", "w") as log:  # the child keeps its own copy
        return subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )


def stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_summary(workdir: Path, names: list[str]) -> tuple[Counter, Counter, list[str]]:
    """(lines by level, warning/error messages by their first words, a few examples)."""
    levels: Counter = Counter()
    messages: Counter = Counter()
    examples: list[str] = []
    for name in names:
        for line in (workdir / f"{name}.log").read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                levels["(not json)"] += 1
                if "Traceback" in line or "Error" in line:
                    messages[f"{name}: {line.strip()[:80]}"] += 1
                continue
            level = entry.get("level", "?")
            levels[level] += 1
            if level in ("WARNING", "ERROR", "CRITICAL"):
                text = entry.get("message", "")
                # "tenant wwbench000042: token not refreshed: ..." -> one key for all tenants
                words = " ".join(w for w in text.split()[:8] if not w.startswith(PREFIX))
                messages[f"{name} {level}: {words}"] += 1
                if len(examples) < 8:
                    examples.append(f"{name}: {line[:300]}")
    return levels, messages, examples


def percentiles(values: list[float], points=(0.0, 0.05, 0.5, 0.95, 1.0)) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    picks = [ordered[min(len(ordered) - 1, int(len(ordered) * p))] for p in points]
    names = {0.0: "min", 1.0: "max"}
    labels = [names.get(p, f"p{int(p * 100)}") for p in points]
    return "  ".join(f"{label} {v:.1f}" for label, v in zip(labels, picks, strict=True))
