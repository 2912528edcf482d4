"""The store never lies and never loses a run: SIGKILL at random moments, many workers,
readers while they write.

``NGRAMLM_KILL_TRIALS`` sets how many kills to try (CI: 3)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ngramlm.store import Store

from .helpers import age_heartbeat

KILL_TRIALS = int(os.environ.get("NGRAMLM_KILL_TRIALS", "3"))
TRAIN = ["--dataset", "tiny", "--n-embd", "4", "--n-hidden", "16", "--batch-size", "16",
         "--steps", "3000", "--eval-every", "150", "--threads", "1"]  # fmt: skip


def ngramlm(url: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NGRAMLM_DB": url}
    return subprocess.run([sys.executable, "-m", "ngramlm", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def curve(url: str, run_id: int) -> list[tuple]:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    rows = conn.execute(
        "SELECT step, train_loss, dev_loss, batch_loss FROM metrics WHERE run_id = ? ORDER BY step",
        (run_id,),
    ).fetchall()
    conn.close()
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(KILL_TRIALS))
def test_sigkill_at_a_random_moment_then_resume(
    sqlite_url: str, words_file: Path, trial: int
) -> None:
    assert ngramlm(sqlite_url, "prepare", str(words_file), "--name", "tiny").returncode == 0
    full = ngramlm(sqlite_url, "train", *TRAIN, "--json")
    assert full.returncode == 0, full.stderr
    reference = json.loads(full.stdout)
    env = {**os.environ, "NGRAMLM_DB": sqlite_url}
    proc = subprocess.Popen([sys.executable, "-m", "ngramlm", "train", *TRAIN, "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    db = sqlite_url.removeprefix("sqlite:///")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the run exists
        conn = sqlite3.connect(db)
        started = conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
        conn.close()
        if started:
            break
        time.sleep(0.02)
    time.sleep(random.Random(trial).uniform(0.0, 2.0))
    conn = sqlite3.connect(db)
    before = conn.execute("SELECT count(*) FROM metrics WHERE run_id = 2").fetchone()[0]
    conn.close()
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    after, status = conn.execute(
        "SELECT (SELECT count(*) FROM metrics WHERE run_id = 2), status FROM runs WHERE id = 2"
    ).fetchone()
    conn.close()
    assert after >= before  # nothing flushed before the kill was lost
    assert curve(sqlite_url, 2) == curve(sqlite_url, 1)[:after]  # and it is what it should be
    if status == "running":  # killed mid-run: it reads as crashed once its heartbeat is stale
        age_heartbeat(sqlite_url, 2)
        with Store(sqlite_url) as s:
            assert s.run(2).status == "crashed"
        resumed = ngramlm(sqlite_url, "train", "--resume", "2", "--json")
        assert resumed.returncode == 0, resumed.stderr
        data = json.loads(resumed.stdout)
    else:  # the kill came after it finished
        data = json.loads(ngramlm(sqlite_url, "report", "2", "--json").stdout)
    assert data["train_loss"] == reference["train_loss"]
    assert data["dev_loss"] == reference["dev_loss"]
    assert curve(sqlite_url, 2) == curve(sqlite_url, 1)


@pytest.mark.slow
@pytest.mark.parametrize(("workers", "points"), [(8, 32)])
def test_many_workers_on_sqlite_with_a_reader(
    sqlite_url: str, words_file: Path, workers: int, points: int
) -> None:
    _many_workers(sqlite_url, words_file, workers, points)


@pytest.mark.slow
@pytest.mark.postgres
def test_many_workers_on_postgres_with_a_reader(pg_url: str, words_file: Path) -> None:
    _many_workers(pg_url, words_file, 4, 32)


def _many_workers(url: str, words_file: Path, workers: int, points: int) -> None:
    assert ngramlm(url, "prepare", str(words_file), "--name", "tiny").returncode == 0
    env = {**os.environ, "NGRAMLM_DB": url}
    lrs = f"0.01:1:{points // 2}"
    sweep = subprocess.Popen(
        [sys.executable, "-m", "ngramlm", "sweep", "--dataset", "tiny", "--lr-grid", lrs,
         "--grid", "n_hidden=8,16", "--n-embd", "4", "--steps", "150", "--workers", str(workers),
         "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    reads = 0
    while sweep.poll() is None:  # a reader in a loop while the workers write
        r = ngramlm(url, "report", "--json", timeout=120)
        assert r.returncode == 0, r.stderr
        reads += 1
    out, err = sweep.communicate()
    assert sweep.returncode == 0, err
    assert "locked" not in err.lower()
    data = json.loads(out)
    assert data["finished"] == points and len(data["runs"]) == points
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        run_ids = conn.execute(sa.text("SELECT run_id FROM sweep_points")).scalars().all()
        pids = conn.execute(sa.text("SELECT count(DISTINCT pid) FROM runs")).scalar()
    engine.dispose()
    assert None not in run_ids and len(set(run_ids)) == points  # each point exactly once
    assert pids and pids > 1 and reads >= 1
