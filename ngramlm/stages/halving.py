"""Successive halving for a search (``--prune halving``; Jamieson & Talwalkar 2016,
asynchronously as in Li et al. 2018's ASHA): at rungs of 1/9 and 1/3 of its steps, a
trial's dev loss is ranked among the dev losses every other trial of the search had at the
same fraction of its steps, read from the store's curves; a trial not in the best third
stops, ``pruned``. The rule is Optuna's ``SuccessiveHalvingPruner``'s (reduction factor
3). The decision is taken at the evaluations the training loop reports (``Progress``)."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence

from ngramlm.stages.budget import Budget, at_evaluation, between_evaluations
from ngramlm.stages.run import Progress
from ngramlm.store import Store
from ngramlm.store.records import MetricRecord, RunRecord
from ngramlm.training.loop import EvalPoint

ETA = 3  # successive halving's reduction factor: the best third of a rung goes on
RUNG_FRACTIONS = (1 / 9, 1 / 3)  # where trials are compared, as fractions of their steps


def dev_at(curve: Sequence[MetricRecord], step: float) -> float | None:
    """The dev loss at the first evaluation at or after ``step``."""
    return next((m.dev_loss for m in curve if m.step >= step and m.dev_loss is not None), None)


def rungs(steps: int) -> list[int]:
    return [max(1, math.ceil(f * steps)) for f in RUNG_FRACTIONS]


def promoted(value: float, others: Sequence[float], eta: int = ETA) -> bool:
    """Optuna's SuccessiveHalvingPruner's rule: a trial goes on when its value is among
    the best ``len(values) // eta`` of the values at the rung (its own included), and
    when that is none, when it is the best."""
    values = sorted([*others, value])
    k = max(0, len(values) // eta - 1)
    return math.isfinite(value) and value <= values[k]


def rung_values(
    runs: Sequence[RunRecord],
    curves: Mapping[int, Sequence[MetricRecord]],
    fraction: float,
    exclude: int,
) -> list[float]:
    """Each other trial's dev loss at ``fraction`` of its steps, where it got there."""
    out = []
    for r in runs:
        if r.id != exclude and r.steps:
            v = dev_at(curves.get(r.id, []), math.ceil(fraction * r.steps))
            if v is not None:
                out.append(v)
    return out


class TrialStop(threading.Event):
    """The stop a trial's run sees: the worker's (a signal) or its own: pruned at a rung,
    with the reason, which ``stages.hooks`` records as the run's ``pruned`` status, or
    stopped by the search's ``budget`` (``stages/budget.py``) at its first evaluation past
    it (``evaluated``) or, past the grace, at its next step, recorded ``killed``."""

    def __init__(self, parent: threading.Event, budget: Budget | None = None) -> None:
        super().__init__()
        self.parent = parent
        self.budget = budget
        self.pruned: str | None = None
        self.spent: str | None = None  # why the budget stopped it

    def is_set(self) -> bool:
        if self.budget is not None and self.spent is None and self.budget.over():
            self.spent = between_evaluations(self.budget)
        return (
            super().is_set()
            or self.pruned is not None
            or self.spent is not None
            or self.parent.is_set()
        )

    def evaluated(self, point: EvalPoint) -> None:
        """An evaluation: past the budget, the trial stops here."""
        if self.budget is not None and self.spent is None and self.budget.spent():
            self.spent = at_evaluation(point.step, point.dev_loss)

    @property
    def budget_stop(self) -> str | None:
        """Why the budget stopped this trial (or the group it trains in), if it did."""
        if self.spent is not None:
            return self.spent
        return self.parent.budget_stop if isinstance(self.parent, TrialStop) else None


class RungProgress(Progress):
    """The display's progress, plus the rung decisions at the evaluations it is told of."""

    def __init__(
        self, inner: Progress, store: Store, sweep_id: int, stop: TrialStop, prune: bool
    ) -> None:
        self.inner, self.store, self.sweep_id, self.trial_stop = inner, store, sweep_id, stop
        self.prune = prune
        self.run: RunRecord | None = None
        self.pending: list[tuple[float, int]] = []

    def start(self, run: RunRecord, total: int, initial: int) -> None:
        self.run = run
        self.pending = [
            (f, s) for f, s in zip(RUNG_FRACTIONS, rungs(total), strict=True) if s > initial
        ]
        self.inner.start(run, total, initial)

    def update(self, step: int, batch_loss: float, elapsed_s: float) -> None:
        self.inner.update(step, batch_loss, elapsed_s)

    def evaluating(self, split: str, done: int, total: int) -> None:
        self.inner.evaluating(split, done, total)

    def evaluated(self, point: EvalPoint) -> None:
        self.inner.evaluated(point)
        self.trial_stop.evaluated(point)
        if not self.prune or self.run is None or point.dev_loss is None:
            return
        while self.pending and point.step >= self.pending[0][1] and self.trial_stop.pruned is None:
            fraction, _ = self.pending.pop(0)
            runs = self.store.sweep_runs(self.sweep_id)
            others = rung_values(
                runs, self.store.sweep_curves(self.sweep_id), fraction, self.run.id
            )
            if not promoted(point.dev_loss, others):
                self.trial_stop.pruned = (
                    f"pruned at step {point.step:,} ({fraction:.0%} of its steps) by successive "
                    f"halving: dev {point.dev_loss:.4f}, not in the best 1/{ETA} of "
                    f"{len(others) + 1} trials there"
                )

    def stop(self) -> None:
        self.inner.stop()
