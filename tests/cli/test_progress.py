"""The progress bar of the batch commands: drawn at a terminal, throttled, finished with the time
taken; absent when stderr is not a terminal. `tenants reconcile` over 1,000 sandbox tenants, the
real program on a pseudo-terminal and on a pipe."""

from __future__ import annotations

import io
import re
import time

import requests

from suite_server import db
from suite_server.authorization import reconcile
from suite_server.cli.progress import Bar, progress
from suite_server.crypto import secrets
from suite_server.db import utcnow
from suite_server.models import Tenant, TenantHistory
from tests import factories
from tests.cli.conftest import command, environment

TENANTS = 1000


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bar_redraws_at_most_ten_times_a_second_and_ends_with_the_time_taken():
    screen, clock = Terminal(), Clock()
    bar = Bar("reconciling tenants", screen, clock=clock)
    for done in range(1, 201):
        clock.now += 0.01  # 100 rows a second, 2 s in all
        bar.update(done, 200)
    bar.finish()
    frames = screen.getvalue().split("\r")[1:]
    assert 18 <= len(frames) <= 23, len(frames)  # ~10 a second, the last one always drawn
    assert frames[0].startswith("reconciling tenants [") and " 1/200 " in frames[0]
    assert re.search(r"\] 10\d/200  5\d% 100\.0/s ETA 1s *$", frames[10]), frames[10]
    assert frames[-1].endswith("\n")
    assert (
        frames[-1].rstrip() == "reconciling tenants [" + "#" * 24 + "] 200/200 100% 100.0/s in 2s"
    )


def test_a_shorter_line_blanks_the_end_of_the_longer_one_before_it():
    screen, clock = Terminal(), Clock()
    bar = Bar("x", screen, clock=clock)
    bar.update(5, None)
    clock.now += 100
    bar.update(6, None)  # "x 6 0.1/s" is shorter than "x 5 5000000000.0/s"
    first, second = screen.getvalue().split("\r")[1:]
    assert len(second) == len(first) and second.rstrip() == "x 6 0.1/s"


def test_nothing_is_written_when_stderr_is_not_a_terminal():
    pipe = io.StringIO()
    with progress("reconciling tenants", pipe) as on_progress:
        for done in range(1, 1001):
            on_progress(done, 1000)
    assert pipe.getvalue() == ""


def test_nothing_to_do_draws_no_bar():
    screen = Terminal()
    with progress("reconciling tenants", screen):
        pass
    assert screen.getvalue() == ""


def seed(platform, suite) -> None:
    """1,000 authorizations in the sandbox and the same tenants in our database, in one insert."""
    made = requests.post(
        f"{platform.base}/sandbox/tenants/bulk",
        json={"app_id": suite.app_id, "count": TENANTS},
        timeout=60,
    )
    assert made.status_code == 201, made.text
    listed = requests.get(
        f"{platform.base}/sandbox/tenants", params={"app_id": suite.app_id}, timeout=60
    ).json()["tenants"]
    assert len(listed) == TENANTS
    session, now = db.session(), utcnow()
    session.add_all(
        Tenant(
            app_pk=suite.id,
            tenant_id=t["tenant_id"],
            name=t["name"],
            credential=t["credential"],
            authorized_at=now,
        )
        for t in listed
    )
    session.commit()


def test_reconcile_shows_its_progress_on_a_terminal_and_nothing_on_a_pipe(
    app, platform, suite, tmp_path
):
    seed(platform, suite)
    env = environment(app, tmp_path / "instance")

    started = time.monotonic()
    ran = command(env, "tenants", "reconcile", "--app", suite.app_id, terminal=True)
    on_terminal = time.monotonic() - started
    assert ran.returncode == 0, ran.stdout + ran.stderr
    # Every tenant had auth_info to learn: our rows were made without it.
    assert ran.stdout == f"{suite.app_id}: cancelled 0, updated {TENANTS}\n"
    counts = [int(n) for n in re.findall(rf"\] (\d+)/{TENANTS} ", ran.stderr)]
    assert len(set(counts)) >= 3, ran.stderr  # it moved while the command ran
    assert counts == sorted(counts) and counts[-1] == TENANTS
    last = ran.stderr.split("\r")[-2:]  # the final frame, then the pty's "\r\n"
    assert re.fullmatch(
        rf"reconciling tenants \[#+\] {TENANTS}/{TENANTS} 100% \S+/s in \d+s *", last[0]
    )
    assert last[1] == "\n"
    assert db.session().query(TenantHistory).count() == TENANTS

    started = time.monotonic()
    ran = command(env, "tenants", "reconcile", "--app", suite.app_id, terminal=False)
    on_pipe = time.monotonic() - started
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout == f"{suite.app_id}: cancelled 0, updated 0\n"  # looked at, unchanged
    assert "\r" not in ran.stderr and f"/{TENANTS}" not in ran.stderr
    assert platform.calls()["get_auth_info"] == 2 * TENANTS
    print(f"reconcile of {TENANTS} tenants: {on_terminal:.1f} s on a pty, {on_pipe:.1f} s piped")


def test_reconcile_counts_the_tenants_of_an_app_it_could_not_reconcile(
    app, platform, suite, component
):
    """The bar ends at total/total even when an app's tenants were skipped with it."""
    for number in range(3):
        factories.tenant(db.session(), suite, tenant_id=f"wwgone{number}")
    for number in range(2):
        factories.tenant(db.session(), component, tenant_id=f"wxkept{number}")
    platform.control("faults", endpoint="api_get_authorizer_list", errcode=-1)
    calls = []
    results = reconcile.reconcile(on_progress=lambda done, total: calls.append((done, total)))
    assert results[suite.app_id] == {"cancelled": 3, "updated": 0}  # codes the platform never made
    assert isinstance(results[component.app_id], str)
    assert calls == [(1, 5), (2, 5), (3, 5), (5, 5)]


def test_key_rotation_reports_its_progress_by_batch(app):
    for _ in range(3):
        factories.wecom_app(db.session())
    calls = []
    written = secrets.rotate(db.session(), batch_size=2, on_progress=lambda *c: calls.append(c))
    assert written >= 3 and calls[-1] == (written, written)
    assert [done for done, _ in calls] == sorted({done for done, _ in calls})
