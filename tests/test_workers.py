"""Sweep worker processes: started so that they never re-run the caller's script, dying
with their parent, and a parent that notices a dead worker at once (issue 22)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ngramlm.store import Store

from .conftest import count_rows
from .helpers import TINY_ARGS

ROOT = Path(__file__).resolve().parents[1]


def _env(url: str) -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "NGRAMLM_DB": url, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (a dead child nobody reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _query(url: str, sql: str) -> list[sa.Row]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if "runs" not in sa.inspect(conn).get_table_names():
                return []
            return list(conn.execute(sa.text(sql)).all())
    finally:
        engine.dispose()


def _wait_for_checkpoints(url: str, pids: int, timeout: float = 180) -> list[int]:
    """The pids of workers that have checkpointed a run, once ``pids`` of them have."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _query(
            url,
            "SELECT DISTINCT r.pid FROM runs r JOIN checkpoints c ON c.run_id = r.id "
            "WHERE r.status = 'running'",
        )
        if len(rows) >= pids:
            return [r.pid for r in rows]
        time.sleep(0.1)
    raise AssertionError(f"{pids} workers never checkpointed")


SCRIPT = """
import ngramlm

exp = ngramlm.open_store({url!r})
ds = exp.prepare({words!r}, name="tiny")
tiny = dict(n_embd=4, n_hidden=16, batch_size=16, steps=50)
exp.train(ds, preset="default", threads=1, **tiny)
exp.sweep(ds, lr_grid=[0.05, 0.1, 0.2], workers=2, **tiny)
print("script done")
"""


@pytest.mark.slow
def test_a_script_without_a_main_guard_sweeps_once(
    tmp_path: Path, sqlite_url: str, words_file: Path
) -> None:
    """Workers started from a plain script do not run the script again (old: each
    spawned worker re-ran it, wrote one more run and sweep, died; the script exited 0)."""
    script = tmp_path / "experiment.py"
    script.write_text(SCRIPT.format(url=sqlite_url, words=str(words_file)))
    r = subprocess.run(
        [sys.executable, str(script)],
        env=_env(sqlite_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("script done") == 1
    assert "Traceback" not in r.stderr, r.stderr
    assert count_rows(sqlite_url, "datasets") == 1
    assert count_rows(sqlite_url, "sweeps") == 1
    assert count_rows(sqlite_url, "runs") == 4  # the script's run + the sweep's 3 points
    statuses = _query(sqlite_url, "SELECT status FROM runs")
    assert [s.status for s in statuses] == ["finished"] * 4
    points = _query(sqlite_url, "SELECT run_id FROM sweep_points")
    assert len(points) == 3 and None not in {p.run_id for p in points}


def _start_sweep(url: str, words_file: Path, *extra: str) -> subprocess.Popen[str]:
    env = _env(url)
    subprocess.run(
        [sys.executable, "-m", "ngramlm", "prepare", str(words_file), "--name", "tiny"],
        env=env,
        check=True,
        capture_output=True,
    )
    cmd = [sys.executable, "-m", "ngramlm", "sweep", "--dataset", "tiny"]
    cmd += ["--lr-grid", "0.05,0.1,0.2,0.3", "--steps", "20000", "--eval-every", "200"]
    cmd += [*TINY_ARGS, "--workers", "2", *extra, "--json"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_workers_stop_when_their_parent_is_killed(sqlite_url: str, words_file: Path) -> None:
    """SIGKILL of the sweep's parent: its workers stop within seconds (old: they went on
    alone, reparented, training every point), marking their points killed; resume
    finishes every point."""
    parent = _start_sweep(sqlite_url, words_file)
    try:
        workers = _wait_for_checkpoints(sqlite_url, 2)
        os.kill(parent.pid, signal.SIGKILL)
        parent.communicate(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), "workers outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        for p in workers if "workers" in locals() else []:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
    before = _query(sqlite_url, "SELECT id, status, steps_done FROM runs ORDER BY id")
    time.sleep(2)
    after = _query(sqlite_url, "SELECT id, status, steps_done FROM runs ORDER BY id")
    assert before == after  # nothing trains on
    assert before and {r.status for r in before} == {"killed"}
    assert all(r.steps_done < 20000 for r in before)
    with Store(sqlite_url) as store:
        sweep_id = store.runs()[0].sweep_id
    r = subprocess.run(
        [sys.executable, "-m", "ngramlm", "sweep", "--resume", str(sweep_id), "--json"],
        env=_env(sqlite_url),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["finished"] == 4
    assert {x.id for x in before} <= {x["run"] for x in data["runs"]}  # the killed ones resumed
    assert count_rows(sqlite_url, "runs") == 4


@pytest.mark.slow
def test_a_dead_worker_fails_the_sweep_at_once(sqlite_url: str, words_file: Path) -> None:
    """SIGKILL of one worker: its points read crashed at once (old: running for a
    minute), the other worker finishes its own, and the parent exits non-zero saying how
    many points are left (old: it printed "finished" and exited 0)."""
    parent = _start_sweep(sqlite_url, words_file)
    try:
        victim = _wait_for_checkpoints(sqlite_url, 1)[0]
        os.kill(victim, signal.SIGKILL)
        out, err = parent.communicate(timeout=600)
    finally:
        if parent.poll() is None:
            parent.kill()
    assert parent.returncode == 1, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    with Store(sqlite_url) as store:
        runs = store.runs()
        sweep_id = runs[0].sweep_id
        crashed = [r for r in runs if r.pid == victim]
        assert crashed and {r.status for r in crashed} == {"crashed"}
        left = 4 - sum(r.status == "finished" for r in runs)
    assert f"{left} of 4 points left" in lines[0]
    assert "SIGKILL" in lines[0] and f"--resume {sweep_id}" in lines[0]
    assert json.loads(out)["finished"] == 4 - left
    r = subprocess.run(
        [sys.executable, "-m", "ngramlm", "sweep", "--resume", str(sweep_id), "--json"],
        env=_env(sqlite_url),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["finished"] == 4
    assert count_rows(sqlite_url, "runs") == 4
