"""A search's budget kept (no trial starts past it, running ones stop at their first
evaluation past it, killed and resumable), its progress lines, the time labels of its
best-so-far line, and no configuration trained twice on a dataset (a warm start)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import ngramlm
from ngramlm.api.progress import SweepPlan, SweepWatch
from ngramlm.cli.search import best_over_time, minutes_label
from ngramlm.stages.budget import SPENT, Budget, stopped_by_budget
from ngramlm.stages.halving import TrialStop
from ngramlm.stages.plan import setup_of
from ngramlm.stages.search import trial_config
from ngramlm.stages.study import earlier
from ngramlm.store import Store
from ngramlm.training.loop import EvalPoint

TINY = {"n_embd": 4, "n_hidden": 16, "batch_size": 16}
# a grid of a short trial and one far longer than the budget, in the seeded order of
# --search grid: seed 0 trains the short one first, seed 1 the long one
STEPS = {"steps": "300,200000"}


class Deadline(SweepWatch):
    """The budget's end as the sweep's plan resolved it (``time.time()``)."""

    at: float | None = None

    def started(self, plan: SweepPlan) -> None:
        self.at = plan.setup.deadline


def point(step: int, dev: float = 2.5) -> EvalPoint:
    return EvalPoint(step, 1.0, 0.1, 2.6, 2.6, dev, False)


def test_a_trial_stops_at_its_first_evaluation_past_the_budget() -> None:
    ahead = TrialStop(threading.Event(), Budget(time.monotonic() + 3600, grace=1.0))
    ahead.evaluated(point(100))
    assert not ahead.is_set() and ahead.budget_stop is None
    spent = TrialStop(threading.Event(), Budget(time.monotonic() - 0.1, grace=3600))
    assert not spent.is_set()  # within the grace: it goes on to its next evaluation
    spent.evaluated(point(200, 2.25))
    assert spent.is_set() and spent.budget_stop is not None
    assert spent.budget_stop.startswith(SPENT) and "step 200 (dev 2.2500)" in spent.budget_stop
    spent.evaluated(point(300))  # the first evaluation past it is the one it names
    assert spent.budget_stop is not None and "step 200" in spent.budget_stop
    over = TrialStop(threading.Event(), Budget(time.monotonic() - 2.0, grace=1.0))
    assert over.is_set() and over.budget_stop is not None  # past the grace: at its next step
    assert "between evaluations" in over.budget_stop
    member = TrialStop(spent)  # a batched group's member: the group's budget stops it
    assert member.is_set() and member.budget_stop == spent.budget_stop


def test_the_grace_is_a_few_percent_of_the_budget() -> None:
    def grace(budget_s: float) -> float:
        got = Budget.of(time.time() + budget_s, budget_s)
        assert got is not None
        return got.grace

    assert grace(120) == pytest.approx(2.4) and grace(5) == 1.0 and grace(7200) == 60.0
    assert Budget.of(None, 120) is None


# (a worker process's budget counts its start, imports included: seconds on a busy machine)
@pytest.mark.parametrize(
    ("workers", "seed", "budget"),
    [(0, 0, "8s"), pytest.param(1, 1, "15s", marks=pytest.mark.slow)],
)
def test_no_trial_starts_past_the_budget_and_running_ones_stop_at_an_evaluation(
    sqlite_url: str, words_file: Path, workers: int, seed: int, budget: str
) -> None:
    """Seed 0: the short trial finishes, the long one is stopped by the budget. Seed 1:
    the long one is stopped and the short one, due after it, never starts."""
    watch = Deadline()
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(words_file, name="tiny")
        sw = exp.search("tiny", search="grid", space=STEPS, budget=budget, seed=seed,
                        workers=workers, eval_every=50, watch=watch, **TINY)  # fmt: skip
        runs = sorted(exp.runs(sweep=sw), key=lambda r: r.id)
        curves = {r.id: exp.curve(r) for r in runs}
    assert watch.at is not None
    for r in runs:  # none started past the deadline, none is left running
        assert r.started_at is not None and r.started_at.timestamp() <= watch.at, r
        assert r.status in ("finished", "killed"), r
    stopped = [r for r in runs if stopped_by_budget(r)]
    assert len(stopped) == 1, [(r.status, r.error) for r in runs]
    long = stopped[0]
    assert long.steps == 200_000 and long.steps_done < 200_000
    assert long.ended_at is not None and long.ended_at.timestamp() >= watch.at
    assert long.error is not None and long.error.startswith(SPENT), long.error
    if "first evaluation past it" in long.error:  # stopped there, not between two
        last = curves[long.id][-1]
        assert last.dev_loss is not None and last.step == long.steps_done > 0
        assert f"step {long.steps_done:,}" in long.error
    if seed == 0:
        assert [r.status for r in runs] == ["finished", "killed"]
    else:  # the short trial was due after the long one: it never started
        assert len(runs) == 1


def test_a_budget_search_on_the_command_line(cli, sqlite_url: str, words_file: Path) -> None:
    """Its trials stopped by the budget are no Ctrl-C (exit 0, and the search ends in its
    mixture); without a terminal a line per trial says how it ended; its summary says how
    to finish them; the best-so-far line labels the minutes it ran."""
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    r = cli("--db", sqlite_url, "sweep", "--dataset", "tiny", "--search", "grid",
            "--space", "steps=300,200000", "--budget", "8s", "--workers", "0",
            "--eval-every", "50", "--n-embd", "4", "--n-hidden", "16",
            "--batch-size", "16")  # fmt: skip
    assert r.code == 0, r.err
    assert "search 1 on tiny: grid, a budget of 8 s" in r.out, r.out
    assert "trial 1 (run 1) finished: dev " in r.err, r.err
    assert "steps=300 · " in r.err and "1 done, 0 pruned" in r.err, r.err
    assert "trial 2 (run 2) stopped by the budget at step " in r.err, r.err
    assert "stopped by the budget: run 2 (killed, with a checkpoint" in r.out, r.out
    assert "`ngramlm train --resume 2` trains it to its end" in r.out, r.out
    # the search is at its end: its best trial is mixed with a count model all the same
    assert "what the search ends with" in r.out, r.out
    best = next(line for line in r.out.splitlines() if line.startswith("best dev so far"))
    assert " min " in best and "10 min" not in best, best  # the minutes it ran, under one


def test_the_best_so_far_line_labels_the_time_run() -> None:
    def row(minutes: float, best: float | None) -> dict[str, object]:
        return {"minutes": minutes, "best_so_far": best}

    rows = [row(4.0, 2.0), row(15.0, 1.9), row(25.0, 1.8), row(34.0, 1.7)]
    assert best_over_time(rows) == [(10, 2.0), (20, 1.9), (30, 1.8), (34.0, 1.7)]
    assert best_over_time([row(1.0, None), row(2.1, 2.2)]) == [(2.1, 2.2)]
    assert best_over_time([row(1.0, None)]) == []
    assert minutes_label(34.0) == "34 min" and minutes_label(2.14) == "2.1 min"


# --- no configuration trained twice on a dataset -------------------------------------------


SPACE = {"lr": "0.01:0.5:log", "n_hidden": "8:24"}


def test_two_searches_in_a_row_train_no_configuration_twice(db_url: str, words_file: Path) -> None:
    """The same seed proposes the same points; the second search starts from the
    first's trials (a warm start) and trains none of them again."""
    with ngramlm.open_store(db_url) as exp:
        exp.prepare(words_file, name="tiny")
        first = exp.search("tiny", search="tpe", space=SPACE, trials=3, seed=0, workers=0,
                           steps=20, n_embd=4, batch_size=16)  # fmt: skip
        second = exp.search("tiny", search="tpe", space=SPACE, trials=3, seed=0, workers=0,
                            steps=20, n_embd=4, batch_size=16)  # fmt: skip
        other = exp.create_search("tiny", search="tpe", space=SPACE, trials=3, seed=0,
                                  steps=30, n_embd=4, batch_size=16)  # fmt: skip
        before = exp.runs(sweep=first)
        runs = before + exp.runs(sweep=second)
    assert len(runs) == 6 and all(r.status == "finished" for r in runs)
    assert len({r.config_hash for r in runs}) == 6  # no configuration twice
    assert second.spec["search"]["earlier"] == 3  # the first's trials, in its space
    assert other.spec["search"]["earlier"] == 0  # another step count: another space
    with Store(db_url) as store:  # what the second search's sampler starts from
        setup = setup_of(store, second.id)
        search = second.spec["search"]
        warm = earlier(store, second.id, setup.dataset.id, setup.dims,
                       lambda p: trial_config(setup.base, p, search))  # fmt: skip
    assert sorted(r.id for r in warm.runs) == sorted(r.id for r in before)


def test_a_search_trains_no_configuration_a_plain_run_trained(
    sqlite_url: str, words_file: Path
) -> None:
    """A run trained on its own counts as trained there: a grid search over it skips it."""
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(words_file, name="tiny")
        alone = exp.train("tiny", steps=20, lr=0.1, **TINY)
        sw = exp.search("tiny", search="grid", space={"lr": "0.05,0.1"}, workers=0, steps=20,
                        **TINY)  # fmt: skip
        runs = exp.runs(sweep=sw)
    assert sw.spec["search"]["earlier"] == 1
    assert [r.lr for r in runs] == [0.05], [(r.lr, r.status) for r in runs]
    assert runs[0].config_hash != alone.run.config_hash
