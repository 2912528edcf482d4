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
The study also holds the dataset's earlier trials that the space holds (a warm start,
``study.Earlier``), and the store refuses a configuration any run of the dataset trained,
so no configuration is trained twice there. The budget is kept (``stages/budget.py``): no
trial starts past it, and running ones stop at their first evaluation past it.

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ngramlm.config import RunConfig
from ngramlm.errors import ClaimedError, InputError
from ngramlm.models import DEFAULT_FAMILY, family, family_of
from ngramlm.resources import BUNDLED_UNIT
from ngramlm.stages import rungs
from ngramlm.stages.budget import SPENT, Budget, interrupted
from ngramlm.stages.halving import RungProgress, TrialStop
from ngramlm.stages.halving import rungs as rung_steps
from ngramlm.stages.plan import (
    Asked,
    Plan,
    SweepSetup,
    plan_resume,
    plan_run,
    steps_from_epochs,
    train_examples,
)
from ngramlm.stages.prepare import check_name
from ngramlm.stages.run import Outcome, Progress, execute_run, resume_run
from ngramlm.stages.space import Dim, check_whole, parse_budget, parse_space, space_points
from ngramlm.stages.study import earlier, propose
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord, RunRecord, SweepRecord
from ngramlm.training import batched

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("halving",)
MAX_TRIALS = 10_000
MAX_DUPLICATES = 25  # proposals in a row already in the store: the space is exhausted

# --- creating a search -----------------------------------------------------------------


@dataclass(frozen=True)
class SearchRequest:
    """A search as asked for (``sweep --search``'s options, the API's arguments), before
    ``create`` resolves it once."""

    sampler: str  # tpe, random or grid
    space: Sequence[str] | Mapping[str, str] | None  # None: the family's default
    trials: int | None
    budget: str | None  # a duration: 90s, 30m, 2h
    prune: str | None  # halving
    seed: int
    asked: Asked  # the base config's options
    mix: bool = True  # end in the mixture with a count model (``stages/finish.py``)


def create(
    opened: Callable[[], Store], dataset: str | DatasetRecord | None, request: SearchRequest
) -> SweepSetup:
    """Write a search, training nothing, everything about it resolved once: the options
    (``plan_run``), the dataset (read once), the space as data (``--space``, else the
    family's own for the dataset's unit, ``default_space``), the checks and the device.
    Bad input is refused before anything is written."""
    sampler, space, trials, prune = request.sampler, request.space, request.trials, request.prune
    model, preset, budget = request.asked.model, request.asked.preset, request.budget
    if budget is not None and not isinstance(budget, str):
        raise InputError(f"--budget {budget!r} is not a duration; give e.g. 90s, 30m or 2h")
    budget_s = parse_budget(budget) if budget is not None else None
    given = {k: v for k, v in request.asked.overrides.items() if v is not None}
    if not space and preset is None:  # the family's search preset
        if isinstance(dataset, str):
            check_name(dataset)
            dataset = opened().dataset(dataset)  # read once, handed to plan_run
        unit = dataset.unit if isinstance(dataset, DatasetRecord) else BUNDLED_UNIT
        preset = family(model or DEFAULT_FAMILY).search_space(unit)[0]
    dims: dict[str, Dim] = {}

    def check_space(base: RunConfig, unit: str) -> None:
        dims.update(parse_space(space or default_space(base, unit, given), base))
        if "epochs" in dims and "steps" in given:
            raise InputError(
                "--space epochs=... sets each trial's steps; drop --steps (or the space "
                "over epochs)"
            )
        check(base, dims, sampler, trials, budget_s, prune)

    plan = plan_run(
        opened, dataset, model=model, preset=preset, threads=1, overrides=given, check=check_space
    )
    store = opened()
    spec = search_spec(plan, dims, sampler, trials, budget_s, prune, request.seed, store)
    spec["search"]["mix"] = bool(request.mix)
    sweep = store.create_sweep(
        dataset_id=plan.dataset.id, name=request.asked.name, spec=spec, points=[]
    )
    deadline = None if budget_s is None else time.time() + budget_s
    return SweepSetup(sweep, plan.dataset, plan.config, dims, plan.device, deadline)


def default_space(base: RunConfig, unit: str, given: Mapping[str, Any]) -> dict[str, str]:
    """The family's own search space for ``unit`` (``Family.search_space``), less what the
    options fix (``--steps`` fixes the epochs too)."""
    fixed = set(given) | ({"epochs"} if "steps" in given else set())
    return {k: v for k, v in family_of(base).search_space(unit)[1].items() if k not in fixed}


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
    check_whole(base, dims)
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


def search_spec(
    plan: Plan,
    dims: Mapping[str, Dim],
    sampler: str,
    trials: int | None,
    budget_s: float | None,
    prune: str | None,
    seed: int,
    store: Store,
) -> dict[str, Any]:
    """The spec a search is recorded with (its space as its ``--space`` items). A space
    of fewer points than ``--trials`` (choices, integer ranges) runs each point once: its
    trials are its size, and ``trials_asked`` keeps what was asked for."""
    size = space_points(dims)
    asked = trials
    if size is not None and (trials is not None or sampler == "grid"):
        trials = min(trials or size, size)  # (a budget alone stops when every point is tried)
    search: dict[str, Any] = {
        "sampler": sampler,
        "space": [d.text for d in dims.values()],
        "trials": trials,
        "budget_s": budget_s,
        "prune": prune,
        "seed": seed,
    }
    if size is not None:
        search["space_points"] = size
        if asked is not None and asked > size:
            search["trials_asked"] = asked
    if "epochs" in dims:  # a trial's epochs set its steps: an epoch's examples, once
        ds = plan.dataset
        words = plan.train_words or store.words(ds.id, "train")
        cfg = plan.config  # a sequence family's windows: of the base's block size
        fam = family_of(cfg)
        search["train_examples"] = train_examples(fam, words, ds.vocab, cfg.model.block_size)
    # the dataset's trials in this space so far (a warm start: ``study.Earlier``)
    config_of = lambda p: trial_config(plan.config, p, search)  # noqa: E731
    search["earlier"] = len(earlier(store, None, plan.dataset.id, dims, config_of).runs)
    return {"base": plan.config.to_dict(), "search": search, "grid": {}, "seeds": 1}


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


# --- the worker ------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerReport:
    """What a worker did: the points (or trials) it trained, and whether it was stopped."""

    trained: int
    stopped: bool


@dataclass(frozen=True)
class WorkOrder:
    """What a worker is told (``stages.sweep.work``, the one entry point of the grid and the
    search workers): whether the sweep's killed and crashed runs resume first, the stop it
    heeds, a progress display per run, and how many runs one batched model takes at most."""

    resume: bool
    stop: threading.Event
    progress_factory: Callable[[], Progress] = Progress
    batch_size: int = 8


def work(store: Store, setup: SweepSetup, order: WorkOrder) -> WorkerReport:
    """Propose, claim and train trials until the trials or the budget are spent (or a stop
    is asked for); with ``resume``, the search's killed and crashed trials first (under
    what is left of the budget; once it is spent, to their end, starting none). Trials
    that can be one batched model are taken up to ``batch_size`` (``rungs.GROUP`` at most)
    at a time (``stages/rungs.py``), others one at a time. Every trial trains on the
    setup's device, resolved once for the sweep; the sampler learns from the dataset's
    earlier trials too (``study.Earlier``)."""
    stop = order.stop
    sweep, dims = setup.sweep, setup.dims
    search = sweep.spec["search"]
    # the budget's end, read once for every worker of this session (``setup_of``)
    budget = Budget.of(setup.deadline, search.get("budget_s"))
    trials = Trials(store, setup, stop, order.progress_factory, budget)
    trained = trials.resume() if order.resume else 0
    k = rungs.width(setup.base, dims, order.batch_size)  # > 1: trials trained as one batched model
    warm = earlier(store, sweep.id, setup.dataset.id, dims,
                   lambda p: trial_config(setup.base, p, search))  # fmt: skip
    attempt = 0
    while not stop.is_set() and not (budget is not None and budget.spent()):
        runs = store.sweep_runs(sweep.id)
        n = k if search["trials"] is None else min(k, search["trials"] - len(runs))
        if n <= 0:
            break
        proposals = propose(sweep, dims, runs, store.sweep_curves(sweep.id), attempt, n, warm)
        if not proposals:
            break
        got = trials.claim([trial_config(setup.base, p, search) for p in proposals])
        if got.full and not got.trials:
            break
        if got.duplicates and not got.trials:  # ask again, differently seeded
            attempt += 1
            if attempt >= MAX_DUPLICATES:
                break
            continue
        attempt = 0
        outcomes = trials.train(got.trials)
        trained += len(outcomes)
        if any(interrupted(o.run) for o in outcomes):
            return WorkerReport(trained, True)
    return WorkerReport(trained, stop.is_set())


def resume_each(
    store: Store,
    sweep_id: int,
    device: torch.device,
    watch: Callable[[], tuple[Progress, threading.Event]],
) -> Iterator[Outcome]:
    """A sweep's killed and crashed runs continued one by one on the sweep's device, each
    with the progress and stop ``watch`` gives it (one another worker took meanwhile is
    passed over), until a stop."""
    for r in store.resumable_sweep_runs(sweep_id):
        progress, stop = watch()
        if stop.is_set():
            return
        plan = plan_resume(store, r.id, torch.get_num_threads(), device=device)
        try:
            yield resume_run(store, r.id, plan=plan, progress=progress, stop=stop)
        except ClaimedError:  # another worker took it meanwhile
            continue


class Trials:
    """A worker's trials of one search: claimed, trained (alone or as one batched model)
    and resumed on the setup's device, each watched for the halving rungs and stopped by
    the ``budget`` (``stages/budget.py``)."""

    def __init__(
        self,
        store: Store,
        setup: SweepSetup,
        stop: threading.Event,
        progress_factory: Callable[[], Progress],
        budget: Budget | None = None,
    ) -> None:
        self.store, self.setup, self.stop = store, setup, stop
        self.progress_factory = progress_factory
        self.prune = setup.sweep.spec["search"]["prune"] is not None
        self.budget = budget

    def watch(self) -> tuple[RungProgress, TrialStop]:
        trial_stop = TrialStop(self.stop, self.budget)
        sid = self.setup.sweep.id
        watch = RungProgress(self.progress_factory(), self.store, sid, trial_stop, self.prune)
        return watch, trial_stop

    def resume(self) -> int:
        """The search's killed and crashed trials, continued; how many were. Once the
        budget is spent, they train to their end."""
        s = self.setup
        if self.budget is not None and self.budget.spent():
            self.budget = None
        return sum(1 for _ in resume_each(self.store, s.sweep.id, s.device, self.watch))

    def claim(self, cfgs: Sequence[RunConfig]) -> rungs.Claimed:
        s = self.setup
        limit = s.sweep.spec["search"]["trials"]
        until = None if self.budget is None else s.deadline  # none starts past it
        return rungs.claim(
            self.store, s.sweep, s.dataset, cfgs, limit=limit, device=s.device, until=until
        )

    def train(self, got: list[tuple[RunConfig, RunRecord]]) -> list[Outcome]:
        """Claimed trials trained: as one batched model when they can be, else one by
        one (after a stop, or once the budget is spent, the rest are recorded killed,
        untrained and resumable)."""
        s = self.setup
        if len(got) > 1 and batched.supports([c for c, _ in got]):
            return rungs.execute_group(
                self.store, s.sweep.id, s.dataset, got, s.device, self.progress_factory(),
                self.stop, self.prune, self.budget,
            )  # fmt: skip
        outcomes: list[Outcome] = []
        for cfg, run in got:
            spent = self.budget is not None and self.budget.spent()
            if spent or (outcomes and outcomes[-1].run.status == "killed"):  # resumable
                why = f"{SPENT} before it started" if spent else "stopped"
                self.store.end_run(run.id, status="killed", error=why, steps_done=0)
                continue
            watch, trial_stop = self.watch()
            plan = Plan.point(s.dataset, cfg, s.device)
            outcomes.append(execute_run(self.store, run, plan, watch, trial_stop))
        return outcomes
