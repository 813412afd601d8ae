"""What the pages name, against the code, so a reader never types a command or a setting that
does not exist: every `suite-server ...` command a page shows (in a code span or a code block)
is one of the command tree's, with options that command takes, and every SUITE_SERVER_* variable
is a setting or a variable the code or the tests read. And a translated page (docs/zh/X.md for
docs/X.md) names the same commands, options, settings and URLs as its English page, so the two
cannot drift, and both are linked from the README and from each other."""

from __future__ import annotations

import re
from pathlib import Path

import click

from suite_server.settings import DEFAULTS, PREFIX
from tests.test_docs import DOCS, PAGES, ROOT, name, table_after

TRANSLATED = sorted((DOCS / "zh").glob("*.md"))
# A command starts a line of a code block, or follows `$(`, `&&`, `;` or `|` (a path or a
# sentence that mentions the project's name, `cd suite-server`, is not a command).
_START = re.compile(r"(?:^|\$\(|&&|;|\|)\s*suite-server(?= |$)", re.MULTILINE)
_BLOCK = re.compile(r"(?ms)^[ \t]*```[a-z]*\n(.*?)^[ \t]*```")
_STOP = {"#", "&&", "||", "|", ";"}
_SETTING = re.compile(rf"\b{PREFIX}_([A-Z0-9][A-Z0-9_]*)")
_URL = re.compile(r"https?://[^\s`)'\"，。；：、）]+|(?<=`)/[^\s`]*(?=`)")


def resolve(words: list[str], where: str) -> tuple[tuple[str, ...], set[str]]:
    """The command path that `suite-server WORDS...` runs, and the --options given to it."""
    from suite_server.cli import cli

    command: click.Command = cli
    path: list[str] = []
    options: set[str] = set()
    for word in words:
        if word in _STOP:
            break
        if word.startswith("--"):
            options.add(word.split("=", 1)[0])
        elif not options and isinstance(command, click.Group):
            if re.fullmatch(r"[A-Z][A-Z_]*", word):  # `suite-server COMMAND --help`: any one
                return tuple(path), set()
            assert word in command.commands, f"{where}: no command `{' '.join([*path, word])}`"
            command = command.commands[word]
            path.append(word)
    unknown = options - takes(command)
    assert not unknown, f"{where}: `suite-server {' '.join(path)}` takes no {sorted(unknown)}"
    return tuple(path), options


def takes(command: click.Command) -> set[str]:
    """The options of a command; of a group, those of any of its commands (`apps add
    --landing-url` names the option of `apps add wecom` and `apps add open`)."""
    found = {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
    for sub in getattr(command, "commands", {}).values():
        found |= takes(sub)
    return found


def command_lines(text: str) -> list[str]:
    """Each `suite-server ...` in a code block (continued lines joined) or a code span, from the
    word after `suite-server` on."""
    found = []
    for block in _BLOCK.findall(text):  # indented ones too, as in a list item
        block = block.replace("\\\n", " ")
        found.extend(block[m.end() :].split("\n", 1)[0] for m in _START.finditer(block))
    prose = _BLOCK.sub("", text)
    for span in re.findall(r"`([^`]+)`", prose):
        if span.startswith("suite-server "):
            found.append(span[len("suite-server") :])
    return found


def named(page: Path) -> dict[str, set]:
    """The commands, their options, the settings and the URLs a page names."""
    text = page.read_text(encoding="utf-8")
    where = str(page.relative_to(ROOT))
    commands, options = set(), set()
    for line in command_lines(text):
        path, given = resolve(line.split(), where)
        if path:
            commands.add(path)
            options.update((path, option) for option in given)
    settings = set(_SETTING.findall(text))
    settings.update(s for s in re.findall(r"`([A-Z][A-Z0-9_]*)`", text) if s in DEFAULTS)
    return {
        "commands": commands,
        "options": options,
        "settings": settings,
        "urls": {url.rstrip(".,:") for url in _URL.findall(text)},
    }


def variables_read() -> set[str]:
    """SUITE_SERVER_* names a page may use: the settings, the variables configuration.md says are
    read from the environment only, and those tests/conftest.py reads."""
    documented = {name(row["variable"]) for row in table_after("## Read from the environment only")}
    tests = (ROOT / "tests" / "conftest.py").read_text(encoding="utf-8")
    return (
        set(DEFAULTS)
        | {v.removeprefix(f"{PREFIX}_") for v in documented}
        | set(re.findall(rf'"{PREFIX}_([A-Z0-9_]+)"', tests))
    )


def test_the_pages_are_the_english_and_the_translated_ones():
    assert set(TRANSLATED) <= set(PAGES), "tests/test_docs.py must check docs/zh/ too"
    assert {p.name for p in TRANSLATED} >= {"quickstart.md", "console-setup.md", "glossary.md"}


def test_every_command_and_setting_a_page_names_exists():
    known = variables_read()
    shown = set()
    for page in PAGES:
        found = named(page)  # asserts each command and its options
        shown |= found["commands"]
        unknown = found["settings"] - known
        assert not unknown, f"{page.relative_to(ROOT)} names unknown {PREFIX}_{sorted(unknown)}"
    # The extraction finds commands at all (a broken pattern would pass everything above).
    assert {("demo",), ("apps", "add"), ("tenants", "list"), ("db", "upgrade")} <= shown


def test_a_translated_page_names_what_its_english_page_names():
    for page in TRANSLATED:
        english = DOCS / page.name
        if not english.exists():
            continue  # a page of its own (the glossary)
        ours, theirs = named(page), named(english)
        for kind in ("commands", "options", "settings", "urls"):
            assert ours[kind] == theirs[kind], (
                f"docs/zh/{page.name} and docs/{page.name} differ in {kind}: only in the "
                f"Chinese {sorted(ours[kind] - theirs[kind])}, "
                f"only in the English {sorted(theirs[kind] - ours[kind])}"
            )


def test_the_readme_and_each_english_page_link_their_chinese_version():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in TRANSLATED:
        assert f"](docs/zh/{page.name})" in readme, f"README.md does not link docs/zh/{page.name}"
        english = DOCS / page.name
        if english.exists():
            top = english.read_text(encoding="utf-8").split("\n## ", 1)[0]
            assert f"](zh/{page.name})" in top, f"docs/{page.name} does not link its Chinese page"
            assert f"](../{page.name})" in page.read_text(encoding="utf-8")
