"""The docs against the code, so they cannot drift: docs/configuration.md lists exactly the
settings the code reads, with their defaults and production requirements (config/default.py shows
every default); docs/api.md every /api/v1 endpoint and error code; docs/callbacks.md every
callback URL and refusal; docs/cli.md every command and option. And the docs stand alone: no
page points outside the repository, every link resolves, and the README says what the tests
need."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import click
import pytest

from suite_server import create_app
from suite_server.errors import SettingsError
from suite_server.settings import DEFAULTS, PREFIX

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


# -- the docs stand alone ----------------------------------------------------------------------

DOCS = ROOT / "docs"
# Every page, the translations in docs/zh/ included.
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_MD_NAME = re.compile(r"(?<![\w/.-])([\w./-]+\.md)\b")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"(?ms)^```.*?^```", "", page.read_text(encoding="utf-8"))
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


def test_no_page_points_outside_the_repository():
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for outside in ("../shared", "/work/shared", "shared/docs"):
            assert outside not in text, f"{page.name} mentions {outside}"


def test_every_link_and_every_page_named_exists():
    """Relative links lead to a file of the repository (and a heading of it, for an #anchor),
    and every *.md a page names (`tokens.md`, `docs/api.md`) is one of ours: notes kept outside
    the repository (contract.md, the protocol notes) are not cited."""
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in _LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            assert resolved.exists(), f"{page.name}: link to missing {target}"
            if anchor and resolved.suffix == ".md":
                assert anchor in anchors(resolved), f"{page.name}: no heading for {target}"
        for name in _MD_NAME.findall(text):
            found = [base / name for base in (page.parent, ROOT, DOCS) if (base / name).exists()]
            assert found, f"{page.name} names {name}, which is not in the repository"


def section(text: str, heading: str) -> str:
    """The text under `heading` up to the next heading of the same or a higher level (a `#`
    line inside a code block is no heading)."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    start = lines.index(heading)
    fenced = False
    for end in range(start + 1, len(lines)):
        if lines[end].startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(rf"#{{1,{level}}} ", lines[end]):
            return "\n".join(lines[start + 1 : end])
    return "\n".join(lines[start + 1 :])


def code_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"(?ms)^```[a-z]*\n(.*?)^```", text)]


def test_readme_keeps_two_set_up_commands_and_says_what_the_tests_need():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    set_up = section(readme, "## Set up on a fresh machine")
    assert code_blocks(set_up) == [
        "pip install -e . && suite-server demo",
        "pip install -e '.[test]' && pytest",
    ]
    # .ci/run runs the test command word for word.
    assert "pip install -e '.[test]' && pytest" in (ROOT / ".ci" / "run").read_text()
    # What tests/conftest.py and the browser tests read, with their defaults.
    conftest = (ROOT / "tests" / "conftest.py").read_text(encoding="utf-8")
    for variable in ("SUITE_SERVER_TEST_POSTGRES_URL", "SUITE_SERVER_TEST_REDIS_URL"):
        default = re.search(rf'"{variable}",\s*"([^"]+)"', conftest).group(1)
        assert variable in set_up and default in set_up, variable
        if variable.endswith("REDIS_URL"):
            number = default.rsplit("/", 1)[1]
            assert f"flush Redis database {number}" in set_up
    browser = (ROOT / "tests" / "admin" / "browsing.py").read_text(encoding="utf-8")
    chromium = re.search(r'os\.environ\.get\("CHROMIUM", "([^"]+)"\)', browser).group(1)
    assert "Chromium" in set_up and chromium in set_up and "`CHROMIUM`" in set_up


# -- docs/api.md against the routes ------------------------------------------------------------

API = DOCS / "api.md"


@pytest.fixture(scope="module")
def routes(tmp_path_factory) -> list:
    """The server's URL rules (no database is opened to list them)."""
    instance = tmp_path_factory.mktemp("docs")
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "DATABASE_URL": f"sqlite:///{instance}/x.db",
            "SECRET_KEY": "docs",
            "ENCRYPTION_KEYS": "kM6C0b4bq8m1Hq8mS6zq2D3hD1oV0a7k1q0yq4V9c0Q=",
        }
    )
    return list(app.url_map.iter_rules())


def endpoints(rules, blueprint: str) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in rules
        if rule.endpoint.startswith(f"{blueprint}.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def api_sections() -> dict[tuple[str, str], str]:
    """(method, URL rule) -> its section; a heading may name several methods of one URL
    (`GET|POST|PUT /api/v1/...`, the gateway's proxy takes any)."""
    text = API.read_text(encoding="utf-8")
    found = {}
    for match in re.finditer(r"^### `([A-Z|]+) (/\S+)`$", text, flags=re.MULTILINE):
        for method in match.group(1).split("|"):
            found[(method, match.group(2))] = section(text, match.group(0))
    return found


def test_api_md_documents_every_endpoint_and_no_other(routes):
    documented = set(api_sections())
    served = endpoints(routes, "api")
    assert served, "no /api/v1 routes found"
    assert served - documented == set(), "served, but not in docs/api.md"
    assert documented - served == set(), "in docs/api.md, but not served"


def test_each_endpoint_section_has_its_answer_errors_and_a_curl_example():
    sections = api_sections()
    for (method, path), text in sections.items():
        assert "Errors:" in text, (method, path)
        assert re.search(r"Answer `20[01]`", text), (method, path)  # 201: something made
        example = next((b for b in code_blocks(text) if b.startswith("curl ")), "")
        # A <path:...> converter takes several segments, any other one.
        url = re.sub(r"<path:[^>]+>", "[^ ?']+", path)
        url = re.sub(r"<[^>]+>", "[^/ ?']+", url)
        assert re.search(rf"https://isv\.example\.com{url}[ ?'\\]", example + " "), (method, path)
        if list(sections.values()).count(text) == 1:  # a section of one method
            assert ("-X POST" in example) == (method == "POST"), (method, path)
        assert "Authorization: Bearer $KEY" in example, (method, path)


def _values(node: ast.AST, kind: type) -> set:
    """The values an argument can take: a literal, or either branch of `a if test else b`."""
    if isinstance(node, ast.IfExp):
        return _values(node.body, kind) | _values(node.orelse, kind)
    if isinstance(node, ast.Constant) and type(node.value) is kind:
        return {node.value}
    return set()


def calls(name: str, paths) -> list[ast.Call]:
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == name:
                found.append(node)
    return found


def api_error_codes() -> dict[str, set[int]]:
    """Every error code the token API can answer -> its possible statuses, read from the code:
    the routes' ApiError(status, code, ...), every TokenUnavailable(code, message, status), and
    the HTTP errors Werkzeug raises under /api/ (routing, a body too large, a bug)."""
    from werkzeug.exceptions import (
        InternalServerError,
        MethodNotAllowed,
        NotFound,
        RequestEntityTooLarge,
    )

    from suite_server.models.tenants import STATUSES

    codes: dict[str, set[int]] = {}
    for call in calls("ApiError", sorted((ROOT / "suite_server" / "api").glob("*.py"))):
        status, code = call.args[0], call.args[1]
        codes.setdefault(code.value, set()).add(status.value)
    for call in calls("TokenUnavailable", sorted((ROOT / "suite_server").rglob("*.py"))):
        first = call.args[0]
        if isinstance(first, ast.JoinedStr):  # f"tenant_{tenant.status}"
            prefix = first.values[0].value
            assert prefix == "tenant_", "teach tests/test_docs.py this TokenUnavailable code"
            names = {f"tenant_{status}" for status in STATUSES if status != "active"}
        else:
            names = _values(first, str)
            assert names, "teach tests/test_docs.py this TokenUnavailable code"
        status = (
            call.args[2]
            if len(call.args) > 2
            else next((k.value for k in call.keywords if k.arg == "http_status"), None)
        )
        statuses = _values(status, int) if status is not None else {503}
        for name in names:
            codes.setdefault(name, set()).update(statuses)
    for error in (NotFound, MethodNotAllowed, RequestEntityTooLarge, InternalServerError):
        codes.setdefault(error().name.lower().replace(" ", "_"), set()).add(error.code)
    return codes


def test_api_md_errors_table_is_every_code_the_api_answers():
    text = API.read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \|", section(text, "## Errors"), re.MULTILINE)
    documented = {code: int(status) for status, code in rows}
    assert len(documented) == len(rows), "a code is listed twice"
    codes = api_error_codes()
    assert set(codes) - set(documented) == set(), "answered by the API, not in docs/api.md"
    assert set(documented) - set(codes) == set(), "in docs/api.md, never answered"
    wrong = {
        code: (status, codes[code])
        for code, status in documented.items()
        if status not in codes[code]
    }
    assert wrong == {}, "documented with a status the code does not use"
    # The endpoint sections name only codes that exist.
    for text in api_sections().values():
        for status, code in re.findall(r"`(\d{3}) ([a-z_]+)`", text):
            assert documented.get(code) == int(status), (status, code)


# -- docs/callbacks.md against the routes and the refusals ------------------------------------

CALLBACKS = DOCS / "callbacks.md"


def test_callbacks_md_lists_every_callback_url_with_its_methods(routes):
    def normal(url: str) -> str:
        return re.sub(r"<[^>]+>", "<>", url)

    served: dict[str, set[str]] = {}
    for method, rule in endpoints(routes, "callbacks"):
        choices = re.search(r"<any\(([^)]*)\):\w+>", rule)
        for choice in [c.strip() for c in choices.group(1).split(",")] if choices else [None]:
            url = rule.replace(choices.group(0), choice) if choice else rule
            served.setdefault(normal(url), set()).add(method)
    text = section(CALLBACKS.read_text(encoding="utf-8"), "## The URLs")
    documented: dict[str, set[str]] = {}
    for url, methods in re.findall(r"^\| `(/callback/[^`]+)` \| ([^|]+) \|", text, re.MULTILINE):
        documented[normal(url)] = set(re.findall(r"\b(GET|POST)\b", methods))
    assert documented == served


def test_callbacks_md_refusals_are_the_ones_the_code_answers():
    code: set[tuple[int, str]] = set()
    for call in calls("BadCallback", sorted((ROOT / "suite_server").rglob("*.py"))):
        status, reason = call.args
        if isinstance(reason, ast.JoinedStr):  # f"malformed XML: {exc}"
            texts = {reason.values[0].value + "..."}
        else:  # a literal, or either branch of `a if test else b`
            texts = _values(reason, str)
            assert texts, "teach tests/test_docs.py this BadCallback reason"
        code.update((status.value, text) for text in texts)
    table = section(CALLBACKS.read_text(encoding="utf-8"), "## Refusals")
    documented = {(int(s), r) for s, r in re.findall(r"^\| (\d{3}) \| `([^`]+)` \|", table, re.M)}

    def covers(doc: str, reason: str) -> bool:
        return doc == reason or (doc.endswith("...") and reason.startswith(doc[:-3]))

    missing = {(s, r) for s, r in code if not any(s == ds and covers(d, r) for ds, d in documented)}
    assert missing == set(), "refused by the code, not in docs/callbacks.md"
    extra = {(s, d) for s, d in documented if not any(s == cs and covers(d, r) for cs, r in code)}
    assert extra == set(), "in docs/callbacks.md, never answered"


# -- docs/cli.md against the command tree ------------------------------------------------------

CLI = DOCS / "cli.md"


def commands() -> dict[tuple[str, ...], click.Command]:
    from suite_server.cli import cli

    found: dict[tuple[str, ...], click.Command] = {}

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        else:
            found[path] = command

    walk(cli, ())
    return found


def cli_sections() -> dict[tuple[str, ...], tuple[list[str], str]]:
    """(command words) -> (argument names, the section's text), from the ### headings."""
    text = CLI.read_text(encoding="utf-8")
    found = {}
    for match in re.finditer(r"^### `suite-server ([^`]+)`$", text, flags=re.MULTILINE):
        words = match.group(1).split()
        path = tuple(w for w in words if re.fullmatch(r"[a-z][a-z-]*", w))
        arguments = [w for w in words if re.fullmatch(r"[A-Z][A-Z_]*", w)]
        assert len(path) + len(arguments) == len(words), f"odd heading {match.group(0)!r}"
        assert words == [*path, *arguments], f"arguments come last: {match.group(0)!r}"
        assert path not in found, f"{path} documented twice"
        found[path] = (arguments, section(text, match.group(0)))
    return found


def test_cli_md_documents_every_command_and_no_other():
    documented, real = set(cli_sections()), set(commands())
    assert real - documented == set(), "commands not in docs/cli.md"
    assert documented - real == set(), "in docs/cli.md, but no such command"


def test_cli_md_documents_every_argument_and_option_of_each_command():
    real = commands()
    for path, (arguments, text) in cli_sections().items():
        command = real[path]
        assert arguments == [
            p.human_readable_name for p in command.params if isinstance(p, click.Argument)
        ], path
        options = {
            name
            for p in command.params
            if isinstance(p, click.Option)
            for name in (*p.opts, *p.secondary_opts)
            if name.startswith("--")
        }
        documented = set(re.findall(r"^\| `(--[a-z-]+)[ `]", text, flags=re.MULTILINE))
        assert documented == options, path
        if not options:
            assert "No options." in text, f"{path}: say 'No options.'"
        for name in documented:  # "required:" exactly where the program requires it
            option = next(p for p in command.params if name in getattr(p, "opts", ()))
            row = re.search(rf"^\| `{name}[^|]*\| (.*)$", text, flags=re.MULTILINE).group(1)
            assert row.startswith("required") == bool(option.required), (path, name)
