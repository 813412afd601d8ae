"""docs/configuration.md against the code: the settings it lists are exactly the ones the code
reads, with the defaults and production requirements the code has; config/default.py shows every
default."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest

from suite_server import create_app
from suite_server.settings import DEFAULTS, PREFIX, SettingsError

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
# Keys the code keeps in app.config that are not settings: derived at start (SQLALCHEMY_URL,
# INSTANCE_PATH) or set by the sandbox on its own Flask app (MAX_CONTENT_LENGTH).
NOT_SETTINGS = {"SQLALCHEMY_URL", "INSTANCE_PATH", "MAX_CONTENT_LENGTH"}


def table_after(heading: str) -> list[dict[str, str]]:
    """The first Markdown table under `heading` in docs/configuration.md, as dicts keyed by the
    header row, with the cells' surrounding backticks removed."""
    lines = CONFIGURATION.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading)
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    assert len(rows) > 2, f"no table under {heading!r}"
    header, separator, *body = rows
    assert all(set(cell) <= {"-", ":"} for cell in separator), f"bad table under {heading!r}"
    for row in body:
        assert len(row) == len(header), f"row {row[0]!r} under {heading!r} has a stray '|'"
    return [dict(zip(header, row, strict=True)) for row in body]


def name(cell: str) -> str:
    match = re.fullmatch(r"`([A-Za-z0-9_]+)`", cell)
    assert match, f"{cell!r} should be one name in backticks"
    return match.group(1)


def settings_table() -> dict[str, dict[str, str]]:
    rows = table_after("## Settings")
    names = [name(row["setting"]) for row in rows]
    assert len(names) == len(set(names)), "a setting is listed twice"
    return dict(zip(names, rows, strict=True))


def environment_reads() -> dict[str, str]:
    """Every environment variable read in suite_server/ and wsgi.py -> where. A read whose name
    cannot be worked out from the source fails the test: document it, then teach this function."""
    reads: dict[str, str] = {}
    read = re.compile(r"(?:os\.environ\.get|os\.getenv|os\.environ\[)\(?\s*(f?)(['\"])(.*?)\2")
    for path in [*sorted((ROOT / "suite_server").rglob("*.py")), ROOT / "wsgi.py"]:
        source = path.read_text(encoding="utf-8")
        where = str(path.relative_to(ROOT))
        for match in read.finditer(source):
            variable = match.group(3)
            if match.group(1):  # an f-string: only the prefix may be interpolated
                variable = re.sub(r"\{(?:settings\.)?PREFIX\}", PREFIX, variable)
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", variable), (
                f"{where}: cannot tell which variable {match.group(0)!r} reads"
            )
            reads[variable] = where
        uses = len(re.findall(r"\bos\.(?:environ|getenv)\b", source))
        assert uses == len(read.findall(source)), (
            f"{where}: uses os.environ in a way tests/test_docs.py does not understand"
        )
        assert not re.search(r"from os import .*\b(?:environ|getenv)\b", source), where
    return reads


def test_every_setting_in_defaults_is_documented_and_nothing_else():
    documented = set(settings_table())
    assert documented - set(DEFAULTS) == set(), "documented, but not in settings.DEFAULTS"
    assert set(DEFAULTS) - documented == set(), "in settings.DEFAULTS, not in configuration.md"


def test_environment_variable_and_default_columns():
    for setting, row in settings_table().items():
        assert name(row["environment variable"]) == f"{PREFIX}_{setting}"
        default = DEFAULTS[setting]
        if default is not None:
            shown = default if isinstance(default, str) else json.dumps(default)
            assert f"`{shown}`" in row["default"], f"{setting}: the default is {shown}"


def test_required_in_production_matches_the_refusal(tmp_path, monkeypatch):
    for variable in [v for v in os.environ if v.startswith(f"{PREFIX}_")]:
        monkeypatch.delenv(variable)
    with pytest.raises(SettingsError, match="production refuses to start without") as refused:
        create_app({"INSTANCE_PATH": str(tmp_path), "ENV": "production"})
    refused_names = set(re.findall(rf"{PREFIX}_([A-Z0-9_]+)", str(refused.value)))
    documented = {
        setting
        for setting, row in settings_table().items()
        if row["production"].startswith("required")
    }
    assert documented == refused_names


def test_environment_only_variables_are_the_ones_the_code_reads():
    documented = {name(row["variable"]) for row in table_after("## Read from the environment only")}
    read = set(environment_reads())
    assert read - documented == set(), "read by the code, not in configuration.md"
    assert documented - read == set(), "in configuration.md, not read by the code"


def test_every_config_key_the_code_uses_is_a_setting():
    used = {}
    key = re.compile(r"config(?:\[|\.get\()\s*['\"]([A-Z][A-Z0-9_]*)['\"]")
    for path in sorted((ROOT / "suite_server").rglob("*.py")):
        for match in key.finditer(path.read_text(encoding="utf-8")):
            used.setdefault(match.group(1), str(path.relative_to(ROOT)))
    unknown = {k: where for k, where in used.items() if k not in DEFAULTS and k not in NOT_SETTINGS}
    assert unknown == {}, "read from the config but not in settings.DEFAULTS (nor documented)"


def test_config_default_py_shows_every_default():
    """config/default.py assigns each setting its built-in default, or shows the assignment
    commented out (`# NAME = ...`) where the default is derived at start."""
    source = (ROOT / "config" / "default.py").read_text(encoding="utf-8")
    assigned = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned[target.id] = ast.literal_eval(node.value)
    commented = set(re.findall(r"^# ([A-Z][A-Z0-9_]*) = ", source, flags=re.MULTILINE))
    missing = set(DEFAULTS) - set(assigned) - commented
    assert missing == set(), "config/default.py does not mention these settings"
    assert set(assigned) - set(DEFAULTS) == set(), "config/default.py sets unknown settings"
    wrong = {k: v for k, v in assigned.items() if v != DEFAULTS[k]}
    assert wrong == {}, "config/default.py shows values that are not the defaults"
