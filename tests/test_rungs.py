"""Batched rungs (stages/rungs.py): a search's batchable trials trained as one batched
model, pruned members leaving it at the rungs, each trial's losses its solo run's."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch

import ngramlm
from ngramlm.errors import InputError
from ngramlm.models import config_from_dict, preset_config
from ngramlm.stages import rungs, sweep
from ngramlm.stages.hooks import load_examples
from ngramlm.stages.run import Progress
from ngramlm.store import Store
from ngramlm.store.records import RunRecord
from ngramlm.training.loop import EvalPoint, train

TINY = {"preset": "default", "steps": 400, "n_embd": 4, "n_hidden": 16, "batch_size": 16}


def assert_solo_curve(store: Store, run: RunRecord) -> None:
    """The run's stored curve (to where it stopped) is the same config's trained alone."""
    cfg = config_from_dict(run.config)
    examples = load_examples(store, store.dataset_by_id(run.dataset_id), cfg.model.block_size)
    solo = train(cfg, examples, torch.device("cpu"), eval_at_start=True).points
    stored = store.metrics(run.id)
    assert [m.step for m in stored] == [p.step for p in solo if p.step <= run.steps_done]
    for m, p in zip(stored, solo, strict=False):
        assert m.dev_loss == pytest.approx(p.dev_loss, abs=1e-4), (run.id, m.step)
        assert m.train_loss == pytest.approx(p.train_loss, abs=1e-4), (run.id, m.step)
    if run.status == "finished":
        assert run.dev_loss == pytest.approx(solo[-1].dev_loss, abs=1e-4)


def test_width_says_which_searches_train_batched() -> None:
    base = preset_config("default", vocab_size=27)  # the plain MLP under SGD
    assert rungs.width(base, {"lr": None}, 8) == rungs.GROUP
    assert rungs.width(base, {"lr": None, "weight_decay": None, "seed": None}, 8) == rungs.GROUP
    assert rungs.width(base, {"lr": None}, 2) == 2  # the sweep plan's batch size caps it
    assert rungs.width(base, {"lr": None, "n_hidden": None}, 8) == 1  # shapes would differ
    assert rungs.width(base, {"dropout": None}, 8) == 1  # dropout is not the plain model
    adamw = preset_config("best", vocab_size=27)
    assert rungs.width(adamw, {"lr": None}, 8) == 1  # AdamW has no batched step


def test_a_batchable_search_trains_its_trials_batched_with_their_solo_losses(
    cli, sqlite_url: str, words_file: Path
) -> None:
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(words_file, name="tiny")
        sw = exp.search(
            "tiny",
            search="random",
            space={"lr": "0.00001:0.5:log"},
            trials=4,
            prune="halving",
            workers=0,
            **TINY,
        )
    with Store(sqlite_url) as store:
        runs = store.sweep_runs(sw.id)
        # one group of 4, alone at the first rung (step 60, the first evaluation past
        # 400 / 9): only its best goes on, and alone at the second rung it finishes
        assert sorted(r.status for r in runs) == ["finished", "pruned", "pruned", "pruned"]
        (best,) = [r for r in runs if r.status == "finished"]
        assert best.extra["group_members"] == 4  # trained as one batched model of 4
        assert best.steps_done == 400
        for r in runs:
            if r.status == "pruned":
                assert r.steps_done == 60 and "one of a batched group of 4" in (r.error or "")
                assert store.checkpoint(r.id) is not None  # kept, at the rung
            assert_solo_curve(store, r)  # pruned ones keep their curves to the rung
        pruned = next(r.id for r in runs if r.status == "pruned")
    shown = cli("--db", sqlite_url, "report", "--status", "pruned", "--json")
    assert shown.code == 0 and len(json.loads(shown.out)["runs"]) == 3
    with ngramlm.open_store(sqlite_url) as exp, pytest.raises(InputError, match="pruned"):
        exp.finalize(pruned)


class StopAt(Progress):
    """The display a worker is given: asks the worker to stop once it sees ``step``."""

    def __init__(self, worker_stop: threading.Event, step: int) -> None:
        self.worker_stop, self.step = worker_stop, step

    def evaluated(self, point: EvalPoint) -> None:
        if point.step >= self.step:
            self.worker_stop.set()


def test_a_stopped_batched_group_resumes_member_by_member(
    sqlite_url: str, words_file: Path
) -> None:
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(words_file, name="tiny")
        sw = exp.create_search("tiny", search="tpe", space={"lr": "0.01:0.5:log"}, trials=3, **TINY)
    with Store(sqlite_url) as store:
        stop = threading.Event()
        report = sweep.work(
            store, sw.id, resume=False, stop=stop, progress_factory=lambda: StopAt(stop, 100)
        )
        assert report.stopped and report.trained == 3
        runs = store.sweep_runs(sw.id)
        assert [(r.status, r.steps_done) for r in runs] == [("killed", 100)] * 3
        assert all(store.checkpoint(r.id) is not None for r in runs)  # one each
        report = sweep.work(store, sw.id, resume=True, stop=threading.Event())
        assert report.trained == 3 and not report.stopped
        for r in store.sweep_runs(sw.id):
            assert (r.status, r.steps_done) == ("finished", 400)
            assert_solo_curve(store, r)  # resumed alone, ends where it would have
        assert len(store.sweep_runs(sw.id)) == 3  # nothing trained twice


def test_the_sweep_plan_shares_a_batchable_searchs_trials_out_as_groups(
    sqlite_url: str, words_file: Path
) -> None:
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(words_file, name="tiny")
        batchable = exp.create_search("tiny", space={"lr": "0.01:0.5:log"}, trials=4, **TINY)
        shaped = exp.create_search("tiny", space={"n_hidden": "8:24"}, trials=4, **TINY)
        budget = exp.create_search("tiny", space={"lr": "0.01:0.5:log"}, budget="1m", **TINY)
    with Store(sqlite_url) as store:
        # 4 trials over 2 workers: a group of 2 each, not one of 4 and an idle worker
        assert sweep.plan(store, batchable.id, resume=False, workers=2).batch_size == 2
        # the plan's default width (unused: these trials are not batchable), and with the
        # trials unknown (a budget) groups as wide as the plan goes; rungs.GROUP caps both
        default = sweep.plan(store, shaped.id, resume=False, workers=2).batch_size
        assert sweep.plan(store, budget.id, resume=False, workers=2).batch_size == default
