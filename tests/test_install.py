"""A plain, non-editable install works anywhere: the migrations and the bundled word list
travel inside the wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO


@pytest.mark.slow  # builds the wheel, installs it and torch into a fresh venv
def test_wheel_installs_and_runs_from_an_empty_directory(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist),
                    str(REPO)], check=True, capture_output=True)  # fmt: skip
    (wheel,) = dist.glob("ngramlm-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ngramlm/_data/names.txt" in names
    assert "ngramlm/_migrations/env.py" in names
    assert any(n.startswith("ngramlm/_migrations/versions/0001_") for n in names)
    page = {"index.html", "style.css", "core.js", "charts.js", "runs.js", "run.js", "sweeps.js"}
    assert {f"ngramlm/web/static/{n}" for n in page} <= set(names)  # the dashboard, offline
    # A fresh virtual environment with the wheel alone (no source checkout on the path);
    # its dependencies are borrowed from this environment through a .pth file rather
    # than downloaded again.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([str(py), "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip
    Path(site, "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True)  # fmt: skip
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NGRAMLM_DB")}
    where = subprocess.run([str(py), "-c", "import ngramlm; print(ngramlm.__file__)"], cwd=empty,
                           env=env, check=True, capture_output=True, text=True).stdout  # fmt: skip
    assert where.startswith(str(venv)), where  # the installed copy, not the checkout
    ngramlm = venv / "bin" / "ngramlm"
    r = subprocess.run([str(ngramlm), "prepare", "--json"], cwd=empty, env=env,
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["dataset"] == "names"
    r = subprocess.run([str(ngramlm), "db", "current"], cwd=empty, env=env,
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0 and "up to date" in r.stdout, r.stderr
    assert (empty / "ngramlm.db").exists()
    served = "from ngramlm.web.app import assets; print(' '.join(sorted(assets())))"
    r = subprocess.run([str(py), "-c", served], cwd=empty, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and page <= set(r.stdout.split()), r.stderr
