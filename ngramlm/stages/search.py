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

The space is ``stages/space.py``'s, successive halving (``--prune halving``)
``stages/halving.py``'s. Trials run one at a time a worker (not yet as one batched
model). The search reads train and dev only.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import socket
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ngramlm import __version__
from ngramlm.config import RunConfig
from ngramlm.errors import ClaimedError, InputError
from ngramlm.models import config_from_dict, family_of
from ngramlm.stages.halving import RungProgress, TrialStop, rungs
from ngramlm.stages.plan import Plan
from ngramlm.stages.run import Progress, execute_run, resume_run, run_columns
from ngramlm.stages.space import Dim, parse_dim
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord, MetricRecord, RunRecord, SweepRecord
from ngramlm.training import batched
from ngramlm.training.loop import resolve_device

if TYPE_CHECKING:
    import optuna

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("halving",)
MAX_TRIALS = 10_000
MAX_DUPLICATES = 25  # proposals in a row already in the store: the space is exhausted
TPE_STARTUP = 8  # random trials before TPE models the good and the bad ones

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
        last_rung = max(rungs(t.steps))
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
    spec = {"base": base.to_dict(), "search": search, "grid": {}, "seeds": 1}
    return store.create_sweep(dataset_id=dataset.id, name=name, spec=spec, points=[])


def is_search(sweep: SweepRecord) -> bool:
    return "search" in sweep.spec


def space_of(sweep: SweepRecord) -> tuple[RunConfig, dict[str, Dim]]:
    base = config_from_dict(sweep.spec["base"])
    types = base.types()
    return base, {d.key: d for d in (parse_dim(t, types) for t in sweep.spec["search"]["space"])}


# --- the store as an Optuna study ------------------------------------------------------


def last_dev(curve: Sequence[MetricRecord]) -> tuple[int, float] | None:
    points = [(m.step, m.dev_loss) for m in curve if m.dev_loss is not None]
    return points[-1] if points else None


def params_of(run: RunRecord, dims: Mapping[str, Dim]) -> dict[str, Any]:
    flat = config_from_dict(run.config).hyperparameters()
    return {k: flat[k] for k in dims}


def study_from_store(
    runs: Sequence[RunRecord],
    curves: Mapping[int, Sequence[MetricRecord]],
    dims: Mapping[str, Dim],
    sampler: optuna.samplers.BaseSampler | None = None,
) -> optuna.Study:
    """An in-memory study holding the search's runs as trials: finished -> complete
    (value: final dev loss), pruned -> pruned, failed -> failed, others running."""
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    dists = {k: d.distribution() for k, d in dims.items()}
    for r in runs:
        curve = curves.get(r.id, [])
        inter = {m.step: m.dev_loss for m in curve if m.dev_loss is not None}
        value: float | None = None
        if r.status == "finished" and r.dev_loss is not None and math.isfinite(r.dev_loss):
            state, value = TrialState.COMPLETE, r.dev_loss
        elif r.status == "pruned":
            state, last = TrialState.PRUNED, last_dev(curve)
            value = last[1] if last else None
        elif r.status in ("failed", "finished"):
            state = TrialState.FAIL
        else:
            state = TrialState.RUNNING
        inter = {s: v for s, v in inter.items() if math.isfinite(v)}
        study.add_trial(
            create_trial(
                state=state,
                value=value if value is None or math.isfinite(value) else None,
                params=params_of(r, dims),
                distributions=dists,
                intermediate_values=inter,
                user_attrs={"run": r.id},
            )
        )
    return study


def make_sampler(kind: str, seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    if kind == "tpe":
        with warnings.catch_warnings():  # constant_liar is marked experimental
            warnings.simplefilter("ignore")
            # constant_liar: trials other workers are running count as bad, so parallel
            # workers do not all propose the same region
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=TPE_STARTUP, constant_liar=True
            )
    return optuna.samplers.RandomSampler(seed=seed)


def propose(
    sweep: SweepRecord,
    dims: Mapping[str, Dim],
    runs: Sequence[RunRecord],
    curves: Mapping[int, Sequence[MetricRecord]],
    attempt: int,
) -> dict[str, Any] | None:
    """The next point to try (None: a grid with every point taken)."""
    search = sweep.spec["search"]
    seed = search["seed"] * 1_000_003 + len(runs) * 1009 + attempt
    if search["sampler"] == "grid":
        taken = {tuple(sorted(params_of(r, dims).items())) for r in runs}
        points = [
            dict(zip(dims, c, strict=True))
            for c in itertools.product(*(d.choices for d in dims.values()))
        ]
        random.Random(search["seed"]).shuffle(points)
        return next((p for p in points if tuple(sorted(p.items())) not in taken), None)
    study = study_from_store(runs, curves, dims, make_sampler(search["sampler"], seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trial = study.ask({k: d.distribution() for k, d in dims.items()})
    return dict(trial.params)


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
) -> SearchReport:
    """Propose, claim and train trials until the trials or the budget are spent (or a stop
    is asked for); with ``resume``, the search's killed and crashed trials first."""
    sweep = store.sweep(sweep_id)
    search = sweep.spec["search"]
    base, dims = space_of(sweep)
    dataset = store.dataset_by_id(sweep.dataset_id)
    assert base.train is not None
    device = resolve_device(base.train.device)
    left = remaining_s(sweep, store.sweep_runs(sweep_id))
    deadline = None if left is None else time.monotonic() + left
    prune = search["prune"] is not None
    host, pid = socket.gethostname(), os.getpid()
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
    attempt = 0
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        runs = store.sweep_runs(sweep_id)
        if search["trials"] is not None and len(runs) >= search["trials"]:
            break
        params = propose(sweep, dims, runs, store.sweep_curves(sweep_id), attempt)
        if params is None:
            break
        cfg = base.with_values(params)
        got = store.add_point(
            sweep_id,
            (cfg.to_dict(), cfg.config_hash(), batched.group_key(cfg)),
            limit=search["trials"],
            columns=lambda c: run_columns(Plan.point(dataset, c)),
            device=str(device),
            host=host,
            pid=pid,
            version=__version__,
        )
        if got == "full":
            break
        if isinstance(got, str):  # a duplicate: ask again, differently seeded
            attempt += 1
            if attempt >= MAX_DUPLICATES:
                break
            continue
        attempt = 0
        _, run = got
        try:
            family_of(cfg).validate(cfg)  # a combination of valid ends may still be too big
        except InputError as exc:
            store.end_run(run.id, status="failed", error=str(exc), steps_done=0)
            continue
        watch, trial_stop = progress()
        plan = Plan.point(dataset, cfg)
        outcome = execute_run(store, run, plan, watch, trial_stop)
        trained += 1
        if outcome.run.status == "killed":
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
