"""A search's space checked as a whole (issue 29, item 7), a space smaller than --trials,
failed trials' reasons, one budget for a resumed search's workers, and the rough edges of
item 8/9 next to them: a dataset name with a line break, lr-find of a count model,
train --help's defaults."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

import ngramlm
from ngramlm.errors import InputError
from ngramlm.stages import supervise, sweep, worker
from ngramlm.stages.plan import setup_of
from ngramlm.store import Store

from .conftest import count_rows

SMALL = ["--n-embd", "4", "--batch-size", "16", "--steps", "20"]


def _one_line_nothing_written(r, url: str, runs_before: int) -> None:  # type: ignore[no-untyped-def]
    assert r.code == 2, (r.out, r.err)
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert count_rows(url, "sweeps") == 0
    assert count_rows(url, "runs") == runs_before


# --- the space as a whole ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("space", "needle"),
    [
        # each end passes alone; even the smallest corner is over the parameter bound
        (("n_hidden=6000:8000", "n_embd=300:1000", "block_size=32:64"), "even the smallest"),
        # the space: its smallest corner fits, 98% of what a sampler draws does not
        (("n_hidden=4096:8192", "n_embd=200:1000", "block_size=32:64"), "98% of the space"),
    ],
)
def test_a_space_refused_as_a_whole_is_refused_before_it_starts(
    cli, sqlite_url: str, words_file: Path, space: tuple[str, ...], needle: str
) -> None:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    args = [a for item in space for a in ("--space", item)]
    r = cli("--db", sqlite_url, "sweep", "--dataset", "tiny", "--search", "tpe", *args,
            "--trials", "5")  # fmt: skip
    _one_line_nothing_written(r, sqlite_url, 0)
    assert needle in r.err, r.err
    assert "n_hidden, n_embd, block_size" in r.err and "limit 50,000,000" in r.err, r.err


def test_a_space_mostly_accepted_is_not_refused() -> None:
    from ngramlm.models import preset_config
    from ngramlm.stages.space import check_whole, parse_space

    base = preset_config("default", vocab_size=27)
    # the largest corner is over the bound, most of the space is not
    check_whole(base, parse_space(["n_hidden=1000:8000", "n_embd=10:1000", "block_size=3:8"], base))
    with pytest.raises(InputError, match="even the smallest"):
        check_whole(base, parse_space(["warmup=300,400", "steps=100,200"], base))


# --- a space smaller than --trials ---------------------------------------------------------


def test_a_one_point_space_says_it_runs_one_trial(cli, sqlite_url: str, words_file: Path) -> None:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    r = cli("--db", sqlite_url, "sweep", "--dataset", "tiny", "--search", "tpe",
            "--space", "n_hidden=16", "--trials", "5", "--workers", "0", "--no-mix",
            *SMALL)  # fmt: skip
    assert r.code == 0, r.err
    assert "the space has 1 point, fewer than --trials 5: 1 trial" in r.out, r.out
    assert count_rows(sqlite_url, "runs") == 1


def test_a_small_space_runs_each_of_its_points(sqlite_url: str, words_file: Path) -> None:
    """Random proposals over 40 integers repeat themselves long before the last one is
    drawn (25 repeats in a row end a search: it stopped at 39); the search still takes
    each point once (its untried ones, in a seeded order, once the sampler repeats)."""
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(words_file, name="tiny")
        sw = exp.search("tiny", search="random", space={"n_hidden": "8:47"}, trials=50,
                        workers=0, steps=5, n_embd=4, batch_size=16)  # fmt: skip
        assert sw.spec["search"]["trials"] == 40 and sw.spec["search"]["trials_asked"] == 50
        rows = exp.search_trials(sw)
        assert sorted(r["n_hidden"] for r in rows) == list(range(8, 48))
        assert {r["status"] for r in rows} == {"finished"}


# --- failed trials say why ------------------------------------------------------------------


def test_failed_trials_print_their_reason(cli, sqlite_url: str, words_file: Path) -> None:
    """One point of four is refused (warm-up longer than the run): the search goes on,
    its progress lines, its summary and `report --sweep` say why that trial failed."""
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    r = cli("--db", sqlite_url, "sweep", "--dataset", "tiny", "--search", "grid",
            "--space", "warmup=0,50", "--space", "steps=20,60", "--workers", "1",
            "--n-embd", "4", "--batch-size", "16")  # fmt: skip
    assert r.code == 0, r.err
    why = "failed: --warmup 50 must be smaller than --steps 20"
    assert why in r.err, r.err  # as it fails
    assert why in r.out, r.out  # in the search's summary
    shown = cli("--db", sqlite_url, "report", "--sweep", "1")
    assert why in shown.out, shown.out
    data = json.loads(cli("--db", sqlite_url, "report", "--sweep", "1", "--json").out)
    errors = [run["error"] for run in data["runs"] if run["status"] == "failed"]
    assert errors == ["--warmup 50 must be smaller than --steps 20"], data["runs"]


# --- one budget for a resumed search's workers ---------------------------------------------


def test_a_resumed_searchs_workers_share_one_budget(sqlite_url: str, words_file: Path) -> None:
    """The budget left is read once, when the search is resumed, and handed to every
    worker: one worker's activity (its resumed trial's heartbeat) does not shorten the
    next one's budget. A search of 1 h, killed 30 min in, 10 min ago: 30 min are left."""
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(words_file, name="tiny")
        sw = exp.search("tiny", search="random", space={"lr": "0.01:0.5:log"}, trials=3,
                        budget="1h", workers=0, steps=20, n_embd=4, batch_size=16)  # fmt: skip
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:  # the search's clock, as a killed session left it
        conn.execute(sa.text("UPDATE sweeps SET created_at=:t"), {"t": now - timedelta(minutes=40)})
        conn.execute(sa.text("UPDATE runs SET started_at=:t, heartbeat_at=:t, ended_at=:t"),
                     {"t": now - timedelta(minutes=10)})  # fmt: skip
        first = conn.execute(sa.text("SELECT min(id) FROM runs")).scalar_one()
    with Store(sqlite_url) as store:
        p = sweep.plan(store, sw.id, resume=True, workers=2)
        assert p.setup.deadline is not None
        assert abs(p.setup.deadline - (time.time() + 1800)) < 60
        with engine.begin() as conn:  # the first worker resumes a trial: it beats now
            beat = datetime.now(timezone.utc).replace(tzinfo=None)
            conn.execute(sa.text("UPDATE runs SET heartbeat_at=:t WHERE id=:i"),
                         {"t": beat, "i": first})  # fmt: skip
        # the second worker, started later, from the command line the plan gives it
        second = worker.read_setup(store, worker.parse(supervise.worker_args(p)))
        assert second.deadline == p.setup.deadline
    engine.dispose()


def test_a_worker_trains_while_the_deadline_it_was_handed_lies_ahead(
    sqlite_url: str, words_file: Path
) -> None:
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(words_file, name="tiny")
        sw = exp.create_search("tiny", search="random", space={"lr": "0.01:0.5:log"},
                               trials=3, budget="1h", steps=20, n_embd=4,
                               batch_size=16)  # fmt: skip
    with Store(sqlite_url) as store:
        over = replace(setup_of(store, sw.id), deadline=time.time() - 1)
        report = sweep.work(store, over, resume=False, stop=threading.Event())
        assert report.trained == 0 and store.sweep_runs(sw.id) == []


# --- item 8/9: a name with a line break, lr-find of a count model, train --help --------------


def test_a_dataset_name_with_a_line_break_is_refused(
    cli, sqlite_url: str, words_file: Path
) -> None:
    for name in ("tiny\n", "tiny ", "\ttiny"):
        r = cli("--db", sqlite_url, "prepare", words_file, "--name", name)
        assert r.code == 2 and "spaces or a line break" in r.err, r.err
        assert len(r.err.strip().splitlines()) == 1, r.err
    assert count_rows(sqlite_url, "datasets") == 0
    with ngramlm.open_store(sqlite_url) as exp, pytest.raises(InputError, match="line break"):
        exp.prepare(words_file, name="tiny\n")


def test_lr_find_of_a_count_model_says_it_has_no_learning_rate(
    cli, sqlite_url: str, words_file: Path
) -> None:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    r = cli("--db", sqlite_url, "lr-find", "--dataset", "tiny", "--model", "bigram")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
    assert "lr-find needs a network trained by steps" in r.err and "--steps" not in r.err
    assert "--model mlp" in r.err, r.err
    assert count_rows(sqlite_url, "runs") == 0


def test_train_help_shows_the_presets_defaults(cli) -> None:
    r = cli("train", "--help")
    text = " ".join(r.out.replace("│", " ").split())
    assert "Optimisation steps; default: the preset's (200,000 for lecture, default" in text
    assert "60,000 for best" in text and "2 epochs for bengio" in text
    assert "Learning rate (peak); default: the preset's (0.1 for lecture" in text
    assert "Minibatch size; default: the preset's (32 for lecture" in text
