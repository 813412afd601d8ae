"""SandboxServer, the ticket ticker and the `suite-server sandbox` command."""

from __future__ import annotations

import socket

import requests
from click.testing import CliRunner

from suite_server.cli.sandbox import sandbox_command
from suite_server.sandbox import SandboxServer, create_sandbox_app

KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"


def test_ticker_pushes_tickets_every_interval_and_stops_cleanly(receiver):
    server = SandboxServer({"ticket_interval": 1})
    base_url = server.start()
    try:
        app = {
            "platform": "wecom",
            "app_id": "wwticker",
            "secret": "s",
            "token": "t",
            "aes_key": KEY,
        }
        receiver.apps["wwticker"] = ("t", KEY)
        requests.post(base_url + "/sandbox/apps", json={**app, "server_url": receiver.base_url})
        # One at registration, then one a second later, each a new ticket.
        tickets = receiver.wait_for_count(2, timeout=3, InfoType="suite_ticket")
        values = [t.message["SuiteTicket"] for t in tickets]
        assert len(set(values)) == len(values)
        body = {"suite_id": "wwticker", "suite_secret": "s", "suite_ticket": values[-1]}
        answer = requests.post(base_url + "/cgi-bin/service/get_suite_token", json=body).json()
        assert "suite_access_token" in answer
        ticker_thread = server.sandbox.ticker._thread
        assert ticker_thread is not None and ticker_thread.is_alive()
    finally:
        server.stop()
    assert not ticker_thread.is_alive()
    assert not server.sandbox.ticker.running


def test_server_start_returns_a_working_base_url_and_stop_frees_the_port():
    server = SandboxServer({"token_ttl": 100})
    with server:
        assert server.base_url.startswith("http://127.0.0.1:")
        settings = requests.get(server.base_url + "/sandbox/settings").json()["settings"]
        assert settings["token_ttl"] == 100 and settings["ticket_interval"] == 600
        assert server.state.settings.token_ttl == 100
        port = server.port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # free again


def test_create_sandbox_app_rejects_unknown_settings():
    try:
        create_sandbox_app({"token_tll": 5})
    except ValueError as exc:
        assert "token_tll" in str(exc)
    else:
        raise AssertionError("an unknown setting must be refused")


def test_command_help_and_busy_port_error():
    runner = CliRunner()
    help_text = runner.invoke(sandbox_command, ["--help"]).output
    for option in ("--host", "--port", "--ticket-interval", "--token-ttl", "--strict-refresh"):
        assert option in help_text
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = runner.invoke(sandbox_command, ["--port", str(busy.getsockname()[1])])
    assert result.exit_code == 1
    assert "cannot listen on 127.0.0.1" in result.output
    assert "Traceback" not in result.output
    assert runner.invoke(sandbox_command, ["--ticket-interval", "0"]).exit_code == 2
