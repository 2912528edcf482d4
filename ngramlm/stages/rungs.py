"""Batched rungs: a search's trials trained together as one batched model.

When a search's trials can share one model (``width`` > 1: its base config trains batched,
``Family.batchable``, and its space varies only what the members of a batched model may
differ in, ``training.batched.VARIES``: lr, seed, weight decay), a worker takes up to
``GROUP`` proposals at once (``stages/search.py``), writes each as a point with its run
(``claim``) and trains them as one batched model (``execute_group``), every member with
its own curve, checkpoints and outcome, as if it had run alone (the same losses, to
float rounding).

With ``--prune halving`` the members reach each rung together, at the same evaluation:
each one's dev loss there is ranked among the other members' and those every other trial
of the search had at the same fraction of its steps (read from the store), by the rule of
``stages/halving.py`` (the best third goes on). The ones not promoted leave the batch
there and then: recorded ``pruned``, with their curves and a checkpoint, exactly as a
pruned solo trial. The survivors go on as a smaller batched model (their rows of the
stacked weights kept, ``BatchedMLP.keep``; their generators and schedules untouched), so
no step is spent on a pruned member and no survivor's losses move. (Keeping the whole
batch and only ceasing to record the pruned would be simpler, but it would train two
thirds of a group for nothing after every rung.)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ngramlm.config import RunConfig
from ngramlm.errors import InputError
from ngramlm.models import family_of
from ngramlm.stages.budget import Budget
from ngramlm.stages.halving import ETA, RUNG_FRACTIONS, TrialStop, promoted, rung_values, rungs
from ngramlm.stages.hooks import Outcome, Progress, StoreHooks, record_outcome
from ngramlm.stages.plan import Plan
from ngramlm.stages.run import new_run, train_together
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord, RunRecord, SweepRecord
from ngramlm.training import batched
from ngramlm.training.loop import EvalPoint, TrainResult

GROUP = 4  # trials a batched group at most: more would leave TPE fewer chances to learn


def width(base: RunConfig, dims: Mapping[str, object], batch_size: int) -> int:
    """How many trials a worker proposes and trains at once: up to ``GROUP`` (and the
    sweep plan's ``batch_size``) when they can be one batched model, else 1."""
    if not set(dims) <= set(batched.VARIES) or not family_of(base).batchable(base):
        return 1
    return max(1, min(GROUP, batch_size))


@dataclass(frozen=True)
class Claimed:
    trials: list[tuple[RunConfig, RunRecord]]  # written and claimed, valid
    full: bool  # the search has its --trials, or its budget is spent
    duplicates: int  # proposals the store had already (the search's, or its dataset's)


def claim(
    store: Store,
    sweep: SweepRecord,
    dataset: DatasetRecord,
    cfgs: Sequence[RunConfig],
    *,
    limit: int | None,
    device: torch.device,
    until: float | None = None,
) -> Claimed:
    """Write each proposal as a point and claim it with a new run, one transaction each
    (``Store.add_point``: none once the deadline ``until`` is past); a proposal the family
    refuses (a combination of valid ends that is too big) is recorded ``failed`` and left
    out."""
    trials: list[tuple[RunConfig, RunRecord]] = []
    duplicates = 0
    for cfg in cfgs:
        new = new_run(Plan.point(dataset, cfg, device), "train", sweep.name, sweep.id)
        got = store.add_point(new, batched.group_key(cfg), limit=limit, until=until)
        if got in ("full", "spent"):
            return Claimed(trials, True, duplicates)
        if isinstance(got, str):  # a duplicate
            duplicates += 1
            continue
        _, run = got
        try:
            family_of(cfg).validate(cfg)
        except InputError as exc:
            store.end_run(run.id, status="failed", error=str(exc), steps_done=0)
            continue
        trials.append((cfg, run))
    return Claimed(trials, False, duplicates)


class MemberStop(TrialStop):
    """A member's stop: pruned alone (``pruned``), or with the whole group: ``set`` (a
    member whose store writes failed) stops every member, as the worker's stop does."""

    def set(self) -> None:
        self.parent.set()


class Group:
    """The rung decisions of a batched group, taken once every member still training has
    reported its evaluation at a rung."""

    def __init__(
        self,
        store: Store,
        sweep_id: int,
        runs: Sequence[RunRecord],
        steps: int,
        prune: bool,
        display: Progress,
        stop: threading.Event,
        budget: Budget | None = None,
    ) -> None:
        self.store, self.sweep_id, self.runs, self.prune = store, sweep_id, list(runs), prune
        self.display = display
        # the whole group's, under the worker's: the budget stops every member at once
        self.stop = TrialStop(stop, budget)
        self.stops = [MemberStop(self.stop) for _ in runs]
        self.pending = list(zip(RUNG_FRACTIONS, rungs(steps), strict=True))
        self.values: dict[int, float] = {}  # member -> its dev loss at this evaluation

    def live(self) -> list[int]:
        return [i for i, s in enumerate(self.stops) if s.pruned is None]

    def evaluated(self, i: int, point: EvalPoint) -> None:
        self.stop.evaluated(point)
        if not self.prune or point.dev_loss is None or not self.pending:
            return
        self.values[i] = point.dev_loss
        live = self.live()
        if not set(live) <= set(self.values):
            return  # the others' evaluations of this step are still to come
        values, self.values = self.values, {}
        while self.pending and point.step >= self.pending[0][1]:
            fraction, _ = self.pending.pop(0)
            self.decide(fraction, point.step, {j: values[j] for j in self.live()})

    def decide(self, fraction: float, step: int, values: Mapping[int, float]) -> None:
        """Each member at once, among the others and the store's other trials there."""
        mine = {r.id for r in self.runs}
        runs = [r for r in self.store.sweep_runs(self.sweep_id) if r.id not in mine]
        stored = rung_values(runs, self.store.sweep_curves(self.sweep_id), fraction, -1)
        finite = {j: v if math.isfinite(v) else math.inf for j, v in values.items()}
        for j, v in values.items():
            others = [x if math.isfinite(x) else math.inf for x in stored]
            others += [w for k, w in finite.items() if k != j]
            if not promoted(v, others):
                self.stops[j].pruned = (
                    f"pruned at step {step:,} ({fraction:.0%} of its steps) by successive "
                    f"halving: dev {v:.4f}, not in the best 1/{ETA} of {len(others) + 1} "
                    f"trials there (one of a batched group of {len(self.runs)})"
                )


class MemberProgress(Progress):
    """A member's progress: the group's rung decisions, and the display for the first
    member still training."""

    def __init__(self, group: Group, i: int) -> None:
        self.group, self.i = group, i

    def shown(self) -> bool:
        return self.group.live()[:1] == [self.i]

    def update(self, step: int, batch_loss: float, elapsed_s: float) -> None:
        if self.shown():
            self.group.display.update(step, batch_loss, elapsed_s)

    def evaluating(self, split: str, done: int, total: int) -> None:
        if self.shown():
            self.group.display.evaluating(split, done, total)

    def evaluated(self, point: EvalPoint) -> None:
        if self.shown():
            self.group.display.evaluated(point)
        self.group.evaluated(self.i, point)


def execute_group(
    store: Store,
    sweep_id: int,
    dataset: DatasetRecord,
    trials: Sequence[tuple[RunConfig, RunRecord]],
    device: torch.device,
    display: Progress,
    stop: threading.Event,
    prune: bool,
    budget: Budget | None = None,
) -> list[Outcome]:
    """Train already-claimed trials of one shape as one batched model, pruning at rungs
    (``prune``), every member stopped together by the ``budget`` at their first evaluation
    past it, and record each one's outcome as its solo run's would be. Each records
    its share of the group's time: the time between two departures divided among the
    members training then."""
    cfgs, runs = [c for c, _ in trials], [r for _, r in trials]
    t = cfgs[0].train
    assert t is not None and batched.supports(cfgs)
    M = len(trials)
    group = Group(store, sweep_id, runs, t.steps, prune, display, stop, budget)
    hooks = [
        StoreHooks(store, r, c, dataset.vocab, MemberProgress(group, i), group.stops[i])
        for i, (c, r) in enumerate(trials)
    ]
    left: set[int] = set()  # the members recorded
    share = [0.0] * M
    clock = [0.0]  # the group's time shared out so far

    def account(now: float) -> None:
        live = [i for i in range(M) if i not in left]
        for i in live:
            share[i] += max(0.0, now - clock[0]) / len(live)
        clock[0] = max(clock[0], now)

    def record(i: int, result: TrainResult) -> Outcome:
        account(result.state.elapsed_s)
        left.add(i)
        return record_outcome(store, dataset, hooks[i], result, M, seconds=share[i])

    return train_together(store, dataset, hooks, device, display, record)
