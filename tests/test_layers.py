"""The architecture of docs/ARCHITECTURE.md, checked on the code's imports.

The rules live in one place, pyproject.toml's [tool.importlinter] contracts (layers with
no way back up, so no import circle; who may import sqlalchemy, typer, rich, matplotlib;
the store apart from torch and the models; the training stack apart from the store), and
this test runs ``lint-imports`` on them, lazy (function-level) imports included.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import REPO


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- small files, one job each ---------------------------------------------------------

MAX_LINES = 400  # STYLE.md: past ~300 lines a module usually holds two ideas
# Modules not split yet, each with why; a module on this list that shrinks under the
# limit fails the test until it is taken off, so the list only gets shorter.
TOO_LONG: dict[str, str] = {}


def test_no_module_is_over_400_lines() -> None:
    lengths = {
        p.relative_to(REPO).as_posix(): len(p.read_text().splitlines())
        for p in sorted((REPO / "ngramlm").rglob("*.py"))
    }
    over = {p: n for p, n in lengths.items() if n > MAX_LINES and p not in TOO_LONG}
    assert not over, "split these modules (at most 400 lines each): " + ", ".join(
        f"{p} ({n} lines)" for p, n in over.items()
    )
    shrunk = [p for p in TOO_LONG if lengths.get(p, 0) <= MAX_LINES]
    assert not shrunk, f"take these off TOO_LONG in tests/test_layers.py: {shrunk}"


def test_architecture_names_every_module() -> None:
    """docs/ARCHITECTURE.md's module tree is the package's picture: a module it does not
    name (a new file, or a renamed one) fails here until the tree says where it sits."""
    tree = (REPO / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    tree = tree[tree.index("## Modules") : tree.index("## The model-family interface")]
    unnamed = [
        p.relative_to(REPO).as_posix()
        for p in sorted((REPO / "ngramlm").rglob("*.py"))
        if p.name != "__init__.py" and p.name not in tree
    ]
    assert not unnamed, f"docs/ARCHITECTURE.md's module tree does not name: {unnamed}"
