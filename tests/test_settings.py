"""Settings: defaults for a fresh checkout, the environment, config files, production refusals."""

from __future__ import annotations

import stat

import pytest

from suite_server import create_app
from suite_server.errors import SettingsError


def test_nothing_set_runs_on_sqlite_with_generated_keys_kept_once(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'suite_server.db'}"
    assert app.config["REDIS_URL"] is None
    assert app.config["ENV"] == "development"
    for name in ("secret_key", "encryption_key"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, name
    again = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]
    assert again.config["ENCRYPTION_KEYS"] == app.config["ENCRYPTION_KEYS"]


def test_environment_with_prefix_and_contract_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("SUITE_SERVER_CALLBACK_MAX_AGE", "120")
    monkeypatch.setenv("SUITE_SERVER_PUBLIC_URL", "https://isv.example.com/")
    monkeypatch.setenv("SUITE_SERVER_SECRET_KEY", "12345")
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["CALLBACK_MAX_AGE"] == 120
    assert app.config["PUBLIC_URL"] == "https://isv.example.com"
    assert app.config["SECRET_KEY"] == "12345"  # JSON-decoded by Flask, kept a string by us
    assert app.config["TOKEN_MIN_REMAINING"] == 300
    assert app.config["WECOM_API_BASE"] == "https://qyapi.weixin.qq.com"
    assert app.config["WECHAT_API_BASE"] == "https://api.weixin.qq.com"
    assert app.config["WECOM_INSTALL_URL"] == "https://open.work.weixin.qq.com/3rdapp/install"
    assert app.config["OPEN_AUTH_URL"] == "https://mp.weixin.qq.com/cgi-bin/componentloginpage"


def test_config_file_then_environment(tmp_path, monkeypatch):
    config = tmp_path / "site.py"
    config.write_text('PUBLIC_URL = "https://from-file"\nTOKEN_MIN_REMAINING = 900\n')
    monkeypatch.setenv("SUITE_SERVER_CONFIG", str(config))
    monkeypatch.setenv("SUITE_SERVER_TOKEN_MIN_REMAINING", "600")
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["PUBLIC_URL"] == "https://from-file"
    assert app.config["TOKEN_MIN_REMAINING"] == 600


def test_shipped_config_files_load(tmp_path, monkeypatch):
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    app = create_app({"INSTANCE_PATH": str(tmp_path), "CONFIG": str(root / "config/default.py")})
    assert app.config["CALLBACK_MAX_AGE"] == 600
    with pytest.raises(SettingsError, match="production refuses"):
        create_app(
            {"INSTANCE_PATH": str(tmp_path), "CONFIG": str(root / "config/production.example.py")}
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "without SUITE_SERVER_SECRET_KEY, SUITE_SERVER_ENCRYPTION_KEYS, SUITE_SERVER_DATA"),
        (
            {"SECRET_KEY": "s", "ENCRYPTION_KEYS": "k", "DATABASE_URL": "sqlite:///x.db"},
            "production refuses SQLite",
        ),
        ({"SECRET_KEY": "s", "DATABASE_URL": "postgresql://h/db"}, "ENCRYPTION_KEYS$"),
    ],
)
def test_production_refuses_to_start_without_explicit_keys_and_database(
    tmp_path, overrides, message
):
    with pytest.raises(SettingsError, match=message) as raised:
        create_app({"INSTANCE_PATH": str(tmp_path), "ENV": "production", **overrides})
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "secret_key").exists()


def test_production_starts_with_explicit_settings(tmp_path):
    from cryptography.fernet import Fernet

    app = create_app(
        {
            "INSTANCE_PATH": str(tmp_path),
            "ENV": "production",
            "SECRET_KEY": "s" * 32,
            "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DATABASE_URL": "postgresql://postgres@127.0.0.1/postgres",
        }
    )
    assert app.config["SQLALCHEMY_URL"].startswith("postgresql+psycopg://")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ENV": "staging"}, "ENV must be one of"),
        ({"CALLBACK_MAX_AGE": "ten"}, "CALLBACK_MAX_AGE must be a whole number"),
        ({"TOKEN_MIN_REMAINING": -1}, "must not be negative"),
        ({"ENCRYPTION_KEYS": "not-a-key"}, "key #1 is not a Fernet key"),
    ],
)
def test_bad_settings_are_refused_in_one_line(tmp_path, overrides, message):
    with pytest.raises(SettingsError, match=message):
        create_app({"INSTANCE_PATH": str(tmp_path), **overrides})


def test_a_bad_admin_time_zone_is_refused_in_one_line(tmp_path):
    with pytest.raises(SettingsError, match="ADMIN_TIMEZONE must name a time zone") as raised:
        create_app({"INSTANCE_PATH": str(tmp_path), "ADMIN_TIMEZONE": "Mars/Olympus"})
    assert "\n" not in str(raised.value)
    app = create_app({"INSTANCE_PATH": str(tmp_path), "ADMIN_TIMEZONE": "Europe/Berlin"})
    assert app.config["ADMIN_TIMEZONE"] == "Europe/Berlin"
