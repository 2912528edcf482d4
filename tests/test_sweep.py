"""Sweeps: grid parsing, claiming, several workers on SQLite and PostgreSQL, resume."""

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

from ngramlm.errors import InputError
from ngramlm.models import preset_config
from ngramlm.stages.grid import parse_grid, parse_lr_grid
from ngramlm.store import Store

from .conftest import count_rows
from .helpers import TINY_ARGS as TINY


def test_lr_grid_list_and_log_range() -> None:
    assert parse_lr_grid("0.01,0.1,1") == [0.01, 0.1, 1.0]
    r = parse_lr_grid("1e-3:1:7")
    assert len(r) == 7 and r[0] == pytest.approx(1e-3) and r[-1] == pytest.approx(1.0)
    assert r[3] == pytest.approx(10**-1.5, rel=1e-5)


@pytest.mark.parametrize("bad", ["", "a,b", "0.1,-1", "0,1", "1:2", "1e-3:1:0", "nan", "0.1,inf"])
def test_bad_lr_grids(bad: str) -> None:
    with pytest.raises(InputError, match="--lr-grid"):
        parse_lr_grid(bad)


def test_grid_is_typed_by_hyperparameter() -> None:
    g = parse_grid(
        ["n_hidden=100,200", "norm=none,batch", "dropout=0,0.1", "direct=true,false"],
        preset_config("default"),
    )
    assert g == {
        "n_hidden": [100, 200],
        "norm": ["none", "batch"],
        "dropout": [0.0, 0.1],
        "direct": [True, False],
    }


@pytest.mark.parametrize(
    ("items", "needle"),
    [
        (["colour=1,2"], "unknown hyperparameter 'colour'"),
        (["n_hidden=ten"], "not a valid int"),
        (["n_hidden"], "must look like KEY=V1,V2"),
        (["n_hidden=1", "n_hidden=2"], "given twice"),
    ],
)
def test_bad_grids(items: list[str], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        parse_grid(items, preset_config("default"))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--lr-grid", "0.1", "--grid", "wat=1"], "unknown hyperparameter"),
        (["--lr-grid", "0.1", "--grid", "n_hidden=0,10"], "--n-hidden must be at least 1"),
        (["--lr-grid", "x"], "--lr-grid"),
        ([], "give --lr-grid"),
        (["--lr-grid", "0.1,0.1"], "repeats a point"),
        (["--lr-grid", "0.1", "--workers", "-1"], "--workers must be between 0"),
        (["--join", "77"], "no sweep 77"),
        (["--resume", "1;DROP TABLE runs"], "sweep id"),
    ],
)
def test_bad_sweeps_write_nothing(
    cli, sqlite_url: str, words_file: Path, args: list, needle: str
) -> None:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    ds = [] if "--join" in args or "--resume" in args else ["--dataset", "tiny"]
    r = cli("--db", sqlite_url, "sweep", *ds, *args)
    assert r.code != 0 and needle in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert count_rows(sqlite_url, "sweeps") == 0 and count_rows(sqlite_url, "runs") == 0


@pytest.mark.slow
def test_lr_grid_sweep_with_two_workers_then_resume_trains_nothing(
    cli, sqlite_url: str, words_file: Path
) -> None:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    r = cli(
        "--db",
        sqlite_url,
        "sweep",
        "--dataset",
        "tiny",
        "--lr-grid",
        "0.01,0.1,1",
        "--steps",
        "200",
        "--workers",
        "2",
        *TINY,
        "--json",
    )
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["finished"] == 3
    assert sorted(run["config"]["train"]["lr"] for run in data["runs"]) == [0.01, 0.1, 1.0]
    assert all(run["status"] == "finished" for run in data["runs"])
    assert data["best_run"] == min(data["runs"], key=lambda x: x["dev_loss"])["run"]
    again = cli("--db", sqlite_url, "sweep", "--resume", str(data["sweep"]), "--json")
    assert again.code == 0, again.err
    assert count_rows(sqlite_url, "runs") == 3


@pytest.mark.slow  # trains a 2x2x2 sweep
def test_grid_times_seeds(cli, sqlite_url: str, words_file: Path) -> None:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    r = cli(
        "--db",
        sqlite_url,
        "sweep",
        "--dataset",
        "tiny",
        "--lr-grid",
        "0.1",
        "--grid",
        "n_hidden=8,16",
        "--seeds",
        "2",
        "--steps",
        "50",
        "--json",
    )
    assert r.code == 0, r.err
    configs = {
        (x["config"]["model"]["n_hidden"], x["config"]["train"]["seed"])
        for x in json.loads(r.out)["runs"]
    }
    assert configs == {(8, 42), (8, 43), (16, 42), (16, 43)}


def _points_trained_once(url: str, n_points: int) -> None:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT run_id FROM sweep_points")).scalars().all()
        statuses = conn.execute(sa.text("SELECT status FROM runs")).scalars().all()
    engine.dispose()
    assert len(rows) == n_points and None not in rows and len(set(rows)) == n_points
    assert statuses == ["finished"] * n_points


@pytest.mark.slow
def test_several_workers_each_point_exactly_once(cli, db_url: str, words_file: Path) -> None:
    assert cli("--db", db_url, "prepare", words_file).code == 0
    r = cli(
        "--db",
        db_url,
        "sweep",
        "--dataset",
        "tiny",
        "--lr-grid",
        "0.02:0.5:9",
        "--steps",
        "60",
        "--workers",
        "3",
        *TINY,
        "--json",
    )
    assert r.code == 0, r.err
    assert "locked" not in r.err
    _points_trained_once(db_url, 9)


@pytest.mark.slow
def test_join_adds_a_worker_from_another_process(cli, db_url: str, words_file: Path) -> None:
    """Two separate ``ngramlm sweep --join`` processes (as on two machines) share a sweep."""
    with Store(db_url) as store:
        from ngramlm.models import preset_config
        from ngramlm.stages import sweep as core
        from ngramlm.stages.prepare import prepare

        ds = prepare(store, words_file, "tiny", 42, unit="char").dataset
        base = preset_config("default", {"n_embd": 4, "n_hidden": 16, "steps": 60}, ds.vocab_size)
        sweep = core.create(store, ds, base, [0.05, 0.1, 0.2, 0.3, 0.4, 0.5], {}, 1, None)
    env = {**os.environ, "NGRAMLM_DB": db_url}
    cmd = [sys.executable, "-m", "ngramlm", "sweep", "--join", str(sweep.id), "--json"]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    _points_trained_once(db_url, 6)


@pytest.mark.slow
def test_killed_worker_then_resume_completes_each_point_once(
    sqlite_url: str, words_file: Path
) -> None:
    env = {**os.environ, "NGRAMLM_DB": sqlite_url}
    subprocess.run(
        [sys.executable, "-m", "ngramlm", "prepare", str(words_file), "--name", "tiny"],
        env=env,
        check=True,
        capture_output=True,
    )
    cmd = [
        sys.executable,
        "-m",
        "ngramlm",
        "sweep",
        "--dataset",
        "tiny",
        "--lr-grid",
        "0.05,0.1,0.2",
        "--steps",
        "6000",
        "--eval-every",
        "500",
        *TINY,
        "--workers",
        "1",
        "--json",
    ]
    parent = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    engine = sa.create_engine(sqlite_url)
    try:
        deadline = time.monotonic() + 120
        worker_pid = None
        while time.monotonic() < deadline and worker_pid is None:
            with engine.connect() as conn:
                if "checkpoints" in sa.inspect(conn).get_table_names():
                    worker_pid = conn.execute(
                        sa.text("SELECT r.pid FROM runs r JOIN checkpoints c ON c.run_id = r.id")
                    ).scalar()
            time.sleep(0.05)
        assert worker_pid is not None, "the worker never checkpointed"
        os.kill(worker_pid, signal.SIGKILL)  # the worker dies mid-point, without a word
        _, err = parent.communicate(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT id, status FROM runs")).all()
        sweep_id = conn.execute(sa.text("SELECT id FROM sweeps")).scalar_one()
    engine.dispose()
    # The worker trained the three points together (one batched group): all three runs
    # died with it; the parent marked them crashed at once and failed, naming them.
    assert parent.returncode == 1
    assert "3 of 3 points left" in err and "SIGKILL" in err, err
    with Store(sqlite_url) as store:
        assert {store.run(r.id).status for r in runs} == {"crashed"}
    r = subprocess.run(
        [sys.executable, "-m", "ngramlm", "sweep", "--resume", str(sweep_id), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["finished"] == 3
    assert {r.id for r in runs} <= {x["run"] for x in data["runs"]}  # the crashed runs resumed
    _points_trained_once(sqlite_url, 3)


# --- a sweep resolved once -------------------------------------------------------------


def counting(counts: dict[str, int], what: str, fn):  # type: ignore[no-untyped-def]
    """``fn`` itself, counting its calls under ``what`` (no mock: the real function runs)."""

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        counts[what] = counts.get(what, 0) + 1
        return fn(*args, **kwargs)

    return counted


def count_resolutions(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Reads of a dataset's record (by name or id) and resolutions of a device, counted."""
    from ngramlm.stages import plan

    counts: dict[str, int] = {}
    monkeypatch.setattr(Store, "dataset", counting(counts, "dataset", Store.dataset))
    monkeypatch.setattr(Store, "dataset_by_id", counting(counts, "dataset", Store.dataset_by_id))
    monkeypatch.setattr(plan, "resolve_device", counting(counts, "device", plan.resolve_device))
    return counts


def test_a_search_reads_its_dataset_and_resolves_its_device_once(
    cli, sqlite_url: str, words_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sweep --search``: the command resolves the plan once and its trials (here in this
    process, ``--workers 0``) take it as it is: one read of the dataset, one device. (The
    search's closing mixture plans runs of its own: tests/test_search_mix.py.)"""
    assert cli("--db", sqlite_url, "prepare", str(words_file)).code == 0
    counts = count_resolutions(monkeypatch)
    r = cli("--db", sqlite_url, "sweep", "--dataset", "tiny", "--search", "tpe", "--trials", "3",
            "--space", "lr=0.01:0.5:log", "--steps", "30", "--n-hidden", "8", "--n-embd", "4",
            "--workers", "0", "--no-mix", "--json")  # fmt: skip
    assert r.code == 0, r.err
    assert json.loads(r.out)["trials"] == 3
    assert counts == {"dataset": 1, "device": 1}


def test_creating_a_search_on_its_default_space_reads_the_dataset_once(
    sqlite_url: str, words_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The family's default space depends on the dataset's unit, and its preset on that
    space: the dataset is read once for both, and the device resolved once."""
    from ngramlm import open_store

    with open_store(sqlite_url) as exp:
        exp.prepare(words_file)
        counts = count_resolutions(monkeypatch)
        sw = exp.create_search("tiny", trials=2)
    assert counts == {"dataset": 1, "device": 1}
    assert sw.spec["search"]["space"] and sw.spec["base"]["train"]["optimizer"] == "adamw"


def test_the_worker_count_is_checked_once_with_one_message(cli, sqlite_url: str) -> None:
    for bad in ("-1", "257"):
        r = cli("--db", sqlite_url, "sweep", "--lr-grid", "0.1", "--workers", bad)
        assert r.code == 2 and "--workers must be between 0 (in this process) and 256" in r.err
