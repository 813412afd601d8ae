"""The layering of pyproject.toml's import-linter contracts holds, and would catch a new
back-edge: an import pointing up the data's path (see README "Map of the code")."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = [
    sys.executable,
    "-c",
    "from importlinter.cli import lint_imports_command; lint_imports_command()",
]


def lint(tree: Path) -> subprocess.CompletedProcess:
    """lint-imports over the package found first in `tree` (a copy, or the checkout)."""
    return subprocess.run(
        [*LINT, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_every_contract_is_kept():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_an_import_up_the_layers_breaks_the_contract(tmp_path):
    # A copy of the package where the database layer imports the token service: the kind of
    # shortcut that put the processing hub below the intake before the structure step.
    shutil.copytree(ROOT / "suite_server", tmp_path / "suite_server")
    db = tmp_path / "suite_server" / "db.py"
    db.write_text(db.read_text() + "\nfrom suite_server.tokens import service  # noqa\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "suite_server.db is not allowed to import suite_server.tokens" in result.stdout
