"""The one loop body: stop, progress, evaluation and checkpoints, written once.

Two engines take the steps (``Engine``): ``loop.Solo`` trains one model (its family's
hand-written step, or autograd), ``batched.Batched`` the members of a batched model (its
family's batched step), members leaving it early when pruned. Everything around a step is
here, in the manner of nanoGPT's train loop: a solo run is a batch of one member.

No printing and no database: the loop tells its ``Hooks`` (``ngramlm.stages.hooks``
connects them to the store and the terminal). A stop request ends the run between steps,
or between an evaluation's chunks: then the state is that of the steps done, and a run
resumed from it takes the interrupted evaluation first (a state at an evaluation's step
whose minibatch losses were not yet reset by it). The last step is checkpointed before
the final evaluation, in that state: a run killed during it resumes there and evaluates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from ngramlm.config import TrainConfig
from ngramlm.evaluation import EvalSet, OnChunk, WindowSet
from ngramlm.training.evaluating import Interrupted, Splits
from ngramlm.training.schedule import PROGRESS_S, Tick, due, lr_at, schedule


@dataclass(frozen=True)
class EvalPoint:
    step: int
    elapsed_s: float
    lr: float
    batch_loss: float | None  # mean minibatch loss since the previous evaluation
    train_loss: float | None  # on the whole train split (see ``sampled``)
    dev_loss: float | None  # on the whole dev split (see ``sampled``)
    # True: an intermediate evaluation of a costly split, on its fixed sample (``sample_of``)
    sampled: bool = False
    # the final evaluation's splits measured on their fixed sample (``final_set``), each
    # as (split, targets in the sample, targets in the split); empty: whole
    sample_sizes: tuple[tuple[str, int, int], ...] = ()


@dataclass
class TrainState:
    """Everything a resumed run needs to continue exactly where it stopped."""

    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, torch.Tensor]
    rng: torch.Tensor
    batch_loss_sum: float = 0.0
    batch_loss_count: int = 0
    elapsed_s: float = 0.0


@dataclass
class TrainResult:
    state: TrainState
    stopped: bool  # True when hooks.should_stop() ended the run early
    train_loss: float | None = None
    dev_loss: float | None = None
    points: list[EvalPoint] = field(default_factory=list)


class Hooks:
    """Callbacks from the loop; the defaults do nothing."""

    def on_progress(self, step: int, batch_loss: float, elapsed_s: float) -> None: ...

    def on_evaluating(self, split: str, done: int, total: int) -> None:
        """An evaluation is under way: ``done`` of ``total`` chunks of ``split`` ("train",
        "dev", or "train sample" / "dev sample" on a costly split's sample)."""

    def on_eval(self, point: EvalPoint) -> None: ...

    def on_checkpoint(self, state: TrainState) -> None: ...

    def should_stop(self) -> bool:
        return False


Leave = Callable[[int, TrainResult], None]  # a member (its index) left the batch early


class Engine(Protocol):
    """What steps a run's members; positions ``p`` are along the batch, members still in it."""

    def step(self, ticks: Sequence[Tick]) -> None:
        """One step of every member in the batch at its rate (``ticks``: every member's,
        in the order given, those that left included), its minibatch loss added to the
        engine's running sum."""

    def take_sums(self) -> list[float]:
        """Each member's running sum of minibatch losses (float64), reset to zero."""
        ...

    def last_losses(self) -> list[float]:
        """Each member's minibatch loss at the last step."""
        ...

    def evaluate(self, es: EvalSet | WindowSet, on_chunk: OnChunk) -> list[float]:
        """Each member's mean loss over ``es``, telling ``on_chunk`` after each chunk."""
        ...

    def state(
        self, p: int
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """The member at ``p``: its weights, optimizer state and generator state (copies)."""
        ...

    def keep(self, kept: Sequence[int]) -> None:
        """Only the members at positions ``kept`` go on."""


class _Members:
    """A run's members as the body keeps them: each one's hooks, evaluation points and
    minibatch loss sum (they share the step count and the evaluations)."""

    def __init__(
        self,
        engine: Engine,
        ts: Sequence[TrainConfig],
        splits: Splits,
        hooks: Sequence[Hooks],
        resume: TrainState | None,
    ) -> None:
        self.engine, self.ts, self.splits, self.hooks = engine, ts, splits, hooks
        self.live = list(range(len(ts)))  # the members still in the batch, in its order
        self.sums = [resume.batch_loss_sum if resume else 0.0] * len(ts)
        self.count = resume.batch_loss_count if resume else 0  # steps in the sums
        self.elapsed0 = resume.elapsed_s if resume else 0.0
        self.t0 = time.perf_counter()
        self.points: list[list[EvalPoint]] = [[] for _ in ts]
        self.results: list[TrainResult | None] = [None] * len(ts)
        self.should_stop = self.stopper()

    def stopper(self) -> Callable[[], bool]:
        """Whether a member in the batch asks to stop (one member: its own hook, no more)."""
        hooks = [self.hooks[i] for i in self.live]
        if len(hooks) == 1:
            return hooks[0].should_stop
        return lambda: any(h.should_stop() for h in hooks)

    def elapsed(self) -> float:
        return self.elapsed0 + time.perf_counter() - self.t0

    def fold(self) -> None:
        """The engine's running sums into each member's."""
        for i, s in zip(self.live, self.engine.take_sums(), strict=True):
            self.sums[i] += s

    def reset(self) -> None:
        self.sums, self.count = [0.0] * len(self.sums), 0

    def snapshot(self, p: int, step: int) -> TrainState:
        model, optimizer, rng = self.engine.state(p)
        s, n = self.sums[self.live[p]], self.count
        return TrainState(step, model, optimizer, rng, s, n, self.elapsed())

    def progress(self, step: int) -> None:
        for i, loss in zip(self.live, self.engine.last_losses(), strict=True):
            self.hooks[i].on_progress(step, loss, self.elapsed())

    def evaluate(self, step: int, lrs: Sequence[float], batch: bool) -> None:
        """Every member's point (``batch``: with its mean minibatch loss since the last
        one); raises ``Interrupted`` on a stop request during it."""
        final = step == self.ts[0].steps
        first = self.hooks[self.live[0]]
        tr, dv = self.splits.losses(self.engine.evaluate, first, self.should_stop, final)
        sampled = not final and self.splits.costly
        sizes = self.splits.sampled() if final else ()
        for p, i in enumerate(self.live):
            loss = self.sums[i] / self.count if batch and self.count else None
            point = EvalPoint(step, self.elapsed(), lrs[p], loss, tr[p], dv[p], sampled, sizes)
            self.points[i].append(point)
            self.hooks[i].on_eval(point)

    def checkpoint(self, step: int) -> None:
        for p, i in enumerate(self.live):
            self.hooks[i].on_checkpoint(self.snapshot(p, step))

    def end(self, step: int, p: int, stopped: bool) -> TrainResult:
        points = self.points[self.live[p]]
        last = points[-1] if points and not stopped else None
        result = TrainResult(
            self.snapshot(p, step),
            stopped=stopped,
            train_loss=last.train_loss if last else None,
            dev_loss=last.dev_loss if last else None,
            points=points,
        )
        self.results[self.live[p]] = result
        return result

    def finish(self, step: int, stopped: bool) -> list[TrainResult]:
        """Every member in the batch ends at ``step``: each member's result."""
        for p in range(len(self.live)):
            self.end(step, p, stopped)
        return [r for r in self.results if r is not None]

    def leave(self, step: int, going: Sequence[int], on_leave: Leave) -> None:
        """The members at positions ``going`` leave (stopped); the batch shrinks to the others."""
        for p in going:
            on_leave(self.live[p], self.end(step, p, stopped=True))
        kept = [p for p in range(len(self.live)) if p not in going]
        self.engine.keep(kept)
        self.live = [self.live[p] for p in kept]
        self.should_stop = self.stopper()


def run(
    engine: Engine,
    ts: Sequence[TrainConfig],
    splits: Splits,
    hooks: Sequence[Hooks],
    *,
    resume: TrainState | None = None,
    eval_at_start: bool = False,
    on_leave: Leave | None = None,
) -> list[TrainResult]:
    """Train every member (its config in ``ts``, the evaluation interval resolved; one
    ``Hooks`` each) from scratch or from ``resume`` (one member); a result a member.

    ``eval_at_start``: evaluate the initial weights too, a point at step 0 (a run that
    starts from step 0 only; it draws nothing from a generator, so the losses after it
    are the same). A stop asked by any member's hooks stops them all, unless ``on_leave``
    is given: then members whose hooks ask to stop while others do not leave the batch
    at the next step (``on_leave(i, result)``, the result stopped at that step) and the
    rest go on; when every member left asks to stop, they all stop."""
    m = _Members(engine, ts, splits, hooks, resume)
    start, steps = (resume.step if resume else 0), ts[0].steps
    try:
        if start == 0 and eval_at_start:
            m.evaluate(0, [lr_at(t, 0) for t in ts], batch=False)
        elif resume is not None and m.count and due(ts[0], start):  # interrupted there
            m.evaluate(start, [lr_at(t, start - 1) for t in ts], batch=True)
            m.reset()
    except Interrupted:
        return m.finish(start, stopped=True)
    shown = m.t0  # when progress was last reported
    step = engine.step
    for ticks in zip(*(schedule(t, start) for t in ts), strict=True):
        tick = ticks[0]
        if m.should_stop():
            m.fold()
            if on_leave is None:
                return m.finish(tick.step, stopped=True)
            going = [p for p, i in enumerate(m.live) if hooks[i].should_stop()]
            if len(going) == len(m.live):
                return m.finish(tick.step, stopped=True)
            m.leave(tick.step, going, on_leave)
        step(ticks)
        m.count += 1
        now = time.perf_counter()
        if tick.progress or now - shown >= PROGRESS_S:
            shown = now
            m.progress(tick.done)
        if tick.done == steps:  # the last steps are stored before the final evaluation,
            m.fold()  # however long it takes: a kill during it loses no training
            m.checkpoint(tick.done)
        if tick.evaluate:
            m.fold()
            try:
                m.evaluate(tick.done, [ticks[i].lr for i in m.live], batch=True)
            except Interrupted:
                return m.finish(tick.done, stopped=True)
            m.reset()
        if tick.checkpoint:
            m.fold()
            m.checkpoint(tick.done)
    m.fold()
    return m.finish(steps, stopped=False)
