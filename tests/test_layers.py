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
