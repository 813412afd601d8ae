"""Reconciliation against the sandbox: what a missed push or a lost row looks like, and how
`suite-server tenants reconcile` (the daily job) repairs it and writes it into the history."""

from __future__ import annotations

import json

from sqlalchemy import select

from suite_server import db
from suite_server.cli import cli
from suite_server.models import Tenant, TenantHistory
from tests.authorization.conftest import drain, history, miss_pushes, push, tenant_of


def reconcile(runner, *args: str):
    return runner.invoke(cli, ["tenants", "reconcile", *args])


def test_open_missed_unauthorized_is_caught(app, platform, component, runner):
    push(platform, component, "authorized", tenant_id="wxkept")
    push(platform, component, "authorized", tenant_id="wxleft")
    drain(app)
    miss_pushes(platform, component, True)
    lost = platform.control(
        "push", app_id=component.app_id, kind="unauthorized", tenant_id="wxleft"
    )
    assert not lost["delivered"]
    miss_pushes(platform, component, False)
    assert tenant_of(component, "wxleft").status == "active"  # we never heard of it

    result = reconcile(runner, "--app", component.app_id)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{component.app_id}: cancelled 1, recovered 0, added 0"
    left = tenant_of(component, "wxleft")
    assert left.status == "cancelled" and "api_get_authorizer_list" in left.status_reason
    assert history(left)[-1] == ("cancelled", "reconcile")
    assert tenant_of(component, "wxkept").status == "active"
    assert platform.calls()["api_get_authorizer_list"] == 1


def test_open_refresh_token_and_lost_tenant_are_recovered(app, platform, component, runner):
    push(platform, component, "authorized", tenant_id="wxdamaged")
    push(platform, component, "authorized", tenant_id="wxforgotten")
    drain(app)
    forgotten = tenant_of(component, "wxforgotten")
    damaged = tenant_of(component, "wxdamaged")
    live_token = damaged.credential
    damaged.credential = "refreshtoken@@@lost-in-a-bad-deploy"
    db.session().execute(TenantHistory.__table__.delete())
    db.session().delete(forgotten)
    db.session().commit()

    result = reconcile(runner)
    assert result.exit_code == 0, result.output
    assert f"{component.app_id}: cancelled 0, recovered 1, added 1" in result.output
    damaged = tenant_of(component, "wxdamaged")
    assert damaged.credential == live_token
    assert damaged.previous_credential == "refreshtoken@@@lost-in-a-bad-deploy"
    assert history(damaged) == [("credential_recovered", "reconcile")]
    back = tenant_of(component, "wxforgotten")
    assert back.status == "active" and back.credential and back.name
    assert history(back) == [("recovered", "reconcile")]


def test_wecom_missed_cancel_auth_is_caught(app, platform, suite, runner):
    push(platform, suite, "create_auth", tenant_id="wwstays")
    push(platform, suite, "create_auth", tenant_id="wwgoes")
    drain(app)
    miss_pushes(platform, suite, True)
    lost = platform.control("push", app_id=suite.app_id, kind="cancel_auth", tenant_id="wwgoes")
    assert not lost["delivered"]
    miss_pushes(platform, suite, False)

    result = reconcile(runner, "--app", suite.app_id)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{suite.app_id}: cancelled 1, updated 0"
    goes = tenant_of(suite, "wwgoes")
    assert goes.status == "cancelled" and "40084" in goes.status_reason
    assert history(goes)[-1] == ("cancelled", "reconcile")
    assert tenant_of(suite, "wwstays").status == "active"

    # The lifecycle as an operator sees it.
    listed = runner.invoke(cli, ["tenants", "list", "--app", suite.app_id, "--json"])
    rows = {row["tenant_id"]: row for row in json.loads(listed.output)}
    assert rows["wwgoes"]["status"] == "cancelled" and rows["wwgoes"]["cancelled_at"]
    assert rows["wwgoes"]["token_expires_at"] is None
    assert rows["wwstays"]["status"] == "active" and rows["wwstays"]["token_expires_at"]
    table = runner.invoke(cli, ["tenants", "list"]).output.splitlines()
    assert table[0].split() == [
        "APP",
        "ID",
        "TENANT",
        "ID",
        "NAME",
        "STATUS",
        "SINCE",
        "TOKEN",
        "EXPIRES",
        "REASON",
    ]
    assert any("wwgoes" in line and "cancelled" in line and "40084" in line for line in table)


def test_an_app_the_platform_cannot_answer_for_is_reported(app, platform, suite, component, runner):
    platform.control("faults", endpoint="api_get_authorizer_list", errcode=-1)
    result = reconcile(runner)
    assert result.exit_code == 1
    lines = sorted(result.output.splitlines())
    assert lines[0] == f"{suite.app_id}: cancelled 0, updated 0"
    assert lines[1].startswith(f"{component.app_id}: not reconciled: ")
    assert "-1" in lines[1]


def test_unknown_app_is_a_one_line_error(app, runner):
    result = reconcile(runner, "--app", "nope")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no app 'nope'"


def test_reconcile_runs_as_a_job(app, platform, component):
    """The daily schedule enqueues the same task."""
    from suite_server.jobs import runner as job_runner
    from suite_server.jobs import schedule

    [entry] = [e for e in schedule.SCHEDULE if e.task == "tenants.reconcile"]
    assert entry.every == "0 3 * * *"
    push(platform, component, "authorized", tenant_id="wxjob")
    drain(app)
    db.session().execute(
        Tenant.__table__.update().where(Tenant.tenant_id == "wxjob").values(credential=None)
    )
    db.session().commit()
    job_runner.enqueue(entry.task, *entry.args)
    drain(app)
    assert tenant_of(component, "wxjob").credential
    assert db.session().scalar(select(TenantHistory.action).order_by(TenantHistory.id.desc())) == (
        "credential_recovered"
    )
