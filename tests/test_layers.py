"""The architecture of docs/ARCHITECTURE.md, checked on the code's imports.

The contracts live in pyproject.toml's [tool.importlinter] and ``lint-imports`` checks
them (``nox -s tests`` runs it too); the AST checks below say the same rules a second way,
file by file, so a failure names the line to look at even without import-linter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "ngramlm"


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def files() -> dict[str, set[str]]:
    return {p.relative_to(REPO).as_posix(): imports(p) for p in PACKAGE.rglob("*.py")}


def offenders(rule: str, allowed: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{f} imports {m}"
        for f, mods in files().items()
        for m in mods
        if (m == rule or m.startswith(rule + ".")) and not f.startswith(allowed)
    )


def test_only_the_store_imports_sqlalchemy_and_alembic() -> None:
    assert offenders("sqlalchemy", ("ngramlm/store/",)) == []
    assert offenders("alembic", ("ngramlm/store/",)) == []


def test_only_the_cli_imports_typer_and_rich() -> None:
    assert offenders("typer", ("ngramlm/cli/",)) == []
    assert offenders("rich", ("ngramlm/cli/",)) == []


def test_only_plots_imports_matplotlib() -> None:
    assert offenders("matplotlib", ("ngramlm/plots.py",)) == []


def test_the_store_knows_nothing_of_torch_models_or_the_cli() -> None:
    for mods in (m for f, m in files().items() if f.startswith("ngramlm/store/")):
        assert not any(m.startswith(("torch", "ngramlm.models", "ngramlm.cli", "ngramlm.train",
                                     "ngramlm.runner")) for m in mods)  # fmt: skip


def test_report_and_plots_take_records_not_the_store() -> None:
    for f in ("ngramlm/report.py", "ngramlm/plots.py"):
        mods = files()[f]
        assert not any(m in ("ngramlm.store", "ngramlm.store.store") for m in mods), f
        assert not any(m.startswith(("torch", "ngramlm.train", "ngramlm.runner")) for m in mods), f


def test_the_core_does_not_import_the_cli() -> None:
    assert offenders("ngramlm.cli", ("ngramlm/cli/", "ngramlm/__main__.py")) == []


def test_the_training_stack_does_not_touch_the_store() -> None:
    """The loop, the steps and the models see tensors; ngramlm.runner is the store glue."""
    stack = ("train", "fast", "batched", "lrfind", "checkpoint", "sampling", "evaluation", "data")
    in_stack = (*(f"ngramlm/{m}.py" for m in stack), "ngramlm/models/")
    assert not [
        f"{f} imports {m}"
        for f, mods in files().items()
        if f.startswith(in_stack)
        for m in mods
        if m == "ngramlm.store" or m.startswith("ngramlm.store.")
    ]


def test_the_import_contracts_hold() -> None:
    """Every contract in pyproject.toml's [tool.importlinter], lazy imports included."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
