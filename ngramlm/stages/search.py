"""Adaptive search (``ngramlm sweep --search``): Optuna proposes, the store decides.

A search is a sweep whose points are not known in advance. A worker rebuilds an Optuna
study from the sweep's runs in the store (finished runs are complete trials, pruned runs
pruned ones, their curves the intermediate values; running ones are running), asks its
sampler (TPE or random, through ask-and-tell) for the next point, and writes that point
and claims it with a new run in one transaction (``Store.add_point``: the sweep's row is
locked, ``(sweep_id, config_hash)`` is unique), then trains it as an ordinary run. No
sampler state lives anywhere else, so workers on other machines (``--join``) and a search
resumed after a kill (``--resume``) continue the same search, and no point is trained
twice. ``--search grid`` takes the points of a grid of choices in a seeded order instead.

The study and its sampler are ``stages/study.py``'s, the space ``stages/space.py``'s,
successive halving (``--prune halving``) ``stages/halving.py``'s. Trials that can share
one batched model (a plain MLP under SGD whose space varies lr, seed or weight decay only)
are proposed, claimed and trained a group at a time as one batched model, pruned members
leaving it at the rungs (``stages/rungs.py``); others run one at a time a worker. The
search reads train and dev only.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ngramlm.config import RunConfig
from ngramlm.errors import ClaimedError, InputError
from ngramlm.models import config_from_dict, family_of
from ngramlm.runtime import resolve_device
from ngramlm.stages import rungs
from ngramlm.stages.halving import RungProgress, TrialStop
from ngramlm.stages.halving import rungs as rung_steps
from ngramlm.stages.plan import Plan, steps_from_epochs, train_examples
from ngramlm.stages.run import Progress, execute_run, resume_run
from ngramlm.stages.space import Dim, parse_dim
from ngramlm.stages.study import last_dev, params_of, propose, study_from_store
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord, MetricRecord, RunRecord, SweepRecord
from ngramlm.training import batched

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("halving",)
MAX_TRIALS = 10_000
MAX_DUPLICATES = 25  # proposals in a row already in the store: the space is exhausted

# --- creating a search -----------------------------------------------------------------


def default_space(base: RunConfig, unit: str) -> dict[str, str]:
    """The family's own search space for ``unit`` (``Family.search_space``)."""
    return family_of(base).search_space(unit)[1]


def check(
    base: RunConfig,
    dims: Mapping[str, Dim],
    sampler: str,
    trials: int | None,
    budget_s: float | None,
    prune: str | None,
) -> None:
    """Everything about a search that can be refused before anything is written."""
    fam = family_of(base)
    if fam.counted or base.train is None:
        raise InputError(f"--model {fam.name} is counted, not trained: there is nothing to search")
    if sampler not in SAMPLERS:
        raise InputError(f"--search must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if not dims:
        raise InputError("the search space is empty; give --space KEY=LOW:HIGH or KEY=V1,V2")
    if trials is not None and (isinstance(trials, bool) or not 1 <= trials <= MAX_TRIALS):
        raise InputError(f"--trials must be between 1 and {MAX_TRIALS:,}, got {trials}")
    if sampler == "grid":
        ranges = [d.text for d in dims.values() if not d.choices]
        if ranges:
            raise InputError(f"--search grid takes choices (KEY=V1,V2), not the range {ranges[0]}")
    elif trials is None and budget_s is None:
        raise InputError("give --trials N and/or --budget DURATION (e.g. --budget 30m)")
    if prune is not None:
        if prune not in PRUNERS:
            raise InputError(f"--prune must be {' or '.join(PRUNERS)}, got {prune!r}")
        t = base.train
        last_rung = max(rung_steps(t.steps))
        evals_after = math.ceil(last_rung / t.eval_interval) * t.eval_interval
        if evals_after >= t.steps:
            raise InputError(
                f"--prune {prune} compares trials at evaluations before their end, and with "
                f"--steps {t.steps} and --eval-every {t.eval_interval} there is none after step "
                f"{last_rung}; lower --eval-every or drop --prune"
            )


def create(
    store: Store,
    dataset: DatasetRecord,
    base: RunConfig,
    dims: Mapping[str, Dim],
    *,
    sampler: str,
    trials: int | None,
    budget_s: float | None,
    prune: str | None,
    seed: int,
    name: str | None,
) -> SweepRecord:
    check(base, dims, sampler, trials, budget_s, prune)
    assert base.train is not None
    resolve_device(base.train.device)
    if sampler == "grid":
        size = math.prod(len(d.choices) for d in dims.values())
        trials = size if trials is None else min(trials, size)
    search = {
        "sampler": sampler,
        "space": [d.text for d in dims.values()],
        "trials": trials,
        "budget_s": budget_s,
        "prune": prune,
        "seed": seed,
    }
    if "epochs" in dims:  # a trial's epochs set its steps: an epoch's examples, once
        search["train_examples"] = train_examples(store.words(dataset.id, "train"), dataset.vocab)
    spec = {"base": base.to_dict(), "search": search, "grid": {}, "seeds": 1}
    return store.create_sweep(dataset_id=dataset.id, name=name, spec=spec, points=[])


def trial_config(base: RunConfig, point: Mapping[str, Any], search: Mapping[str, Any]) -> RunConfig:
    """A trial's config: the base with the point's values; a point's ``epochs`` sets its
    steps as ``--epochs`` does (``plan.steps_from_epochs``, over the train examples
    counted when the search was created)."""
    cfg = base.with_values(dict(point))
    n = search.get("train_examples")
    if "epochs" in point and n:
        cfg = steps_from_epochs(cfg, int(n), {})
    return cfg


def is_search(sweep: SweepRecord) -> bool:
    return "search" in sweep.spec


def space_of(sweep: SweepRecord) -> tuple[RunConfig, dict[str, Dim]]:
    base = config_from_dict(sweep.spec["base"])
    types = base.types()
    return base, {d.key: d for d in (parse_dim(t, types) for t in sweep.spec["search"]["space"])}


# --- the worker ------------------------------------------------------------------------


def remaining_s(sweep: SweepRecord, runs: Sequence[RunRecord]) -> float | None:
    """What is left of the budget: it counts the search's time from its creation to the
    last activity recorded (a heartbeat, an end), so ``--join`` shares the deadline of a
    running search and ``--resume`` after a kill gets what the killed session left."""
    budget = sweep.spec["search"]["budget_s"]
    if budget is None:
        return None
    stamps = [t for r in runs for t in (r.heartbeat_at, r.ended_at, r.started_at) if t]
    spent = (max(stamps) - sweep.created_at).total_seconds() if stamps else 0.0
    return float(budget) - max(0.0, spent)


@dataclass(frozen=True)
class SearchReport:
    trained: int
    stopped: bool


def work(
    store: Store,
    sweep_id: int,
    *,
    resume: bool,
    stop: threading.Event,
    progress_factory: Callable[[], Progress] = Progress,
    batch_size: int = rungs.GROUP,
) -> SearchReport:
    """Propose, claim and train trials until the trials or the budget are spent (or a stop
    is asked for); with ``resume``, the search's killed and crashed trials first. Trials
    that can be one batched model are taken up to ``batch_size`` at a time
    (``stages/rungs.py``), others one at a time."""
    sweep = store.sweep(sweep_id)
    search = sweep.spec["search"]
    base, dims = space_of(sweep)
    dataset = store.dataset_by_id(sweep.dataset_id)
    assert base.train is not None
    device = resolve_device(base.train.device)
    left = remaining_s(sweep, store.sweep_runs(sweep_id))
    deadline = None if left is None else time.monotonic() + left
    prune = search["prune"] is not None
    trained = 0

    def progress() -> tuple[RungProgress, TrialStop]:
        trial_stop = TrialStop(stop)
        return RungProgress(progress_factory(), store, sweep_id, trial_stop, prune), trial_stop

    if resume:
        for r in store.resumable_sweep_runs(sweep_id):
            if stop.is_set():
                break
            watch, trial_stop = progress()
            try:
                resume_run(store, r.id, progress=watch, stop=trial_stop)
            except ClaimedError:  # another worker took it meanwhile
                continue
            trained += 1
    k = rungs.width(base, dims, batch_size)  # > 1: trials trained as one batched model
    attempt = 0
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        runs = store.sweep_runs(sweep_id)
        n = k if search["trials"] is None else min(k, search["trials"] - len(runs))
        if n <= 0:
            break
        proposals = propose(sweep, dims, runs, store.sweep_curves(sweep_id), attempt, n)
        if not proposals:
            break
        cfgs = [trial_config(base, p, search) for p in proposals]
        got = rungs.claim(store, sweep, dataset, cfgs, limit=search["trials"])
        if got.full and not got.trials:
            break
        if got.duplicates and not got.trials:  # ask again, differently seeded
            attempt += 1
            if attempt >= MAX_DUPLICATES:
                break
            continue
        attempt = 0
        if len(got.trials) > 1 and batched.supports([c for c, _ in got.trials]):
            outcomes = rungs.execute_group(
                store, sweep_id, dataset, got.trials, device, progress_factory(), stop, prune
            )
        else:
            outcomes = []
            for cfg, run in got.trials:
                if outcomes and outcomes[-1].run.status == "killed":  # resumable, untrained
                    store.end_run(run.id, status="killed", error="stopped", steps_done=0)
                    continue
                watch, trial_stop = progress()
                plan = Plan.point(dataset, cfg)
                outcomes.append(execute_run(store, run, plan, watch, trial_stop))
        trained += len(outcomes)
        if any(o.run.status == "killed" for o in outcomes):
            return SearchReport(trained, True)
    return SearchReport(trained, stop.is_set())


# --- what a search found ---------------------------------------------------------------


def trial_rows(
    sweep: SweepRecord,
    runs: Sequence[RunRecord],
    curves: Mapping[int, Sequence[MetricRecord]],
) -> list[dict[str, Any]]:
    """A row per trial, in the order they started: run, status, dev (a pruned trial's at
    the step it stopped), the parameters, minutes from the search's start to the trial's
    end and the best finished dev so far then."""
    _, dims = space_of(sweep)
    start = sweep.created_at
    out = []
    for i, r in enumerate(sorted(runs, key=lambda r: r.id)):
        last = last_dev(curves.get(r.id, []))
        dev = r.dev_loss if r.status == "finished" else (last[1] if last else None)
        end = r.ended_at or r.heartbeat_at or datetime.now(timezone.utc)
        out.append(
            {
                "trial": i,
                "run": r.id,
                "status": r.status,
                "dev_loss": dev,
                "at_step": r.steps_done,
                "steps": r.steps,
                **params_of(r, dims),
                "minutes": (end - start).total_seconds() / 60,
                "train_seconds": r.train_seconds,
            }
        )
    best = math.inf
    for row in sorted(out, key=lambda row: row["minutes"]):
        if row["status"] == "finished" and row["dev_loss"] is not None:
            best = min(best, row["dev_loss"])
        row["best_so_far"] = best if math.isfinite(best) else None
    return out


def importance(
    sweep: SweepRecord,
    runs: Sequence[RunRecord],
    curves: Mapping[int, Sequence[MetricRecord]],
) -> dict[str, float]:
    """Each parameter's importance for the final dev loss (Optuna's PED-ANOVA evaluator
    over the finished trials); empty with fewer than two of them."""
    import optuna

    _, dims = space_of(sweep)
    finished = [r for r in runs if r.status == "finished" and r.dev_loss is not None]
    if len(finished) < 2:
        return {}
    study = study_from_store(finished, curves, dims)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # PED-ANOVA (Watanabe et al. 2023): needs no scikit-learn, unlike fANOVA
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (RuntimeError, ValueError):  # e.g. every trial at the same point
        return {}
