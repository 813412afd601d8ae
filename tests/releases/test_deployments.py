"""A template version shipped to 20 mini programs through the sandbox over HTTP: each is
committed, submitted, audited (two rejected, with the platform's reason), and released, by jobs;
a worker that died after the platform released one, before recording it, is found out by the
sweep, which records the release instead of releasing again; no step is done twice. Failed
targets can be retried; bad requests get a 400."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update

from suite_server import db
from suite_server.db import utcnow
from suite_server.jobs import runner as job_runner
from suite_server.models import DeploymentTarget
from suite_server.releases import steps
from tests.admin.conftest import admin_user, client, post, signed_in
from tests.api.conftest import api_key
from tests.authorization.conftest import drain, push

__all__ = ["admin_user", "api_key", "client", "signed_in"]  # the fixtures

ACCOUNTS = [f"wxmp{n:02d}" for n in range(1, 21)]
REJECTED = {"wxmp03", "wxmp11"}
CRASHED = "wxmp07"
REASON = "小程序类目与实际内容不符"
VERSION = "1.4.0"


def api(platform, key: str, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(
        method,
        f"{platform.server}/api/v1{path}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
        **kwargs,
    )


def template(platform, key: str, component) -> str:
    """A draft made on the platform, added to the library through the app proxy."""
    platform.control(
        "templates/drafts", app_id=component.app_id, user_version=VERSION, user_desc="menu"
    )
    base = f"/apps/{component.app_id}/proxy/wxa"
    drafts = api(platform, key, "GET", f"{base}/gettemplatedraftlist").json()["draft_list"]
    added = api(
        platform, key, "POST", f"{base}/addtotemplate", json={"draft_id": drafts[-1]["draft_id"]}
    )
    assert added.json()["errcode"] == 0, added.text
    templates = api(platform, key, "GET", f"{base}/gettemplatelist").json()["template_list"]
    return str(templates[-1]["template_id"])


def mini_programs(app, platform, component, accounts=ACCOUNTS) -> None:
    for appid in accounts:
        push(platform, component, "authorized", tenant_id=appid, account_type="mini_program")
    drain(app)


def settle(app, platform, deployment_id: int, key: str, component, until=None) -> dict:
    """Run jobs, audits and pushes until `until(deployment)` (default: it is not running)."""
    until = until or (lambda body: body["status"] != "running")
    deadline = time.monotonic() + 60
    path = f"/apps/{component.app_id}/deployments/{deployment_id}"
    while True:
        # Looking at the platform's releases decides the audits that are due, and pushes them.
        requests.get(f"{platform.base}/sandbox/releases?app_id={component.app_id}", timeout=10)
        platform.join()
        drain(app)
        body = api(platform, key, "GET", path).json()["deployment"]
        if until(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def all_but(appid: str):
    """Every target but `appid` released or failed."""
    return lambda body: all(
        t["step"] in ("released", "failed") for t in body["targets"] if t["tenant_id"] != appid
    )


def calls(platform, endpoint: str) -> dict[str, int]:
    report = requests.get(f"{platform.base}/sandbox/calls", timeout=10).json()
    return report["by_tenant"].get(endpoint, {})


def test_twenty_accounts_two_rejected_one_crash_and_no_step_twice(
    app, platform, component, api_key, monkeypatch
):
    mini_programs(app, platform, component)
    template_id = template(platform, api_key, component)
    platform.control("settings", audit_quota=30)  # 20 audits, and 2 again after the retry
    platform.control(
        "audits/rules",
        app_id=component.app_id,
        tenant_ids=sorted(REJECTED),
        outcome="fail",
        reason=REASON,
    )
    # A worker dies after the platform released CRASHED, before recording it.
    advance = steps._advance

    def dies_once(target, done, to, outcome):
        if target.tenant_id == CRASHED and done == "release" and not dies_once.died:
            dies_once.died = True
            raise RuntimeError("killed after the platform answered")
        return advance(target, done, to, outcome)

    dies_once.died = False
    monkeypatch.setattr(steps, "_advance", dies_once)

    body = {
        "template_id": template_id,
        "user_version": VERSION,
        "user_desc": "spring menu",
        "ext_json": {"ext": {"theme": "green"}},
        "targets": "all",
    }
    started = api(platform, api_key, "POST", f"/apps/{component.app_id}/deployments", json=body)
    assert started.status_code == 201, started.text
    deployment = started.json()["deployment"]
    assert deployment["progress"] == {"commit": 20}
    moved = settle(app, platform, deployment["id"], api_key, component, all_but(CRASHED))
    assert dies_once.died, moved["progress"]
    crashed = db.session().scalar(
        select(DeploymentTarget).where(DeploymentTarget.tenant_id == CRASHED)
    )
    assert (crashed.step, crashed.uncertain) == ("release", True)  # as the dead worker left it
    assert moved["status"] == "running"

    # Two minutes on, the sweep hands it to a new job, which finds the release done.
    db.session().execute(
        update(DeploymentTarget)
        .where(DeploymentTarget.id == crashed.id)
        .values(claimed_at=utcnow() - steps.LEASE - timedelta(seconds=1))
    )
    db.session().commit()
    assert steps.sweep()["lost"] == 1
    done = settle(app, platform, deployment["id"], api_key, component)
    assert done["status"] == "finished", done["progress"]
    assert done["progress"] == {"released": 18, "failed": 2}
    targets = {t["tenant_id"]: t for t in done["targets"]}
    for appid in REJECTED:
        assert (targets[appid]["failed_step"], targets[appid]["reason"]) == ("submit", REASON)
        assert targets[appid]["audit_status"] == 1
    assert targets[CRASHED]["log"][-1]["outcome"] == "found done"
    for endpoint in ("commit", "submit_audit"):
        assert calls(platform, endpoint) == dict.fromkeys(ACCOUNTS, 1), endpoint
    assert calls(platform, "release") == dict.fromkeys(sorted(set(ACCOUNTS) - REJECTED), 1)

    # The rejected two, fixed on the platform's side, are submitted again and released.
    platform.control(
        "audits/rules", app_id=component.app_id, tenant_ids=sorted(REJECTED), outcome="pass"
    )
    retried = api(
        platform, api_key, "POST", f"/apps/{component.app_id}/deployments/{deployment['id']}/retry"
    )
    assert retried.json()["retried"] == 2
    again = settle(app, platform, deployment["id"], api_key, component)
    assert again["progress"] == {"released": 20}


def test_a_stopped_deployment_starts_no_step_and_the_admin_shows_it(
    app, platform, component, api_key, signed_in
):
    mini_programs(app, platform, component, ACCOUNTS[:3])
    template_id = template(platform, api_key, component)
    platform.control("settings", audit_delay=86400)  # the verdicts come tomorrow
    body = {"template_id": template_id, "user_version": VERSION, "targets": ["wxmp01", "wxmp02"]}
    started = api(platform, api_key, "POST", f"/apps/{component.app_id}/deployments", json=body)
    deployment = started.json()["deployment"]
    waiting = settle(
        app,
        platform,
        deployment["id"],
        api_key,
        component,
        lambda body: body["progress"] == {"auditing": 2},
    )
    assert waiting["progress"] == {"auditing": 2}
    page = f"/admin/apps/{component.app_id}/deployments/{deployment['id']}"
    assert "auditing 2" in signed_in.get(page).get_data(as_text=True)
    post(signed_in, page, f"{page}/stop")
    stopped = api(
        platform, api_key, "GET", f"/apps/{component.app_id}/deployments/{deployment['id']}"
    )
    assert stopped.json()["deployment"]["status"] == "stopped"
    app_page = signed_in.get(f"/admin/apps/{component.app_id}").get_data(as_text=True)
    assert f">{deployment['id']}</a>" in app_page.split('id="deployments"', 1)[1]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"user_version": "1"}, "template_id"),
        ({"template_id": "1", "user_version": "1", "ext_json": "[1]"}, "ext_json"),
        ({"template_id": "1", "user_version": "1", "gray_percentage": 0}, "gray_percentage"),
        ({"template_id": "1", "user_version": "1", "targets": ["wxnobody"]}, "not an active"),
        ({"template_id": "1", "user_version": "1", "colour": "red"}, "unknown field"),
    ],
)
def test_bad_requests_get_a_400(app, platform, component, api_key, body, message):
    mini_programs(app, platform, component, ACCOUNTS[:1])
    response = api(platform, api_key, "POST", f"/apps/{component.app_id}/deployments", json=body)
    assert response.status_code == 400 and message in response.json()["error"]["message"]


def test_a_released_version_is_reverted_to_the_one_before(app, platform, component, api_key):
    mini_programs(app, platform, component, ACCOUNTS[:2])
    template_id = template(platform, api_key, component)
    path = f"/apps/{component.app_id}/deployments"
    for version in ("1.0.0", "1.1.0"):
        # A push is told from a platform retry by its whole text, times included (whole
        # seconds): the second audit's verdict must come in another second than the first's.
        time.sleep(1.05)
        body = {"template_id": template_id, "user_version": version, "targets": "all"}
        started = api(platform, api_key, "POST", path, json=body).json()["deployment"]
        shipped = settle(app, platform, started["id"], api_key, component)
        assert shipped["progress"] == {"released": 2}, version
    reverted = api(platform, api_key, "POST", f"{path}/{started['id']}/revert")
    assert reverted.json()["reverted"] == 2
    back = settle(app, platform, started["id"], api_key, component)
    assert (back["status"], back["progress"]) == ("finished", {"reverted": 2})
    assert calls(platform, "revertcoderelease") == dict.fromkeys(ACCOUNTS[:2], 1)
    releases = requests.get(
        f"{platform.base}/sandbox/releases?app_id={component.app_id}", timeout=10
    ).json()["accounts"]
    assert {a["tenant_id"]: a["online"]["user_version"] for a in releases} == dict.fromkeys(
        ACCOUNTS[:2], "1.0.0"
    )


def test_with_no_audit_left_this_month_a_target_waits_before_submitting(
    app, platform, component, api_key
):
    mini_programs(app, platform, component, ACCOUNTS[:2])
    template_id = template(platform, api_key, component)
    platform.control("settings", audit_quota=1, audit_delay=86400)
    body = {"template_id": template_id, "user_version": VERSION, "targets": "all"}
    started = api(platform, api_key, "POST", f"/apps/{component.app_id}/deployments", json=body)
    deployment = started.json()["deployment"]
    path = f"/apps/{component.app_id}/deployments/{deployment['id']}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # Not drained: the held target's next try is an hour away.
        job_runner.get_runner(app).drain(timeout=0.5)
        waiting = api(platform, api_key, "GET", path).json()["deployment"]
        if waiting["progress"] == {"auditing": 1, "submit": 1}:
            break
    assert waiting["progress"] == {"auditing": 1, "submit": 1}
    [held] = [t for t in waiting["targets"] if t["step"] == "submit"]
    assert held["error"] is None  # waiting, not failed: asked again in an hour
    assert sum(calls(platform, "submit_audit").values()) == 1
    assert calls(platform, "queryquota") == dict.fromkeys(ACCOUNTS[:2], 1)
