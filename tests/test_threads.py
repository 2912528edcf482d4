"""The thread policy (ngramlm.runtime) with explicit inputs, and the commands
that use it: train, train --resume, lr-find and sweep (issues 19 and 22)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import torch

from ngramlm.models import preset_config
from ngramlm.runtime import (
    MAX_BATCH,
    MIN_WORKER_FLOP,
    SMALL_STEP_FLOP,
    Machine,
    cgroup_quota,
    plan_sweep,
    run_threads,
    step_flop,
)

from .conftest import count_rows

BIG = 10 * SMALL_STEP_FLOP


@pytest.mark.parametrize(
    ("machine", "usable", "free"),
    [
        (Machine(affinity=8), 8, 8),
        (Machine(affinity=8, quota=2.0), 2, 2),
        (Machine(affinity=8, quota=1.5), 1, 1),  # a part of a core does not make a thread
        (Machine(affinity=8, quota=0.5), 1, 1),
        (Machine(affinity=2, quota=4.0), 2, 2),
        (Machine(affinity=2, busy=2.0), 2, 1),  # a busy-loop on every core
        (Machine(affinity=2, busy=1.0), 2, 1),
        (Machine(affinity=2, busy=0.2), 2, 2),
        (Machine(affinity=16, quota=4.0, busy=3.0), 4, 1),
    ],
)
def test_usable_and_free_cores(machine: Machine, usable: int, free: int) -> None:
    assert machine.usable == usable
    assert machine.free == free


def test_small_models_take_one_thread_large_ones_the_free_cores() -> None:
    assert step_flop(preset_config("lecture", {}, 27)) < SMALL_STEP_FLOP
    assert step_flop(preset_config("best", {}, 27)) >= SMALL_STEP_FLOP
    assert run_threads(1e6, Machine(affinity=64)) == 1
    assert run_threads(BIG, Machine(affinity=64)) == 64
    assert run_threads(BIG, Machine(affinity=64, quota=3.0)) == 3
    assert run_threads(BIG, Machine(affinity=2, busy=1.9)) == 1  # the loaded 2-core machine
    assert run_threads(BIG, Machine(affinity=2, busy=0.1)) == 2  # the idle one
    assert run_threads(BIG, Machine(affinity=8, omp=2)) == 2  # OMP_NUM_THREADS caps


@pytest.mark.parametrize(
    ("flop", "points", "batch", "machine", "given", "plan"),
    [
        # separate points: a single-threaded worker a core, at most one a point
        (1e6, 8, 0, Machine(2), {}, (2, 1, MAX_BATCH)),
        (1e6, 1, 0, Machine(2), {}, (1, 1, MAX_BATCH)),
        (1e6, 8, 0, Machine(8, quota=3.0), {}, (3, 1, MAX_BATCH)),
        # a large model's worker takes the cores left over when points are few
        (BIG, 8, 0, Machine(4), {}, (4, 1, MAX_BATCH)),
        (BIG, 2, 0, Machine(4), {}, (2, 2, MAX_BATCH)),
        (BIG, 1, 0, Machine(4), {}, (1, 4, MAX_BATCH)),
        # batched points are shared evenly by the workers, MAX_BATCH a model at most
        (1e6, 8, 8, Machine(2), {}, (2, 1, 4)),
        (1e6, 3, 3, Machine(2), {}, (2, 1, 2)),
        (1e6, 40, 40, Machine(2), {}, (2, 1, MAX_BATCH)),
        # the user's workers or threads, the rest chosen around them
        (1e6, 8, 0, Machine(4), {"threads": 2}, (2, 2, MAX_BATCH)),
        (1e6, 8, 0, Machine(2), {"threads": 4}, (1, 4, MAX_BATCH)),
        (BIG, 8, 0, Machine(4), {"workers": 2}, (2, 2, MAX_BATCH)),
        (1e6, 8, 8, Machine(4), {"workers": 1}, (1, 1, MAX_BATCH)),
        (BIG, 8, 8, Machine(4), {"workers": 0}, (0, 4, MAX_BATCH)),  # in this process
        # a worker only where it has enough work to pay for its start
        (1e6, 8, 0, Machine(4), {"work": 0.5 * MIN_WORKER_FLOP}, (1, 1, MAX_BATCH)),
        (1e6, 8, 0, Machine(4), {"work": 2.5 * MIN_WORKER_FLOP}, (2, 1, MAX_BATCH)),
        (1e6, 8, 8, Machine(4), {"work": 100 * MIN_WORKER_FLOP}, (4, 1, 2)),
        (1e6, 8, 0, Machine(4), {"work": 0.0, "workers": 3}, (3, 1, MAX_BATCH)),
    ],
)
def test_sweep_plan(
    flop: float, points: int, batch: int, machine: Machine, given: dict, plan: tuple
) -> None:
    p = plan_sweep(flop, points, batch, machine, **given)
    assert (p.workers, p.threads, p.batch_size) == plan


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "200000 100000\n"}, 2.0),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3.0),
        ({"cpu,cpuacct/cpu.cfs_quota_us": "50000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 0.5),
        ({}, None),
        ({"cpu.max": "garbage"}, None),
    ],
)
def test_cgroup_quota(tmp_path: Path, files: dict[str, str], quota: float | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cgroup_quota(tmp_path) == quota


class ThreadsSeen:
    """A progress display that notes torch's thread count when training starts."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def start(self, run: object, total: int, initial: int) -> None:
        self.threads.append(torch.get_num_threads())

    def update(self, step: int, batch_loss: float, elapsed_s: float) -> None: ...

    def evaluated(self, point: object) -> None: ...

    def stop(self) -> None: ...


def test_resume_picks_threads_as_train_does(sqlite_url: str, words_file: Path) -> None:
    """``train --resume`` chose no threads (torch's, whatever they were); now the
    policy's, as ``train``: one for this small model."""
    import ngramlm

    before = torch.get_num_threads()
    with ngramlm.open_store(sqlite_url) as exp:
        ds = exp.prepare(words_file, name="tiny")
        run = exp.train(ds, steps=40, n_embd=4, n_hidden=8, threads=1).run
        engine = sa.create_engine(sqlite_url)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE runs SET status='killed' WHERE id=:i"), {"i": run.id})
        engine.dispose()
        seen = ThreadsSeen()
        torch.set_num_threads(3)
        try:
            resumed = exp.resume(run, progress=seen)  # type: ignore[arg-type]
        finally:
            torch.set_num_threads(before)
    assert resumed.run.status == "finished"
    assert seen.threads == [1]


def test_lr_find_picks_threads_as_train_does(
    sqlite_url: str, words_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ngramlm
    from ngramlm.training import lrfind

    seen: list[int] = []
    real = lrfind.range_test

    def noting(*args: object, **kwargs: object) -> list[float]:
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lrfind, "range_test", noting)
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        with ngramlm.open_store(sqlite_url) as exp:
            exp.lr_find(exp.prepare(words_file, name="tiny"), steps=20, n_hidden=8)
    finally:
        torch.set_num_threads(before)
    assert seen == [1]


@pytest.mark.slow  # a sweep with worker processes
def test_sweep_takes_threads_per_worker(cli, sqlite_url: str, words_file: Path) -> None:
    """``sweep --threads 1`` was refused (No such option)."""
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    r = cli(
        "--db", sqlite_url, "sweep", "--dataset", "tiny", "--lr-grid", "0.1,0.2",
        "--steps", "20", "--n-embd", "4", "--n-hidden", "8", "--threads", "1", "--workers", "1",
        "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert json.loads(r.out)["finished"] == 2


def test_sweep_refuses_bad_threads(cli, sqlite_url: str, words_file: Path) -> None:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    r = cli("--db", sqlite_url, "sweep", "--dataset", "tiny", "--lr-grid", "0.1", "--threads", "0")
    assert r.code == 2 and "--threads" in r.err and len(r.err.strip().splitlines()) == 1
    assert count_rows(sqlite_url, "sweeps") == 0


@pytest.mark.slow
def test_the_threads_benchmark_runs_at_smoke_size(tmp_path: Path, words_file: Path) -> None:
    """benchmarks/threads.py end to end with tiny settings: every arm on both machines,
    the CPU line and the verdict printed, the measurements written."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "threads.json"
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks.threads", "--words", str(words_file),
         "--steps", "30", "--sweep-steps", "10", "--points", "2", "--json", str(out)],
        cwd=root, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("CPU: ") and "default within 10% of the best" in r.stdout
    rows = json.loads(out.read_text())["rows"]
    assert {(x["load"], x["work"]) for x in rows} == {
        (load, work) for load in ("idle", "loaded") for work in ("train best", "sweep")
    }
    assert len(rows) == 2 * (3 + 4)
