"""Sweeps: grid expansion, point claiming, and the worker loop.

A sweep and all its points are written to the store before any training starts. Workers
(local processes, or processes on other machines that share a PostgreSQL store) claim
points atomically, one transaction per claim, so each point is trained exactly once
however many workers run. Every point becomes an ordinary run linked to its sweep.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ngramlm import runtime
from ngramlm.config import RunConfig
from ngramlm.errors import ClaimedError, InputError, WorkersDied
from ngramlm.models import config_from_dict
from ngramlm.runtime import resolve_device
from ngramlm.stages.grid import expand
from ngramlm.stages.plan import Plan
from ngramlm.stages.report import best_by_dev
from ngramlm.stages.run import (
    Outcome,
    Progress,
    execute_batched,
    execute_run,
    new_run,
    resume_run,
)
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord, NewRun, PointRecord, RunRecord, SweepRecord
from ngramlm.training import batched


def create(
    store: Store,
    dataset: DatasetRecord,
    base: RunConfig,
    lrs: list[float],
    grid: dict[str, list[Any]],
    seeds: int,
    name: str | None,
) -> SweepRecord:
    configs = expand(base, lrs, grid, seeds)
    assert base.train is not None
    resolve_device(base.train.device)
    spec = {"base": base.to_dict(), "lr_grid": lrs, "grid": grid, "seeds": seeds}
    points = [(c.to_dict(), c.config_hash(), batched.group_key(c)) for c in configs]
    return store.create_sweep(dataset_id=dataset.id, name=name, spec=spec, points=points)


# --- workers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerReport:
    trained: int
    stopped: bool


def work(
    store: Store,
    sweep_id: int,
    *,
    resume: bool,
    stop: threading.Event,
    progress_factory: Callable[[], Progress] = Progress,
    batch_size: int = 8,
) -> WorkerReport:
    """Claim and train points until none is left (or a stop is asked for). Up to
    ``batch_size`` points of one shape are claimed and trained together."""
    sweep = store.sweep(sweep_id)
    if "search" in sweep.spec:  # its points are proposed as it goes (stages/search.py)
        from ngramlm.stages import search

        found = search.work(
            store,
            sweep_id,
            resume=resume,
            stop=stop,
            progress_factory=progress_factory,
            batch_size=batch_size,
        )
        return WorkerReport(found.trained, found.stopped)
    dataset = store.dataset_by_id(sweep.dataset_id)
    # Groups whose points can be trained together as one batched model.
    by_group: dict[str, list[RunConfig]] = {}
    for p in store.points(sweep_id):
        by_group.setdefault(p.group_key, []).append(config_from_dict(p.config))
    # (points of a group differ only in lr, seed and weight decay: checking one of them
    # twice is enough)
    batchable = {g for g, cfgs in by_group.items() if batched.supports([cfgs[0]] * 2)}

    device = resolve_device(sweep.spec["base"]["train"]["device"])

    def run_of(point: PointRecord) -> NewRun:
        """A claimed point's run: its config and hash as the sweep stored them."""
        new = new_run(Plan.point(dataset, point.config), "train", sweep.name, sweep_id)
        return replace(new, config=point.config, config_hash=point.config_hash)

    trained = 0
    while not stop.is_set():
        outcome: Outcome | None = None
        claimed = store.claim_points(sweep_id, limit=batch_size, batchable=batchable, run_of=run_of)
        if len(claimed) > 1:
            cfgs = [config_from_dict(p.config) for p, _ in claimed]
            outcomes = execute_batched(
                store, [r for _, r in claimed], dataset, cfgs, device, progress_factory(), stop
            )
            trained += len(outcomes) - 1
            outcome = outcomes[-1]
        elif claimed:
            point, run = claimed[0]
            plan = Plan.point(dataset, point.config)
            outcome = execute_run(store, run, plan, progress_factory(), stop)
        elif resume:
            for r in store.resumable_sweep_runs(sweep_id):
                try:
                    outcome = resume_run(store, r.id, progress=progress_factory(), stop=stop)
                    break
                except ClaimedError:  # another worker took it meanwhile
                    continue
        if outcome is None:
            break
        trained += 1
        if outcome.run.status == "killed":
            return WorkerReport(trained, True)
    return WorkerReport(trained, stop.is_set())


def plan(
    store: Store,
    sweep_id: int,
    *,
    resume: bool,
    workers: int | None = None,
    threads: int | None = None,
    machine: runtime.Machine | None = None,
) -> runtime.SweepPlan:
    """Workers and threads for the points left to train (``runtime`` decides)."""
    points = store.points(sweep_id)
    cfgs = [config_from_dict(p.config) for p in points if p.run_id is None]
    groups: dict[str, int] = {}
    for p in points:
        if p.run_id is None:
            groups[p.group_key] = groups.get(p.group_key, 0) + 1
    if resume:
        cfgs += [config_from_dict(r.config) for r in store.resumable_sweep_runs(sweep_id)]
    spec = store.sweep(sweep_id).spec
    largest = 0  # the largest group that trains batched (its points differ in batched.VARIES)
    if "search" in spec:  # trials are proposed as workers go: size the plan on the base
        from ngramlm.stages import rungs, search

        trials = spec["search"].get("trials") or runtime.machine().usable
        left = max(1, trials - sum(p.run_id is not None for p in points))
        cfgs += [config_from_dict(spec["base"])] * left
        groups = {}
        base, dims = search.space_of(store.sweep(sweep_id))
        if spec["search"].get("trials") and rungs.width(base, dims, runtime.MAX_BATCH) > 1:
            largest = left  # batched rungs: the trials left shared out as groups
    if not cfgs:  # nothing left: one worker finds that out
        cfgs = [config_from_dict(points[0].config)] if points else []
    for key, n in groups.items():
        first = next(config_from_dict(p.config) for p in points if p.group_key == key)
        if n > largest and batched.supports([first] * 2):
            largest = n
    flops = [runtime.step_flop(c) for c in cfgs]
    work = sum(f * (c.train.steps if c.train else 0) for f, c in zip(flops, cfgs, strict=True))
    return runtime.plan_sweep(
        max(flops, default=0.0),
        len(cfgs),
        largest,
        machine or runtime.machine(),
        work=work,
        workers=workers,
        threads=threads,
    )


def start_workers(
    db_url: str, sweep_id: int, plan: runtime.SweepPlan, resume: bool
) -> list[subprocess.Popen[bytes]]:
    """Worker processes of their own (``python -m ngramlm.stages.worker``): they never
    import the caller's ``__main__``, and each stops when this process dies (its stdin,
    a pipe from here, closes)."""
    if plan.workers < 1 or plan.workers > 256:
        raise InputError(f"--workers must be between 1 and 256, got {plan.workers}")
    # the ngramlm this process runs, whatever put it on sys.path
    here = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "NGRAMLM_DB": db_url, "PYTHONPATH": path}
    cmd = [sys.executable, "-m", "ngramlm.stages.worker", "--sweep", str(sweep_id)]
    cmd += ["--threads", str(plan.threads), "--batch-size", str(plan.batch_size)]
    cmd += ["--resume"] if resume else []
    return [subprocess.Popen(cmd, stdin=subprocess.PIPE, env=env) for _ in range(plan.workers)]


def _death(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def supervise(
    store: Store,
    sweep_id: int,
    procs: Sequence[subprocess.Popen[bytes]],
    on_poll: Callable[[SweepStatus], None] | None = None,
    poll_s: float = 0.5,
) -> SweepStatus:
    """Wait for the workers. One that dies has its running points marked crashed at once
    (resumable); if any died, ``WorkersDied`` names the points left."""
    host = socket.gethostname()
    alive = list(procs)
    dead: list[str] = []
    crashed: list[int] = []
    while alive:
        if on_poll is not None:
            on_poll(status(store, sweep_id))
        for p in list(alive):
            code = p.poll()
            if code is None:
                continue
            alive.remove(p)
            if p.stdin is not None:
                p.stdin.close()
            if code != 0:
                why = f"worker {p.pid} {_death(code)}"
                dead.append(why)
                crashed += store.abandon_runs(sweep_id, host=host, pid=p.pid, error=why)
        if alive:
            time.sleep(poll_s)
    for p in procs:
        if p.stdin is not None:
            p.stdin.close()
    final = status(store, sweep_id)
    if dead:
        left = final.sweep.n_points - final.done
        runs = f" (run {', '.join(map(str, crashed))} crashed)" if crashed else ""
        raise WorkersDied(
            f"sweep {sweep_id}: {left} of {final.sweep.n_points} points left: "
            f"{'; '.join(dead)}{runs}; continue with `ngramlm sweep --resume {sweep_id}`"
        )
    return final


@dataclass(frozen=True)
class SweepStatus:
    sweep: SweepRecord
    runs: list[RunRecord]

    @property
    def done(self) -> int:
        return sum(r.status == "finished" for r in self.runs)

    @property
    def active(self) -> list[RunRecord]:
        return [r for r in self.runs if r.status == "running"]

    @property
    def best(self) -> RunRecord | None:
        return best_by_dev(self.runs)


def status(store: Store, sweep_id: int) -> SweepStatus:
    return SweepStatus(store.sweep(sweep_id), store.sweep_runs(sweep_id))
