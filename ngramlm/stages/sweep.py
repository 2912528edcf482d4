"""Sweeps: a grid written whole, a sweep's plan resolved once, and the worker loop.

A sweep and all its points are written to the store before any training starts. Workers
(local processes, or processes on other machines that share a PostgreSQL store) claim
points atomically, one transaction per claim, so each point is trained exactly once
however many workers run. Every point becomes an ordinary run linked to its sweep.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ngramlm import runtime
from ngramlm.config import RunConfig
from ngramlm.errors import InputError
from ngramlm.models import config_from_dict
from ngramlm.stages.budget import interrupted, stopped_by_budget
from ngramlm.stages.grid import GridCheck, expand
from ngramlm.stages.plan import Asked, Plan, SweepSetup, plan_run, setup_of
from ngramlm.stages.report import best_by_dev
from ngramlm.stages.run import (
    Outcome,
    Progress,
    execute_batched,
    execute_run,
    new_run,
)
from ngramlm.stages.search import WorkerReport, WorkOrder
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord, NewRun, PointRecord, RunRecord, SweepRecord
from ngramlm.training import batched

MAX_WORKERS = 256


@dataclass(frozen=True)
class GridRequest:
    """A grid sweep as asked for (``sweep``'s options, the API's arguments), before
    ``create_grid`` resolves it once."""

    lr_grid: str | Sequence[float] | None  # "0.01,0.1,1", "1e-3:1:7" or the rates
    grid: Mapping[str, Sequence[Any]] | Sequence[str] | None  # data, or KEY=V1,V2 text
    seeds: int
    asked: Asked  # the base config's options


def create_grid(
    opened: Callable[[], Store], dataset: str | DatasetRecord | None, request: GridRequest
) -> SweepSetup:
    """Write a grid sweep and all its points (lr x grid x seed replicates), training
    nothing; the options, the grid (merged and expanded once, ``GridCheck``) and the
    device resolved once. Bad grids are refused before anything is written."""
    r, a = request, request.asked
    points = GridCheck(r.lr_grid, r.grid, r.seeds)
    plan = plan_run(opened, dataset, model=a.model, preset=a.preset, threads=1,
                    overrides=a.overrides, check=points)  # fmt: skip
    sweep = create(opened(), plan.dataset, plan.config, points.rates, points.grid, r.seeds,
                   a.name, points.configs)  # fmt: skip
    return SweepSetup(sweep, plan.dataset, plan.config, {}, plan.device)


def create(
    store: Store,
    dataset: DatasetRecord,
    base: RunConfig,
    lrs: list[float],
    grid: dict[str, list[Any]],
    seeds: int,
    name: str | None,
    configs: Sequence[RunConfig] | None = None,
) -> SweepRecord:
    """Write a grid sweep of a resolved base config and its points (``configs``, expanded
    already; None: expanded here)."""
    configs = expand(base, lrs, grid, seeds) if configs is None else configs
    spec = {"base": base.to_dict(), "lr_grid": lrs, "grid": grid, "seeds": seeds}
    points = [(c.to_dict(), c.config_hash(), batched.group_key(c)) for c in configs]
    return store.create_sweep(dataset_id=dataset.id, name=name, spec=spec, points=points)


# --- workers ---------------------------------------------------------------------------


def work(
    store: Store,
    setup: SweepSetup | int,
    *,
    resume: bool,
    stop: threading.Event,
    progress_factory: Callable[[], Progress] = Progress,
    batch_size: int = 8,
) -> WorkerReport:
    """A worker: train the sweep's points (a search's trials: ``stages/search.py``) until
    none is left (or a stop is asked for), on the setup's device (a sweep id: its setup
    read here); with ``resume``, its killed and crashed runs too. Up to ``batch_size``
    points of one shape are claimed and trained together."""
    if isinstance(setup, int):
        setup = setup_of(store, setup)
    order = WorkOrder(resume, stop, progress_factory, batch_size)
    if "search" in setup.sweep.spec:  # its points are proposed as it goes
        from ngramlm.stages import search

        return search.work(store, setup, order)
    return work_grid(store, setup, order)


def work_grid(store: Store, setup: SweepSetup, order: WorkOrder) -> WorkerReport:
    """Claim and train a grid's points until none is left (or a stop is asked for); with
    ``resume``, then its killed and crashed points, one at a time."""
    sweep_id, dataset, device = setup.sweep.id, setup.dataset, setup.device
    stop, progress_factory = order.stop, order.progress_factory
    # Groups whose points can be trained together as one batched model.
    by_group: dict[str, list[RunConfig]] = {}
    for p in store.points(sweep_id):
        by_group.setdefault(p.group_key, []).append(config_from_dict(p.config))
    # (points of a group differ only in lr, seed and weight decay: checking one of them
    # twice is enough)
    batchable = {g for g, cfgs in by_group.items() if batched.supports([cfgs[0]] * 2)}

    def run_of(point: PointRecord) -> NewRun:
        """A claimed point's run: its config and hash as the sweep stored them."""
        new = new_run(
            Plan.point(dataset, point.config, device), "train", setup.sweep.name, sweep_id
        )
        return replace(new, config=point.config, config_hash=point.config_hash)

    trained = 0
    while not stop.is_set():
        outcome: Outcome | None = None
        claimed = store.claim_points(
            sweep_id, limit=order.batch_size, batchable=batchable, run_of=run_of
        )
        if len(claimed) > 1:
            cfgs = [config_from_dict(p.config) for p, _ in claimed]
            outcomes = execute_batched(
                store, [r for _, r in claimed], dataset, cfgs, device, progress_factory(), stop
            )
            trained += len(outcomes) - 1
            outcome = outcomes[-1]
        elif claimed:
            point, run = claimed[0]
            plan = Plan.point(dataset, point.config, device)
            outcome = execute_run(store, run, plan, progress_factory(), stop)
        elif order.resume:  # one killed or crashed point continued (None: none left)
            from ngramlm.stages.search import resume_each

            watch = lambda: (progress_factory(), stop)  # noqa: E731
            outcome = next(resume_each(store, sweep_id, device, watch), None)
        if outcome is None:
            break
        trained += 1
        if outcome.run.status == "killed":
            return WorkerReport(trained, True)
    return WorkerReport(trained, stop.is_set())


@dataclass(frozen=True)
class SweepPlan:
    """A sweep's training, resolved once and run as it is (``stages/supervise.py``): its
    setup (dataset, base config, space, device), the local worker processes (0: in this
    process), torch threads a worker, the points a batched model takes, and whether its
    killed and crashed points resume. Workers and trials receive it and resolve nothing
    again."""

    setup: SweepSetup
    workers: int
    threads: int
    batch_size: int
    resume: bool = False

    @property
    def sweep(self) -> SweepRecord:
        return self.setup.sweep

    def describe(self) -> str:
        t = "thread" if self.threads == 1 else "threads"
        if self.workers == 0:
            return f"in this process, {self.threads} {t}"
        w = "worker" if self.workers == 1 else "workers"
        return f"{self.workers} {w}, {self.threads} {t} each"


def check_workers(workers: int | None) -> None:
    """A sweep's worker count: 0 trains in this process, 1 to ``MAX_WORKERS`` start
    processes, None: as many as the policy finds useful. The one check, the one message."""
    if workers is not None and (isinstance(workers, bool) or not 0 <= workers <= MAX_WORKERS):
        raise InputError(
            f"--workers must be between 0 (in this process) and {MAX_WORKERS}, got {workers}"
        )


def plan(
    store: Store,
    setup: SweepSetup | int,
    *,
    resume: bool,
    workers: int | None = None,
    threads: int | None = None,
    machine: runtime.Machine | None = None,
) -> SweepPlan:
    """Workers and threads for the points left to train (``runtime`` decides),
    for a sweep's setup (a sweep id: its setup read here, its device resolved)."""
    if isinstance(setup, int):
        setup = setup_of(store, setup)
    sweep_id, spec = setup.sweep.id, setup.sweep.spec
    points = store.points(sweep_id)
    cfgs = [config_from_dict(p.config) for p in points if p.run_id is None]
    groups: dict[str, int] = {}
    for p in points:
        if p.run_id is None:
            groups[p.group_key] = groups.get(p.group_key, 0) + 1
    if resume:
        cfgs += [config_from_dict(r.config) for r in store.resumable_sweep_runs(sweep_id)]
    largest = 0  # the largest group that trains batched (its points differ in batched.VARIES)
    if "search" in spec:  # trials are proposed as workers go: size the plan on the base
        from ngramlm.stages import rungs

        trials = spec["search"].get("trials") or runtime.machine().usable
        left = max(1, trials - sum(p.run_id is not None for p in points))
        cfgs += [setup.base] * left
        groups = {}
        width = rungs.width(setup.base, setup.dims, runtime.MAX_BATCH)
        if spec["search"].get("trials") and width > 1:
            largest = left  # batched rungs: the trials left shared out as groups
    if not cfgs:  # nothing left: one worker finds that out
        cfgs = [config_from_dict(points[0].config)] if points else []
    for key, n in groups.items():
        first = next(config_from_dict(p.config) for p in points if p.group_key == key)
        if n > largest and batched.supports([first] * 2):
            largest = n
    flops = [runtime.step_flop(c) for c in cfgs]
    work = sum(f * (c.train.steps if c.train else 0) for f, c in zip(flops, cfgs, strict=True))
    counts = runtime.plan_sweep(
        max(flops, default=0.0), len(cfgs), largest, machine or runtime.machine(),
        work=work, workers=workers, threads=threads,
    )  # fmt: skip
    return SweepPlan(setup, counts.workers, counts.threads, counts.batch_size, resume)


@dataclass(frozen=True)
class SweepStatus:
    """A sweep's runs as they stand; ``stopped_dev``: a search's trials that stopped
    early (pruned, or killed), by run, with the dev loss of their last evaluation."""

    sweep: SweepRecord
    runs: list[RunRecord]
    stopped_dev: Mapping[int, float] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return sum(r.status == "finished" for r in self.runs)

    @property
    def pruned(self) -> int:
        return sum(r.status == "pruned" for r in self.runs)

    @property
    def active(self) -> list[RunRecord]:
        return [r for r in self.runs if r.status == "running"]

    @property
    def interrupted(self) -> list[RunRecord]:
        """Runs killed by a signal (Ctrl-C, SIGTERM), not by a search's budget."""
        return [r for r in self.runs if interrupted(r)]

    @property
    def budget_stopped(self) -> list[RunRecord]:
        """A search's trials that its budget stopped (killed, resumable)."""
        return [r for r in self.runs if stopped_by_budget(r)]

    @property
    def best(self) -> RunRecord | None:
        return best_by_dev(self.runs)


def status(store: Store, sweep_id: int) -> SweepStatus:
    sweep, runs = store.sweep(sweep_id), store.sweep_runs(sweep_id)
    stopped: dict[int, float] = {}
    if "search" in sweep.spec and any(r.status in ("pruned", "killed") for r in runs):
        curves = store.sweep_curves(sweep_id)
        for r in runs:
            devs = [m.dev_loss for m in curves.get(r.id, []) if m.dev_loss is not None]
            if r.status in ("pruned", "killed") and devs:
                stopped[r.id] = devs[-1]
    return SweepStatus(sweep, runs, stopped)


class SweepWatch:
    """What a sweep tells its caller (the CLI's live display): its plan once resolved,
    before any point trains, its status while workers run, and what happens after the
    trials (``note``). The defaults do nothing."""

    def started(self, plan: SweepPlan) -> None: ...

    def poll(self, status: SweepStatus) -> None: ...

    def note(self, line: str) -> None:
        """A line of what happens after the trials (a search's closing mixture)."""
