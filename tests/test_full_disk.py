"""A full disk under the store (the default layout: ngramlm.db in the working directory)
says in one line what was lost, where the last stored checkpoint is and how to resume;
it writes no empty rescue file, and the run resumes once space is freed (issue 22).

The disk is a real one: a small tmpfs mounted for the test (root only; skipped, with the
reason, where mounting is not permitted)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ngramlm.store.records import HEARTBEAT_S

TRAIN = ["train", "--dataset", "tiny", "--n-embd", "4", "--n-hidden", "16", "--batch-size",
         "16", "--steps", "20000", "--eval-every", "1000", "--threads", "1", "--quiet"]  # fmt: skip


def ngramlm(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "NGRAMLM_DB"}  # the default store
    return subprocess.Popen([sys.executable, "-m", "ngramlm", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def stored(db: Path, sql: str) -> tuple:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return tuple(conn.execute(sql).fetchone() or ())
    finally:
        conn.close()


def fill(disk: Path) -> None:
    """Fill the disk to the last byte."""
    with (disk / "filler").open("wb", buffering=0) as f:
        try:
            while f.write(b"\0" * 4096):
                pass
        except OSError:
            pass


@pytest.mark.slow  # ~45 s: a run, a full disk, two missed heartbeats, the resumed run
def test_a_full_disk_names_the_lost_steps_the_last_checkpoint_and_the_resume(
    small_disk: Path, words_file: Path
) -> None:
    (small_disk / "words.txt").write_bytes(words_file.read_bytes())
    prep = ngramlm(small_disk, "prepare", "words.txt", "--name", "tiny")
    assert prep.wait(120) == 0, prep.communicate()[1]
    db = small_disk / "ngramlm.db"
    proc = ngramlm(small_disk, *TRAIN)
    deadline = time.monotonic() + 120
    while not stored(db, "SELECT step FROM checkpoints WHERE run_id = 1"):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
        time.sleep(0.05)
    fill(small_disk)
    _, err = proc.communicate(timeout=300)
    (step,) = stored(db, "SELECT step FROM checkpoints WHERE run_id = 1")

    assert proc.returncode != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one line, no traceback
    assert "the disk is full" in lines[0]
    assert f"the last stored checkpoint is run 1 step {step:,}" in lines[0]
    assert f"steps {step + 1:,}-" in lines[0] and "are lost" in lines[0]
    assert "free some space, then `ngramlm train --resume 1`" in lines[0]
    leftovers = [p.name for p in small_disk.iterdir() if "safetensors" in p.name]
    assert leftovers == []  # no empty (or partial) rescue checkpoint

    (small_disk / "filler").unlink()  # space freed: the run resumes where its checkpoint is
    # Its end could not be written on the full disk, so it still reads ``running``; its
    # process is gone, and once the run has missed two heartbeats a resume takes it over
    # (a run whose owner is alive, a beat ago, is refused: tests/test_ownership.py).
    (beat,) = stored(db, "SELECT heartbeat_at FROM runs WHERE id = 1")
    age = datetime.now(timezone.utc) - datetime.fromisoformat(beat).replace(tzinfo=timezone.utc)
    time.sleep(max(0.0, 2 * HEARTBEAT_S + 1 - age.total_seconds()))
    resumed = ngramlm(small_disk, "train", "--resume", "1", "--quiet")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert stored(db, "SELECT status, steps_done FROM runs WHERE id = 1") == ("finished", 20000)
