"""Commands that read or prepare never import torch: each runs in a fresh interpreter
through ``ngramlm.cli.main`` and reports which heavy modules it loaded. (``report RUN``
samples from the run's checkpoint, so it loads the model, and torch, by design.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

SCRIPT = """
import json, sys
from ngramlm.cli import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
heavy = sorted(m for m in ("torch", "matplotlib", "numpy") if m in sys.modules)
print("\\n@@" + json.dumps({"code": code, "heavy": heavy}), flush=True)
"""


def loaded(*args: str | Path) -> dict:
    """Run ``ngramlm ARGS`` in a fresh interpreter; its exit code and heavy imports."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    tail = result.stdout.rsplit("@@", 1)
    assert len(tail) == 2, result.stdout + result.stderr
    return json.loads(tail[1])


@pytest.fixture
def store_with_runs(cli, sqlite_url: str, words_file: Path) -> str:
    """A store with a network run, a count run and a two-point sweep."""
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    for args in (
        ("--steps", "20", "--n-hidden", "8"),
        ("--model", "bigram"),
        ("--model", "kneser-ney", "--order", "3"),
    ):
        r = cli("--db", sqlite_url, "train", "--dataset", "tiny", *args, "--json")
        assert r.code == 0, r.err
    r = cli("--db", sqlite_url, "sweep", "--dataset", "tiny", "--lr-grid", "0.02,0.2",
            "--steps", "20", "--n-hidden", "8", "--json")  # fmt: skip
    assert r.code == 0, r.err
    return sqlite_url


@pytest.mark.parametrize(
    "args",
    [
        ("report",),  # the inner loop's one; the others are a subprocess each (slow)
        pytest.param(("report", "--sweep", "1"), marks=pytest.mark.slow),
        pytest.param(("report", "--compare"), marks=pytest.mark.slow),
        pytest.param(("report", "--json"), marks=pytest.mark.slow),
    ],
    ids=lambda a: " ".join(a),
)
def test_report_imports_no_torch(store_with_runs: str, args: tuple[str, ...]) -> None:
    out = loaded("--db", store_with_runs, *args)
    assert out == {"code": 0, "heavy": []}


def test_help_imports_no_torch() -> None:
    assert loaded("--help") == {"code": 0, "heavy": []}


def test_db_current_imports_no_torch(sqlite_url: str) -> None:
    assert loaded("--db", sqlite_url, "db", "current") == {"code": 0, "heavy": []}


def test_prepare_imports_no_torch(sqlite_url: str, words_file: Path) -> None:
    assert loaded("--db", sqlite_url, "prepare", words_file) == {"code": 0, "heavy": []}
