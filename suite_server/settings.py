"""Every setting: its default, how it is read, and the checks that refuse a bad configuration."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from flask import Config
from redis.connection import parse_url

from suite_server.errors import SettingsError

PREFIX = "SUITE_SERVER"

# name -> default. The contract (shared/docs/contract.md, "Settings") lists these; ENV and
# INSTANCE_PATH are ours. A default of None means "unset" or "derived at start".
DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    "DATABASE_URL": None,  # sqlite:///<instance>/suite_server.db
    "REDIS_URL": None,
    "SECRET_KEY": None,  # development: generated once into <instance>/secret_key
    "ENCRYPTION_KEYS": None,  # development: generated once into <instance>/encryption_key
    "PUBLIC_URL": "http://127.0.0.1:8000",
    "WECOM_API_BASE": "https://qyapi.weixin.qq.com",
    "WECHAT_API_BASE": "https://api.weixin.qq.com",
    "WECOM_INSTALL_URL": "https://open.work.weixin.qq.com/3rdapp/install",
    "OPEN_AUTH_URL": "https://mp.weixin.qq.com/cgi-bin/componentloginpage",
    "CALLBACK_MAX_AGE": 600,
    "TOKEN_MIN_REMAINING": 300,
    # Tenant token refreshes a worker process has in flight at once (tokens/tasks.py): the
    # platforms answer in 50-200 ms, so a worker waits on many calls together.
    "REFRESH_CONCURRENCY": 8,
    # Modules whose import registers tenant handlers on suite_server.dispatch.router.
    "HANDLERS": [],
    # Answer the Open Platform's full-network release test by ourselves (dispatch/release_check.py).
    "RELEASE_CHECK": True,
    # "text" (readable, the default) or "json" (one object per line); and the level.
    "LOG_FORMAT": "text",
    "LOG_LEVEL": "INFO",
    # Set: GET /metrics answers only `Authorization: Bearer <METRICS_TOKEN>` (metrics.py).
    "METRICS_TOKEN": None,
    # Reverse proxies in front whose X-Forwarded-For is believed (site.py); 0: none.
    "TRUSTED_PROXIES": 0,
    # Days each kind of stored row is kept (processing/retention.py); 0 keeps it forever. A
    # partial dict changes only the kinds it names.
    "RETENTION_DAYS": {
        "events": 30,
        "failed_events": 90,
        "deliveries": 30,
        "failed_deliveries": 90,
        "audit": 365,
        "tickets": 2,
    },
    # The admin's clock: pages show times in this zone (an admin may choose another on their
    # account page), with UTC on hover.
    "ADMIN_TIMEZONE": "Asia/Shanghai",
}
INT_SETTINGS = (
    "CALLBACK_MAX_AGE",
    "TOKEN_MIN_REMAINING",
    "TRUSTED_PROXIES",
    "REFRESH_CONCURRENCY",
)
STR_SETTINGS = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ENCRYPTION_KEYS", "METRICS_TOKEN")
ENVIRONMENTS = ("development", "production")


def load(config: Config, overrides: dict[str, Any] | None) -> None:
    """Fill `config` in order: defaults, the Python file named by SUITE_SERVER_CONFIG, the
    SUITE_SERVER_* environment (Flask's from_prefixed_env: values are JSON-decoded when they
    parse), then `overrides` (tests); then check and complete it."""
    config.update(DEFAULTS)
    config_file = (overrides or {}).get("CONFIG") or os.environ.get(f"{PREFIX}_CONFIG")
    if config_file:
        try:
            config.from_pyfile(os.path.abspath(config_file))
        except OSError as exc:
            raise SettingsError(f"cannot read config file {config_file}: {exc.strerror}") from exc
        except Exception as exc:
            raise SettingsError(f"config file {config_file} failed: {exc}") from exc
    config.from_prefixed_env(PREFIX)
    config.update(overrides or {})
    _check(config)


def _check(config: dict[str, Any]) -> None:
    env = str(config["ENV"]).lower()
    if env not in ENVIRONMENTS:
        raise SettingsError(f"{PREFIX}_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
    config["ENV"] = env
    for name in INT_SETTINGS:
        config[name] = _non_negative_int(name, config[name])
    if config["REFRESH_CONCURRENCY"] < 1:
        raise SettingsError(f"{PREFIX}_REFRESH_CONCURRENCY must be 1 or more")
    for name in ("PUBLIC_URL", "WECOM_API_BASE", "WECHAT_API_BASE"):
        config[name] = str(config[name]).rstrip("/")
    config["HANDLERS"] = _module_list(config["HANDLERS"])
    config["RELEASE_CHECK"] = _boolean("RELEASE_CHECK", config["RELEASE_CHECK"])
    config["LOG_FORMAT"] = str(config["LOG_FORMAT"]).lower()
    if config["LOG_FORMAT"] not in ("text", "json"):
        raise SettingsError(f"{PREFIX}_LOG_FORMAT must be text or json")
    config["LOG_LEVEL"] = str(config["LOG_LEVEL"]).upper()
    if config["LOG_LEVEL"] not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"{PREFIX}_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
    for name in STR_SETTINGS:
        # from_prefixed_env turns SECRET_KEY=1234 into an int; these are strings.
        value = config[name]
        config[name] = None if value in ("", None) else str(value)
    if config["REDIS_URL"]:
        _check_redis_url(config["REDIS_URL"])
    config["RETENTION_DAYS"] = _retention(config["RETENTION_DAYS"])
    config["ADMIN_TIMEZONE"] = _time_zone(str(config["ADMIN_TIMEZONE"]))

    instance = Path(config["INSTANCE_PATH"])
    if env == "production":
        missing = [n for n in ("SECRET_KEY", "ENCRYPTION_KEYS", "DATABASE_URL") if not config[n]]
        if missing:
            names = ", ".join(f"{PREFIX}_{n}" for n in missing)
            raise SettingsError(f"production refuses to start without {names}")
        if str(config["DATABASE_URL"]).startswith("sqlite"):
            raise SettingsError(
                f"production refuses SQLite: set {PREFIX}_DATABASE_URL to PostgreSQL"
            )
    else:
        if not config["DATABASE_URL"]:
            config["DATABASE_URL"] = f"sqlite:///{instance / 'suite_server.db'}"
        if not config["SECRET_KEY"]:
            config["SECRET_KEY"] = _instance_secret(instance / "secret_key", secrets.token_hex)
        if not config["ENCRYPTION_KEYS"]:
            config["ENCRYPTION_KEYS"] = _instance_secret(
                instance / "encryption_key", lambda: Fernet.generate_key().decode()
            )
    config["SQLALCHEMY_URL"] = _driver_url(str(config["DATABASE_URL"]))
    config["ENCRYPTION_KEYS"] = parse_keys(config["ENCRYPTION_KEYS"])


def _check_redis_url(url: str) -> None:
    # Checked here, not left to redis-py: every process (web, worker, cron, each CLI command)
    # builds its job runner from it at start, and redis-py's ValueError is a traceback there.
    # The reason never quotes the URL: it may hold a password.
    try:
        parse_url(url)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}_REDIS_URL is not a Redis URL: {exc}") from None


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"{PREFIX}_ADMIN_TIMEZONE must name a time zone such as Asia/Shanghai, not {name!r}"
        ) from None
    return name


def _retention(value: Any) -> dict[str, int]:
    defaults = DEFAULTS["RETENTION_DAYS"]
    if not isinstance(value, dict):
        raise SettingsError(
            f'{PREFIX}_RETENTION_DAYS must be a JSON object such as {{"events": 30}}'
        )
    unknown = sorted(set(value) - set(defaults))
    if unknown:
        known = ", ".join(defaults)
        raise SettingsError(f"{PREFIX}_RETENTION_DAYS has no kind {unknown[0]!r} (kinds: {known})")
    merged = {**defaults, **value}
    for kind, days in merged.items():
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise SettingsError(
                f"{PREFIX}_RETENTION_DAYS[{kind!r}] must be a whole number of days, 0 for ever"
            )
    return merged


def _module_list(value: Any) -> list[str]:
    """HANDLERS: a list, or a comma-separated string (SUITE_SERVER_HANDLERS=a.b,c.d)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise SettingsError(f"{PREFIX}_HANDLERS must be a list of module names")
    return [i.strip() for i in items if i.strip()]


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).lower() in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{PREFIX}_{name} must be true or false, not {value!r}")


def parse_keys(value: str | list[str]) -> list[str]:
    """ENCRYPTION_KEYS: comma-separated Fernet keys (url-safe base64); the first encrypts."""
    keys = [k.strip() for k in value.split(",")] if isinstance(value, str) else list(value)
    keys = [k for k in keys if k]
    if not keys:
        raise SettingsError(f"{PREFIX}_ENCRYPTION_KEYS is empty")
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise SettingsError(
                f"{PREFIX}_ENCRYPTION_KEYS key #{number} is not a Fernet key "
                "(generate one with: suite-server keys generate)"
            ) from None
    return keys


def _non_negative_int(name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{PREFIX}_{name} must be a whole number, not {value!r}") from None
    if number < 0:
        raise SettingsError(f"{PREFIX}_{name} must not be negative")
    return number


def _driver_url(url: str) -> str:
    # psycopg 3 is the driver we ship; accept the plain postgresql:// spelling users paste.
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def _instance_secret(path: Path, make: Callable[[], str]) -> str:
    """Read a development secret from the instance folder, creating it (mode 0600) the first time.
    The file is written whole and then linked into place, so two processes starting together
    agree on one value and none reads a half-written file."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(make() + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won; use its value
        finally:
            tmp.unlink()
    value = path.read_text().strip()
    if not value:
        raise SettingsError(f"{path} is empty: delete it to generate a new one")
    return value
