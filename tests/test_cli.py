"""The suite-server CLI: registering apps, accounts and keys; one-line errors, never a traceback."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import select

from suite_server import db
from suite_server.cli import cli
from suite_server.models import AdminUser, ApiKey, App, InboundEvent
from tests import factories

AES_KEY = factories.AES_KEY
WECOM = ["apps", "add", "wecom", "--suite-id", "wwsuite", "--secret", "s3cret", "--token", "tok"]


def run(runner, *args):
    return runner.invoke(cli, list(args))


def test_register_both_platforms_and_list_them(runner):
    result = run(runner, *WECOM, "--aes-key", AES_KEY, "--provider-corpid", "wwprov")
    assert result.exit_code == 0, result.output
    result = run(
        runner,
        "apps",
        "add",
        "open",
        "--appid",
        "wxcomp",
        "--secret",
        "s",
        "--token",
        "t",
        "--aes-key",
        AES_KEY,
        "--name",
        "Component",
        "--test-mode",
    )
    assert result.exit_code == 0, result.output

    listed = json.loads(run(runner, "apps", "list", "--json").output)
    assert [(a["app_id"], a["platform"], a["name"]) for a in listed] == [
        ("wwsuite", "wecom", "wwsuite"),
        ("wxcomp", "open", "Component"),
    ]
    assert listed[1]["test_mode"] is True
    assert listed[0]["ticket_age"] is None and listed[0]["token_expires_at"] is None
    table = run(runner, "apps", "list").output
    assert "wwsuite" in table and "wxcomp" in table and "s3cret" not in table

    stored = db.session().scalar(select(App).where(App.app_id == "wwsuite"))
    assert (stored.secret, stored.token, stored.aes_key) == ("s3cret", "tok", AES_KEY)
    assert stored.provider_corpid == "wwprov"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (WECOM + ["--aes-key", AES_KEY[:-1]], "EncodingAESKey must be 43 base64 characters"),
        (WECOM + ["--aes-key", AES_KEY + "A"], "EncodingAESKey must be 43 base64 characters"),
        (WECOM + ["--aes-key", "!" * 43], "EncodingAESKey must be 43 base64 characters"),
        (
            [
                "apps",
                "add",
                "wecom",
                "--suite-id",
                "",
                "--secret",
                "s",
                "--token",
                "t",
                "--aes-key",
                AES_KEY,
            ],
            "suite id must be 1 to 64",
        ),
        (
            [
                "apps",
                "add",
                "open",
                "--appid",
                "wx/../x",
                "--secret",
                "s",
                "--token",
                "t",
                "--aes-key",
                AES_KEY,
            ],
            "component appid must be 1 to 64",
        ),
        (
            [
                "apps",
                "add",
                "open",
                "--appid",
                "wxc",
                "--secret",
                " ",
                "--token",
                "t",
                "--aes-key",
                AES_KEY,
            ],
            "secret must not be empty",
        ),
        (WECOM[:-1] + ["bad token!", "--aes-key", AES_KEY], "token must be 1 to 32"),
    ],
)
def test_bad_input_is_refused_with_one_line_and_nothing_written(runner, args, message):
    result = run(runner, *args)
    assert result.exit_code != 0
    assert result.output.strip() == f"Error: {message}" or message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert db.session().scalar(select(App.id)) is None


def test_duplicate_app_is_refused(runner):
    assert run(runner, *WECOM, "--aes-key", AES_KEY).exit_code == 0
    result = run(runner, *WECOM, "--aes-key", AES_KEY)
    assert result.exit_code == 1
    assert result.output.strip() == "Error: an app with id wwsuite already exists"


def test_admin_create(runner):
    result = run(runner, "admin", "create", "alice", "--password", "correct horse battery")
    assert result.exit_code == 0, result.output
    user = db.session().scalar(select(AdminUser))
    assert user.username == "alice"
    assert "correct horse" not in user.password_hash
    assert user.check_password("correct horse battery")
    assert not user.check_password("wrong")
    assert run(runner, "admin", "create", "alice", "--password", "another long one").exit_code == 1
    short = run(runner, "admin", "create", "bob", "--password", "short")
    assert short.output.strip() == "Error: password must have at least 10 characters"


def test_admin_create_prompts_for_the_password(runner):
    result = runner.invoke(cli, ["admin", "create", "carol"], input="a long password\n" * 2)
    assert result.exit_code == 0, result.output
    assert db.session().scalar(select(AdminUser)).check_password("a long password")


def test_api_key_is_printed_once_and_stored_hashed_then_revoked(runner):
    result = run(runner, "apikeys", "create", "billing")
    assert result.exit_code == 0
    key = result.stdout.strip()
    assert key.startswith("ssk_") and len(key) > 40
    row = db.session().scalar(select(ApiKey))
    assert row.key_hash == ApiKey.hash(key) and key not in (row.key_hash, row.prefix)
    assert run(runner, "apikeys", "create", "billing").exit_code == 1
    assert run(runner, "apikeys", "revoke", "billing").exit_code == 0
    db.session().expire_all()
    assert db.session().scalar(select(ApiKey)).revoked_at is not None
    again = run(runner, "apikeys", "revoke", "billing")
    assert again.output.strip() == "Error: no active API key named billing"


def test_tenants_list(runner, app):
    session = db.session()
    suite = factories.wecom_app(session, app_id="wwsuiteA")
    factories.tenant(session, suite, tenant_id="wwcorp1", name="First")
    factories.tenant(session, suite, tenant_id="wwcorp2", status="cancelled")
    rows = json.loads(run(runner, "tenants", "list", "--app", "wwsuiteA", "--json").output)
    assert [(r["tenant_id"], r["status"]) for r in rows] == [
        ("wwcorp1", "active"),
        ("wwcorp2", "cancelled"),
    ]
    assert "permanent-code-value" not in run(runner, "tenants", "list").output


def suite_server(tmp_path, *args, env=None):
    """The installed console script, as a user runs it."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SUITE_SERVER_")}
    environment.update({"SUITE_SERVER_INSTANCE_PATH": str(tmp_path)}, **(env or {}))
    script = os.path.join(os.path.dirname(sys.executable), "suite-server")
    return subprocess.run(
        [script, *args], capture_output=True, text=True, env=environment, timeout=60
    )


def test_console_script_on_a_fresh_instance(tmp_path):
    added = suite_server(
        tmp_path,
        "apps",
        "add",
        "open",
        "--appid",
        "wxc",
        "--secret",
        "s",
        "--token",
        "t",
        "--aes-key",
        AES_KEY,
    )
    assert added.returncode == 0, added.stderr
    listed = suite_server(tmp_path, "apps", "list", "--json")
    assert json.loads(listed.stdout)[0]["app_id"] == "wxc"


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["apps", "list"], {"SUITE_SERVER_ENV": "production"}, "production refuses to start"),
        (["apps", "list"], {"SUITE_SERVER_CALLBACK_MAX_AGE": "x"}, "must be a whole number"),
        (
            ["apps", "list"],
            {"SUITE_SERVER_DATABASE_URL": "postgresql://u@127.0.0.1:1/none"},
            "Error: database:",
        ),
        (["apps", "add", "wecom", "--suite-id", "x"], {}, "Missing option '--secret'"),
        (["nonsense"], {}, "No such command 'nonsense'"),
    ],
)
def test_console_script_errors_are_one_line_without_traceback(tmp_path, args, env, message):
    result = suite_server(tmp_path, *args, env=env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_production_needs_an_upgraded_database(postgres, tmp_path):
    from cryptography.fernet import Fernet

    env = {
        "SUITE_SERVER_ENV": "production",
        "SUITE_SERVER_SECRET_KEY": "x" * 32,
        "SUITE_SERVER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SUITE_SERVER_DATABASE_URL": postgres.empty_url(tmp_path),
    }
    refused = suite_server(tmp_path, "apps", "list", env=env)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "Error: database is not up to date: run `suite-server db upgrade`"
    )
    assert suite_server(tmp_path, "db", "upgrade", env=env).returncode == 0
    assert suite_server(tmp_path, "apps", "list", env=env).returncode == 0


def test_events_list_shows_pending_events_without_payloads(runner):
    session = db.session()
    suite = factories.wecom_app(session, app_id="wwsuiteE")
    for number, (kind, status) in enumerate([("suite_ticket", "done"), ("change_auth", "pending")]):
        session.add(
            InboundEvent(
                app_pk=suite.id,
                channel="command",
                kind=kind,
                status=status,
                dedupe_key=str(number),
                raw="<xml/>",
                payload="<xml>SECRET-PAYLOAD</xml>",
            )
        )
    session.commit()
    rows = json.loads(run(runner, "events", "list", "--status", "pending", "--json").output)
    assert [(r["kind"], r["status"], r["app_id"]) for r in rows] == [
        ("change_auth", "pending", "wwsuiteE")
    ]
    table = run(runner, "events", "list").output
    assert "change_auth" in table and "suite_ticket" in table
    assert "SECRET-PAYLOAD" not in table


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("args", [["apps", "list"], ["worker"], ["cron"]])
def test_a_malformed_redis_url_is_one_line_from_every_command(tmp_path, args):
    result = suite_server(tmp_path, *args, env={"SUITE_SERVER_REDIS_URL": "localhost:6379"})
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: SUITE_SERVER_REDIS_URL is not a Redis URL")
    assert "redis://" in line


LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")


def test_cron_without_redis_says_so_in_one_line_and_retries_with_backoff(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SUITE_SERVER_")}
    environment["SUITE_SERVER_INSTANCE_PATH"] = str(tmp_path)
    environment["SUITE_SERVER_REDIS_URL"] = f"redis://127.0.0.1:{closed_port()}/0"
    script = os.path.join(os.path.dirname(sys.executable), "suite-server")
    cron = subprocess.Popen([script, "cron"], stderr=subprocess.PIPE, text=True, env=environment)
    lines: list[str] = []
    retries: list[float] = []  # when each "retrying in" line came
    three = threading.Event()

    def read() -> None:
        for line in cron.stderr:
            lines.append(line.rstrip("\n"))
            if "retrying in" in line:
                retries.append(time.monotonic())
                if len(retries) == 3:
                    three.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert three.wait(60), "\n".join(lines)
    finally:
        stopped_at = time.monotonic()
        cron.send_signal(signal.SIGTERM)
        code = cron.wait(30)
    assert time.monotonic() - stopped_at < 5  # SIGTERM stops it in its wait
    assert code == 0
    reader.join(5)
    assert "Traceback" not in "\n".join(lines)
    assert all(LOG_LINE.match(line) for line in lines), lines  # one line per record
    failures = [line for line in lines if "retrying in" in line]
    assert [re.search(r"retrying in (\S+) s", line).group(1) for line in failures[:3]] == [
        "1",
        "2",
        "4",
    ]
    assert "Connection refused" in failures[0] and "cannot enqueue" in failures[0]
    # The waits really grow: ~1 s, then ~2 s (generous bounds for a loaded machine).
    assert 0.8 < retries[1] - retries[0] < retries[2] - retries[1]


def test_tenants_list_escapes_what_a_tenant_named_itself(runner, app):
    session = db.session()
    suite = factories.wecom_app(session, app_id="wwsuiteX")
    factories.tenant(session, suite, tenant_id="wwevil", name="\x1b[2J\x1b[31mEvil\nFORGED row")
    output = run(runner, "tenants", "list").output
    assert "\x1b" not in output
    assert len(output.splitlines()) == 2  # the header and one row
    assert "\\x1b[31mEvil\\nFORGED row" in output
    # --json is for programs: the name as it is, JSON-escaped.
    [row] = json.loads(run(runner, "tenants", "list", "--json").output)
    assert row["name"] == "\x1b[2J\x1b[31mEvil\nFORGED row"


# -- provider accounts and app kinds -----------------------------------------------------------

PROVIDER = ["providers", "add", "--corpid", "wwprov", "--secret", "pr0v1der-secret"]


def test_providers_add_and_list(runner):
    result = run(runner, *PROVIDER, "--token", "Tok1", "--aes-key", AES_KEY, "--name", "ISV")
    assert result.exit_code == 0, result.output
    registered, url = result.output.splitlines()
    assert registered == "registered provider wwprov"
    assert url.startswith("system event URL: ") and url.endswith("/callback/wecom/provider/wwprov")
    bare = run(runner, "providers", "add", "--corpid", "wwbare", "--secret", "s")
    assert bare.exit_code == 0 and bare.output == "registered provider wwbare\n"
    assert run(runner, *WECOM, "--aes-key", AES_KEY, "--provider-corpid", "wwprov").exit_code == 0

    listed = json.loads(run(runner, "providers", "list", "--json").output)
    assert listed == [
        {
            "corpid": "wwbare",
            "name": "wwbare",
            "system_event_url": False,
            "linked_apps": 0,
            "token_expires_at": None,
        },
        {
            "corpid": "wwprov",
            "name": "ISV",
            "system_event_url": True,
            "linked_apps": 1,
            "token_expires_at": None,
        },
    ]
    table = run(runner, "providers", "list").output.splitlines()
    assert table[0].split() == ["CORPID", "NAME", "SYSTEM", "EVENT", "URL", "LINKED", "APPS"] + [
        "TOKEN",
        "EXPIRES",
    ]
    assert table[1].split() == ["wwbare", "wwbare", "not", "set", "0", "none"]
    assert table[2].split() == ["wwprov", "ISV", "set", "1", "none"]
    everything = "".join(run(runner, "providers", "list", *a).output for a in ([], ["--json"]))
    assert "pr0v1der-secret" not in everything and AES_KEY not in everything

    stored = db.session().scalar(select(App).where(App.app_id == "wwprov"))
    assert (stored.kind, stored.platform, stored.secret) == ("provider", "wecom", "pr0v1der-secret")
    assert (stored.token, stored.aes_key) == ("Tok1", AES_KEY)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--token", "Tok1", "--aes-key", AES_KEY[:-1]], "EncodingAESKey must be 43 base64"),
        (["--token", "Tok1"], "--token and --aes-key go together"),
        (["--aes-key", AES_KEY], "--token and --aes-key go together"),
        (["--token", "bad token!", "--aes-key", AES_KEY], "token must be 1 to 32"),
        (["--corpid", "ww/../x"], "provider corpid must be 1 to 64"),
        (["--secret", " "], "secret must not be empty"),
    ],
)
def test_providers_add_refuses_bad_input_in_one_line(runner, args, message):
    result = run(runner, *PROVIDER, *args)  # a repeated option: the last one counts
    assert result.exit_code != 0
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert db.session().scalar(select(App.id)) is None


def test_a_provider_id_is_never_an_app_s_or_another_provider_s(runner):
    assert run(runner, *PROVIDER).exit_code == 0
    again = run(runner, *PROVIDER)
    assert again.exit_code == 1
    assert again.output == "Error: a provider with id wwprov already exists\n"
    app = run(runner, *WECOM[:4], "wwprov", *WECOM[5:], "--aes-key", AES_KEY)
    assert app.exit_code == 1
    assert app.output == "Error: a provider with id wwprov already exists\n"
    assert run(runner, *WECOM, "--aes-key", AES_KEY).exit_code == 0
    taken = run(runner, "providers", "add", "--corpid", "wwsuite", "--secret", "s")
    assert taken.exit_code == 1
    assert taken.output == "Error: an app with id wwsuite already exists\n"
    assert len(db.session().scalars(select(App.id)).all()) == 2


def test_apps_list_shows_the_kind_and_no_provider(runner):
    assert run(runner, *PROVIDER).exit_code == 0
    assert run(runner, *WECOM, "--aes-key", AES_KEY).exit_code == 0
    template = [*WECOM[:4], "dktemplate", *WECOM[5:], "--aes-key", AES_KEY]
    assert run(runner, *template, "--provider-corpid", "wwprov").exit_code == 0
    listed = json.loads(run(runner, "apps", "list", "--json").output)
    assert [(a["app_id"], a["kind"]) for a in listed] == [
        ("dktemplate", "template"),
        ("wwsuite", "suite"),
    ]
    table = run(runner, "apps", "list").output.splitlines()
    assert table[0].split()[:3] == ["APP", "ID", "PLATFORM"] and "KIND" in table[0]
    assert [row.split()[:3] for row in table[1:]] == [
        ["dktemplate", "wecom", "template"],
        ["wwsuite", "wecom", "suite"],
    ]
    assert "wwprov" not in "\n".join(table)
    # The provider's webhook is set with the apps' command.
    hook = run(runner, "apps", "webhook", "wwprov", "--url", "https://hooks.example.com/s")
    assert hook.exit_code == 0 and "webhook of wwprov: https://hooks.example.com/s" in hook.output
