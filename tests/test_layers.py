"""The architecture of docs/ARCHITECTURE.md, checked on the code's imports.

The rules live in one place, pyproject.toml's [tool.importlinter] contracts (layers with
no way back up, so no import circle; who may import sqlalchemy, typer, rich, matplotlib;
the store apart from torch and the models; the training stack apart from the store), and
this test runs ``lint-imports`` on them, lazy (function-level) imports included.
"""

from __future__ import annotations

import ast
import re
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


MAX_FUNCTION_LINES = 80  # a function longer than a screen and a half holds two steps


def function_lengths(root: Path) -> dict[str, int]:
    """Every function and method under ``root`` (nested ones too), as ``path::name``,
    with its length in lines from ``def`` to its last line (the longest, where a file
    defines a name twice)."""
    lengths: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                key = f"{path.relative_to(root.parent).as_posix()}::{node.name}"
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                lengths[key] = max(n, lengths.get(key, 0))
    return lengths


def test_no_function_is_over_80_lines() -> None:
    lengths = function_lengths(REPO / "ngramlm")
    over = {f: n for f, n in lengths.items() if n > MAX_FUNCTION_LINES}
    assert not over, "shorten these functions (at most 80 lines each): " + ", ".join(
        f"{f} ({n} lines)" for f, n in over.items()
    )


def test_the_function_length_check_measures_def_to_last_line(tmp_path: Path) -> None:
    """The measure itself: a decorated 81-line function is over, an 80-line one is not,
    and a nested function counts on its own."""
    body = "".join(f"    x{i} = {i}\n" for i in range(79))
    src = f"@staticmethod\ndef long():\n{body}    return 1\n\ndef short():\n{body}\n"
    src += "def outer():\n    def inner():\n        return 2\n    return inner\n"
    (tmp_path / "m.py").write_text(src, encoding="utf-8")
    lengths = function_lengths(tmp_path)
    expected = {"long": 81, "short": 80, "outer": 4, "inner": 2}
    assert lengths == {f"{tmp_path.name}/m.py::{name}": n for name, n in expected.items()}


# --- tests share setup through tests/helpers.py and conftest.py --------------------------

CROSS_IMPORT = re.compile(r"^\s*(from\s+(tests)?\.test_\w*\s+import|import\s+tests\.test_)", re.M)


def test_no_test_module_imports_another() -> None:
    """Setup two test files need lives in tests/helpers.py (or a conftest.py fixture):
    importing a test module runs its module-level code and ties the two together."""
    crossing = [
        p.name for p in sorted((REPO / "tests").glob("*.py")) if CROSS_IMPORT.search(p.read_text())
    ]
    assert not crossing, f"import shared setup from tests/helpers.py instead: {crossing}"
    # the pattern itself (spelled in two parts, so that this file does not match it)
    crossings = ("    from ." + "test_train import StopAt", "import tests." + "test_api",
                 "from tests." + "test_words import corpus")  # fmt: skip
    for line in crossings:
        assert CROSS_IMPORT.search(line + "\n"), line
    assert not CROSS_IMPORT.search("from .helpers import age_heartbeat\n")


# --- the inner loop ----------------------------------------------------------------------

# Test modules that are one long scenario: all their tests are slow, none is in the loop.
ALL_SLOW = {
    "tests/test_full_disk.py": "a run that fills a real disk, then resumes (~45 s)",
    "tests/test_install.py": "builds the wheel, installs it and torch into a fresh venv",
    "tests/test_reliability.py": "runs SIGKILLed at random moments, many worker processes",
    "tests/test_workers.py": "sweeps whose worker processes or parent are killed",
}


def test_the_inner_loop_leaves_out_only_slow_tests_and_keeps_every_module() -> None:
    """``nox -s tests -- -m "not slow"`` (docs/ARCHITECTURE.md, Developing): the session
    hands what follows ``--`` to pytest, the marker leaves some tests out, and every test
    module but the ones in ALL_SLOW keeps tests in the loop."""
    nox = (REPO / "noxfile.py").read_text(encoding="utf-8")
    start = nox.index("def tests(")
    session = nox[start : nox.index("@nox.session", start)]
    assert 'session.run("pytest"' in session and "*session.posargs" in session, session
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist",
         "-p", "no:cacheprovider", "-m", "not slow"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\d+/\d+ tests collected \([1-9]\d* deselected\)", done.stdout), done.stdout
    kept = {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "tests").glob("test_*.py")}
    left_out = sorted(modules - kept - set(ALL_SLOW))
    assert not left_out, f"keep a fast test of these in the loop (or list in ALL_SLOW): {left_out}"
    assert not kept & set(ALL_SLOW), f"take these off ALL_SLOW: {sorted(kept & set(ALL_SLOW))}"


# --- nothing outside the families names one ---------------------------------------------

# The store's default `model` column for rows written before there were families.
NAMES_A_FAMILY_ON_PURPOSE = {
    ("ngramlm/store/records.py", "mlp"),
    ("ngramlm/store/tables.py", "mlp"),
}


def test_no_module_outside_the_families_names_one() -> None:
    """docs/ARCHITECTURE.md: callers ask the interface and never test a family's name, so
    a new family needs no edit outside ``models/``. A string constant equal to a
    ``--model`` name anywhere else (a dict key aside: ``--json``'s field names) fails."""
    from ngramlm.models import FAMILIES

    found = set()
    for path in sorted((REPO / "ngramlm").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith("ngramlm/models/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        keys = {id(k) for d in ast.walk(tree) if isinstance(d, ast.Dict) for k in d.keys}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in FAMILIES and id(node) not in keys:
                found.add((rel, node.value))
    assert found == NAMES_A_FAMILY_ON_PURPOSE
