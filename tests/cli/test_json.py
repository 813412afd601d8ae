"""`--json` on every listing: one JSON array of objects with the same keys in every row, on
stdout alone, holding the rows the test made; never a secret, never more of an API key than
its stored prefix."""

from __future__ import annotations

import json
import uuid

import pytest

from suite_server import accounts, db
from suite_server.cli import cli
from suite_server.dispatch.webhooks import receivers
from suite_server.models import InboundEvent, WebhookDelivery
from tests import factories
from tests.cli.conftest import command, environment

LISTINGS = [
    ("apps", "list"),
    ("providers", "list"),
    ("tenants", "list"),
    ("events", "list"),
    ("webhooks", "list"),
    ("webhooks", "receivers", "list"),
    ("apikeys", "list"),
]


def world() -> dict[str, str]:
    """One row for each listing; returns the API key made, which must never be listed."""
    session = db.session()
    suite = factories.wecom_app(session, app_id="wwjsonsuite", name="JSON suite")
    factories.open_app(session, app_id="wxjsoncomp")
    factories.provider(session, corpid="wwjsonprov", name="JSON provider")
    factories.tenant(session, suite, tenant_id="wwjsoncorp", name="JSON corp")
    event = InboundEvent(
        app_pk=suite.id,
        tenant_id="wwjsoncorp",
        channel="data",
        kind="text",
        dedupe_key=uuid.uuid4().hex,
        raw="<xml/>",
        payload="<xml><Content>secret words</Content></xml>",
        status="failed",
        error="handler said no",
    )
    session.add(event)
    session.flush()
    session.add(
        WebhookDelivery(
            event_pk=event.id,
            app_pk=suite.id,
            tenant_id="wwjsoncorp",
            url="http://127.0.0.1:9/hook",
            body='{"secret": "words"}',
            status="failed",
            last_error="HTTP 500",
        )
    )
    _, receiver_secret = receivers.add(
        session,
        suite,
        name="billing",
        url="http://127.0.0.1:9/billing",
        patterns=["event:*"],
        sync=False,
        enabled=True,
    )
    session.commit()
    key = accounts.create_api_key(session, "json-key", app_ids=["wwjsonsuite"])
    session.commit()
    return {"key": key, "receiver_secret": receiver_secret}


def listed(runner, *args: str) -> list[dict]:
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)  # stdout alone: nothing else may be mixed in
    assert isinstance(rows, list) and all(isinstance(row, dict) for row in rows)
    assert len({tuple(sorted(row)) for row in rows}) <= 1, "rows with different keys"
    return rows


def test_each_listing_holds_the_rows_made(app, runner):
    made = world()
    apps = {r["app_id"]: r for r in listed(runner, "apps", "list")}
    assert set(apps) == {"wwjsonsuite", "wxjsoncomp"}
    assert apps["wwjsonsuite"]["name"] == "JSON suite" and apps["wxjsoncomp"]["platform"] == "open"

    [provider] = listed(runner, "providers", "list")
    assert (provider["corpid"], provider["name"]) == ("wwjsonprov", "JSON provider")

    [tenant] = listed(runner, "tenants", "list")
    assert (tenant["app_id"], tenant["tenant_id"], tenant["name"], tenant["status"]) == (
        "wwjsonsuite",
        "wwjsoncorp",
        "JSON corp",
        "active",
    )

    [event] = listed(runner, "events", "list")
    assert (event["app_id"], event["kind"], event["status"], event["error"]) == (
        "wwjsonsuite",
        "text",
        "failed",
        "handler said no",
    )

    [delivery] = listed(runner, "webhooks", "list")
    assert (delivery["app_id"], delivery["status"], delivery["last_error"]) == (
        "wwjsonsuite",
        "failed",
        "HTTP 500",
    )

    [receiver] = listed(runner, "webhooks", "receivers", "list")
    assert (receiver["app_id"], receiver["name"], receiver["matches"]) == (
        "wwjsonsuite",
        "billing",
        ["event:*"],
    )

    [key] = listed(runner, "apikeys", "list")
    assert set(key) == {
        "name",
        "prefix",
        "apps",
        "path_prefixes",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    assert (key["name"], key["apps"], key["path_prefixes"]) == ("json-key", ["wwjsonsuite"], None)
    assert made["key"].startswith(key["prefix"]) and len(key["prefix"]) < len(made["key"])
    assert key["created_at"] and key["last_used_at"] is None and key["revoked_at"] is None

    everything = "".join(runner.invoke(cli, [*args, "--json"]).output for args in LISTINGS)
    for secret in (made["key"], made["receiver_secret"], "secret words", "suite-secret-value"):
        assert secret not in everything


def test_a_revoked_key_is_listed_with_when(app, runner):
    accounts.create_api_key(db.session(), "gone-key")
    db.session().commit()
    assert runner.invoke(cli, ["apikeys", "revoke", "gone-key"]).exit_code == 0
    [key] = listed(runner, "apikeys", "list")
    assert key["name"] == "gone-key" and key["revoked_at"] and key["apps"] is None


@pytest.mark.parametrize("args", LISTINGS, ids=" ".join)
def test_empty_listings_are_an_empty_array(app, runner, args):
    assert listed(runner, *args) == []


def test_the_real_program_prints_only_json_on_stdout(app, tmp_path):
    """As a script sees it: the schema check, logging and warnings stay off stdout. Two of the
    listings (a start of the program costs about two seconds): they share all that runs first."""
    world()
    env = environment(app, tmp_path / "instance")
    for args in [("apikeys", "list"), ("events", "list")]:
        ran = command(env, *args, "--json", terminal=False)
        assert ran.returncode == 0, ran.stderr
        assert json.loads(ran.stdout), args  # one document, not empty: the rows made
