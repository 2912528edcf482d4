"""sweep --search: the space, bad input, trials as runs, halving, workers, resume."""

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

import ngramlm
from ngramlm.errors import InputError
from ngramlm.models import preset_config
from ngramlm.stages.halving import promoted
from ngramlm.stages.space import parse_budget, parse_space
from ngramlm.store import Store

from .conftest import count_rows
from .helpers import TINY_ARGS as TINY
from .helpers import age_heartbeat

SPACE = ["--space", "lr=0.01:0.5:log", "--space", "n_hidden=8:24"]


def test_space_is_typed_by_hyperparameter() -> None:
    base = preset_config("default", vocab_size=27)
    dims = parse_space(["lr=1e-3:1:log", "n_hidden=8:64", "init=kaiming,lecture"], base)
    assert dims["lr"].log and not dims["lr"].integer and dims["lr"].low == 1e-3
    assert dims["n_hidden"].integer and (dims["n_hidden"].low, dims["n_hidden"].high) == (8, 64)
    assert dims["init"].choices == ("kaiming", "lecture")
    assert parse_budget("30m") == 1800 and parse_budget("90s") == 90 and parse_budget("2h") == 7200


def test_halving_keeps_the_best_third() -> None:
    assert promoted(1.0, [])  # alone at the rung: nothing to compare with
    assert not promoted(2.0, [1.0])  # fewer than 3 values: only the best goes on
    assert promoted(1.0, [2.0, 3.0, 4.0, 5.0, 6.0])
    assert promoted(1.5, [1.0, 2.0, 3.0, 4.0, 5.0])  # best 6 // 3 = 2 go on
    assert not promoted(2.5, [1.0, 2.0, 3.0, 4.0, 5.0])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--search", "tpe", "--space", "bogus=1:2", "--trials", "2"], "unknown hyperparameter"),
        (["--search", "tpe", "--space", "lr=0.5:0.1", "--trials", "2"], "LOW must be below"),
        (["--search", "tpe", "--space", "lr=0.1:0.1", "--trials", "2"], "LOW must be below"),
        (["--search", "tpe", "--space", "lr=0:0.1:log", "--trials", "2"], "log range"),
        (["--search", "tpe", "--space", "weight_decay=0:1:log", "--trials", "2"], "log range"),
        (["--search", "tpe", "--space", "lr=0.01:0.1", "--budget", "soon"], "not a duration"),
        (["--search", "tpe", "--space", "lr=0.01:0.1", "--budget", "30"], "not a duration"),
        (["--search", "tpe", "--space", "lr=0.01:0.1", "--budget", "0m"], "not a duration"),
        (
            [
                "--search",
                "tpe",
                "--space",
                "lr=0.01:0.1",
                "--trials",
                "2",
                "--prune",
                "halving",
                "--steps",
                "100",
                "--eval-every",
                "100",
            ],
            "--prune halving",
        ),
        (
            ["--search", "tpe", "--space", "lr=0.01:0.1", "--trials", "2", "--prune", "median"],
            "--prune must be",
        ),
        (["--search", "tpe", "--lr-grid", "0.1,0.2", "--trials", "2"], "drop --lr-grid"),
        (["--search", "tpe", "--grid", "n_hidden=8,16", "--trials", "2"], "drop --lr-grid"),
        (["--space", "lr=0.01:0.1", "--trials", "2"], "go with --search"),
        (["--search", "annealing", "--space", "lr=0.01:0.1", "--trials", "2"], "--search must"),
        (["--search", "tpe", "--space", "lr=0.01:0.1"], "--trials N and/or --budget"),
        (["--search", "grid", "--space", "lr=0.01:0.1"], "takes choices"),
        (["--search", "tpe", "--space", "n_hidden=0:8", "--trials", "2"], "--n-hidden"),
        (["--search", "tpe", "--space", "lr=a:b", "--trials", "2"], "not a valid float"),
        (["--search", "tpe", "--space", "lr", "--trials", "2"], "must look like"),
        (["--search", "tpe", "--space", "device=cpu,cuda", "--trials", "2"], "unknown"),
        (["--search", "tpe", "--space", "lr=0.01:0.1", "--trials", "0"], "--trials"),
        (["--search", "tpe", "--model", "bigram", "--trials", "2"], "counted"),
        (
            ["--search", "tpe", "--space", "epochs=1:3", "--trials", "2", "--steps", "5"],
            "drop --steps",
        ),
    ],
)
def test_bad_searches_are_one_line_exit_2_and_write_nothing(
    cli, sqlite_url: str, words_file: Path, args: list[str], needle: str
) -> None:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    runs_before = count_rows(sqlite_url, "runs")
    r = cli("--db", sqlite_url, "sweep", "--dataset", "tiny", *args)
    assert r.code == 2 and needle in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert count_rows(sqlite_url, "sweeps") == 0
    assert count_rows(sqlite_url, "runs") == runs_before


def _trials_once(url: str, n: int) -> list[str]:
    """Every trial of the store's one search once: a point, its own run, its own config.
    Returns the runs' statuses."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        points = conn.execute(sa.text("SELECT run_id, config_hash FROM sweep_points")).all()
        runs = conn.execute(
            sa.text("SELECT id, status, sweep_id FROM runs WHERE sweep_id IS NOT NULL")
        ).all()
        n_points = conn.execute(sa.text("SELECT n_points FROM sweeps")).scalar_one()
    engine.dispose()
    assert len(points) == n == n_points == len(runs)
    assert len({p.run_id for p in points}) == n and None not in {p.run_id for p in points}
    assert len({p.config_hash for p in points}) == n
    assert {p.run_id for p in points} == {r.id for r in runs}
    return [r.status for r in runs]


def test_search_trains_its_trials_as_runs_of_the_sweep(
    cli, sqlite_url: str, words_file: Path
) -> None:
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(words_file, name="tiny")
        sw = exp.search(
            "tiny",
            search="tpe",
            space={"lr": "0.01:0.5:log", "n_hidden": "8:24"},
            trials=4,
            workers=0,
            mix=False,  # the trials only (tests/test_search_mix.py: the mixture)
            preset="default",
            steps=200,
            n_embd=4,
            batch_size=16,
        )
        rows = exp.search_trials(sw)
        assert _trials_once(sqlite_url, 4) == ["finished"] * 4
        assert [r["run"] for r in rows] == [
            r.id for r in sorted(exp.runs(sweep=sw), key=lambda r: r.id)
        ]
        for row in rows:
            assert 0.01 <= row["lr"] <= 0.5 and 8 <= row["n_hidden"] <= 24
            assert isinstance(row["n_hidden"], int)
        # the best so far never rises, and ends at the best trial's dev loss
        bests = [r["best_so_far"] for r in sorted(rows, key=lambda r: r["minutes"])]
        assert bests == sorted(bests, reverse=True)
        assert bests[-1] == min(r["dev_loss"] for r in rows)
        assert set(exp.search_importance(sw)) <= {"lr", "n_hidden"}
        # the search's trials are the sampler's history: the same search again continues
        # it with nothing trained twice (the sweep is full)
        exp.run_sweep(sw, workers=0)
        assert count_rows(sqlite_url, "runs") == 4
    # an importance from four trials carries its caveat
    out = cli("--db", sqlite_url, "report", "--sweep", str(sw.id)).out
    assert "importance (PED-ANOVA): " in out, out
    assert "(from 4 finished trials: a rough guide until there are 10)" in out, out


@pytest.mark.slow
def test_pruned_trials_keep_curves_and_cannot_be_finalized(
    cli, sqlite_url: str, words_file: Path
) -> None:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    # lr 1e-5 barely moves: at the first rung it is worse than 0.3; the two trials (of the
    # plain MLP under SGD, differing in lr) train as one batched model, reach the rung
    # together, and two trials at a rung keep only the better one
    r = cli(
        "--db", sqlite_url, "sweep", "--dataset", "tiny", "--search", "grid",
        "--space", "lr=0.3,0.00001", "--prune", "halving", "--steps", "400", *TINY, "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    data = json.loads(r.out)
    statuses = {run["run"]: run["status"] for run in data["runs"]}
    assert data["trials"] == 2 and data["finished"] + data["pruned"] == 2
    lrs = {run["run"]: run["lr"] for run in data["runs"]}
    assert data["pruned"] == 1
    pruned = next(i for i, s in statuses.items() if s == "pruned")
    assert lrs[pruned] == 0.00001
    with Store(sqlite_url) as store:
        assert store.metrics(pruned)  # its curve up to the rung is kept
        assert store.run(pruned).steps_done < 400
        assert "one of a batched group of 2" in (store.run(pruned).error or "")
    shown = cli("--db", sqlite_url, "report", "--status", "pruned", "--json")
    assert [row["run"] for row in json.loads(shown.out)["runs"]] == [pruned]
    f = cli("--db", sqlite_url, "finalize", str(pruned))
    assert f.code == 2 and "pruned" in f.err and len(f.err.strip().splitlines()) == 1
    assert count_rows(sqlite_url, "evaluations") == 0


@pytest.mark.slow
def test_two_workers_train_every_trial_once(cli, db_url: str, words_file: Path) -> None:
    assert cli("--db", db_url, "prepare", words_file).code == 0
    r = cli(
        "--db", db_url, "sweep", "--dataset", "tiny", "--search", "random", *SPACE,
        "--trials", "6", "--steps", "300", "--workers", "2", *TINY, "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert json.loads(r.out)["trials"] == 6
    assert _trials_once(db_url, 6) == ["finished"] * 6


@pytest.mark.slow
def test_killed_search_resumes_with_no_trial_twice(sqlite_url: str, words_file: Path) -> None:
    env = {**os.environ, "NGRAMLM_DB": sqlite_url, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, "-m", "ngramlm", "prepare", str(words_file), "--name", "tiny"],
        env=env,
        check=True,
        capture_output=True,
    )
    cmd = [
        sys.executable, "-m", "ngramlm", "sweep", "--dataset", "tiny", "--search", "tpe",
        *SPACE, "--trials", "3", "--steps", "1500", "--eval-every", "100", *TINY, "--json",
    ]  # fmt: skip
    parent = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    engine = sa.create_engine(sqlite_url)
    try:
        deadline = time.monotonic() + 180
        victim = None
        while time.monotonic() < deadline and victim is None:
            with engine.connect() as conn:
                if "checkpoints" in sa.inspect(conn).get_table_names():
                    victim = conn.execute(
                        sa.text(
                            "SELECT r.id, r.pid FROM runs r JOIN checkpoints c ON c.run_id = r.id"
                            " WHERE r.status = 'running' AND r.id >= 2"
                        )
                    ).first()
            time.sleep(0.05)
        assert victim is not None, "the second trial never checkpointed"
        os.kill(victim.pid, signal.SIGKILL)  # the worker dies mid-trial, without a word
        parent.communicate(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT id, config_hash, status FROM runs")).all()
        sweep_id = conn.execute(sa.text("SELECT id FROM sweeps")).scalar_one()
    engine.dispose()
    assert [r.status for r in before if r.id == victim.id] == ["running"]
    age_heartbeat(sqlite_url, victim.id)  # as if a minute had passed: it shows as crashed
    r = subprocess.run(
        [sys.executable, "-m", "ngramlm", "sweep", "--resume", str(sweep_id), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    assert _trials_once(sqlite_url, 3) == ["finished"] * 3
    with Store(sqlite_url) as store:
        after = {x.id: x.config_hash for x in store.sweep_runs(sweep_id)}
        assert store.run(victim.id).steps_done == 1500  # resumed, not started again
    assert {r.id: r.config_hash for r in before}.items() <= after.items()


def test_search_api_refuses_a_grid_sweep(sqlite_url: str, words_file: Path) -> None:
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(words_file, name="tiny")
        sw = exp.create_sweep("tiny", lr_grid="0.1", steps=10)
        with pytest.raises(InputError, match="is a grid, not a search"):
            exp.search_trials(sw)


def test_the_default_space_leaves_out_what_options_fix(sqlite_url: str, tmp_path: Path) -> None:
    """With no --space, a word corpus searches the family's word space (the tied width and
    the epochs among it); a key given as an option is fixed, and --steps fixes the epochs."""
    corpus = tmp_path / "sents.txt"
    corpus.write_text("the cat sat on the mat .\nthe dog sat on the log .\n" * 50)
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(corpus, name="w", unit="word")
        free = exp.create_search("w", trials=1)
        fixed = exp.create_search("w", trials=1, steps=50, n_embd=16)
    space = {t.split("=")[0]: t for t in free.spec["search"]["space"]}
    assert space.keys() == {
        "lr", "block_size", "n_embd", "n_hidden", "dropout", "embd_dropout", "epochs"
    }  # fmt: skip
    assert space["n_embd"] == "n_embd=32:128:log" and space["epochs"] == "epochs=2:7"
    assert free.spec["base"]["model"]["tie"] is True  # from the words preset
    left = {t.split("=")[0] for t in fixed.spec["search"]["space"]}
    assert left == {"lr", "block_size", "n_hidden", "dropout", "embd_dropout"}
    assert fixed.spec["base"]["model"]["n_embd"] == 16
    assert fixed.spec["base"]["train"]["steps"] == 50


def test_a_trials_epochs_set_its_steps(sqlite_url: str, tmp_path: Path) -> None:
    """Searching ``epochs`` searches the trials' length: each trial runs its own passes
    over the train split (steps = ceil(epochs x examples / batch)), not the base's."""
    import math

    corpus = tmp_path / "sents.txt"
    corpus.write_text("".join(f"the cat {i % 13} sat on mat {i % 11} .\n" for i in range(100)))
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(corpus, name="w", unit="word", split="ordered:80,10")
        lines = exp.words("w", "train")
        sw = exp.search(
            "w",
            preset="words",
            space={"epochs": "1:6"},
            trials=3,
            workers=0,
            n_embd=8,
            n_hidden=16,
            batch_size=32,
        )
        n = sw.spec["search"]["train_examples"]
        assert n == sum(len(line.split()) + 1 for line in lines)  # tokens and boundaries
        runs = exp.runs(sweep=sw)
        assert len(runs) == 3
        for run in runs:
            train = run.config["train"]
            assert train["steps"] == math.ceil(train["epochs"] * n / 32)
            assert run.steps_done == train["steps"]
        assert len({r.config["train"]["steps"] for r in runs}) > 1
        # --steps and a space over epochs contradict each other: refused, nothing written
        with pytest.raises(InputError, match="drop --steps"):
            exp.create_search("w", space={"epochs": "1:6"}, trials=1, steps=10)
    assert count_rows(sqlite_url, "sweeps") == 1


def test_a_new_search_tries_its_starting_preset_first(tmp_path: Path, words_file: Path) -> None:
    """A search with nothing tried on its dataset in its space starts with the preset it
    starts from (here ``default``'s lr, 0.1, as ``--space`` is given), when the space
    holds it, so it never ends worse than that recipe; one whose space leaves the preset
    out starts where its sampler says."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    with ngramlm.open_store(url) as exp:
        ds = exp.prepare(words_file, "tiny").dataset
        base = preset_config("default", {}, ds.vocab_size)
        small = {"steps": 30, "n_hidden": 16, "batch_size": 16, "n_embd": 4}
        sw = exp.search(ds, search="tpe", trials=2, mix=False, workers=0, **small,
                        space=["lr=0.01:0.2:log"])  # fmt: skip
        first, second = exp.search_trials(sw)
        assert first["lr"] == base.train.lr == 0.1 != second["lr"]
        apart = exp.search(ds, search="tpe", trials=1, mix=False, workers=0, **small,
                           space=["lr=0.2:0.5:log"])  # fmt: skip
        (only,) = exp.search_trials(apart)
        assert 0.2 <= only["lr"] <= 0.5
