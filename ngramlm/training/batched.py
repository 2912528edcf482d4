"""Training several sweep points at once as one batched model.

Points of a sweep that share an architecture and a schedule (they differ in learning rate,
seed and weight decay only: ``VARIES``) are stacked along a leading member axis M: every
weight becomes (M, ...), every matmul a batched matmul, and each member keeps its own
generator, minibatches, learning rate and weight decay. One step of the batch is a
handful of larger operations instead of M rounds of tiny ones, which is what a small MLP
on a CPU is starved of.

The model and its step (``BatchedMLP``, ``BatchedFastSGD``: makemore part 4's
hand-written gradients with a member axis) are ``training/batched_step.py``.

Each member is initialised from its own seed exactly as a solo run would be, draws its
minibatches from its own generator in the same order, and is evaluated on the same
splits, so it ends with the losses of the same point trained alone (tests check 1e-4).
Checkpoints are written per member under the solo model's parameter names, so any
member can be resumed on its own. A member may leave the batch before its end (a search's
trial pruned at a rung, ``stages/rungs.py``): the others go on as a smaller batch, their
weights, generators and schedules untouched, so their losses do not move.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch

from ngramlm.config import RunConfig, config_hash
from ngramlm.models import family_of
from ngramlm.models.mlp import MLP
from ngramlm.training.batched_step import BatchedFastSGD, BatchedMLP
from ngramlm.training.evaluating import Interrupted, Splits, eval_interval
from ngramlm.training.loop import (
    PROGRESS_S,
    EvalPoint,
    Examples,
    Hooks,
    TrainResult,
    TrainState,
    draw,
    lr_at,
    schedule,
)

VARIES = ("lr", "seed", "weight_decay")  # what the members of one batched model may differ in


def group_key(cfg: RunConfig) -> str:
    """Points that differ only in ``VARIES`` share a shape and a schedule: they can be
    trained together as one batched model."""
    return config_hash(cfg.to_dict(), ignore=(*VARIES, "device"))


def supports(cfgs: Sequence[RunConfig]) -> bool:
    """Two or more members that share everything but ``VARIES``, of a config the family
    says trains batched (the plain MLP under SGD, any number of hidden layers)."""
    if len(cfgs) < 2:
        return False
    key = group_key(cfgs[0])
    return family_of(cfgs[0]).batchable(cfgs[0]) and all(group_key(c) == key for c in cfgs)


Leave = Callable[[int, TrainResult], None]


def train_batched(
    cfgs: Sequence[RunConfig],
    examples: Examples,
    device: torch.device,
    hooks: Sequence[Hooks],
    *,
    eval_at_start: bool = False,
    on_leave: Leave | None = None,
) -> list[TrainResult]:
    """Train every member from scratch; one ``Hooks`` per member (``eval_at_start``, a
    stop during an evaluation: as ``training.loop.train``). Returns a result a member.

    A stop asked by any member's hooks stops them all, unless ``on_leave`` is given: then
    members whose hooks ask to stop while others do not leave the batch at the next step
    (``on_leave(i, result)``, the result stopped at that step) and the rest go on; when
    every member left asks to stop, they all stop."""
    assert supports(cfgs) and len(hooks) == len(cfgs)
    M = len(cfgs)
    t0 = time.perf_counter()
    generators = [torch.Generator().manual_seed(c.train.seed) for c in cfgs if c.train]
    models = [MLP(c.model, g) for c, g in zip(cfgs, generators, strict=True)]
    net = BatchedMLP(models, device)
    ex = examples.to(device)
    splits = Splits.of(ex, net.cfg.vocab_size)
    member_cfgs = [c.train for c in cfgs if c.train]
    # Members share the schedule's shape (the evaluation interval too); each has its own
    # peak rate.
    member_cfgs = [replace(c, eval_every=eval_interval(c, splits)) for c in member_cfgs]
    t = member_cfgs[0]
    n, B = ex.Xtr.shape[0], t.batch_size
    live = list(range(M))  # the members still in the batch, in the order of its axis
    stepper = BatchedFastSGD(net, B, [c.weight_decay for c in member_cfgs])
    acc = torch.zeros(M, dtype=torch.float64, device=device)  # -(summed log-likelihoods)
    count = 0
    points: list[list[EvalPoint]] = [[] for _ in range(M)]
    results: list[TrainResult | None] = [None] * M
    lr_vec = torch.zeros(M, 1, 1, device=device)
    on_cpu = device.type == "cpu"
    ix_cpu = ix_dev = torch.zeros(0)
    ix_rows: list[torch.Tensor] = []

    def buffers() -> None:
        # The minibatch indices are drawn on the CPU, from each member's own generator, in
        # the solo loop's order (one draw per member and step) straight into one buffer.
        nonlocal ix_cpu, ix_dev, ix_rows
        ix_cpu = torch.zeros(len(live), B, dtype=torch.long)
        ix_rows = list(ix_cpu)
        ix_dev = ix_cpu if on_cpu else torch.zeros(len(live), B, dtype=torch.long, device=device)

    buffers()
    schedules = [schedule(c) for c in member_cfgs]
    shown = t0  # when progress was last reported

    def elapsed() -> float:
        return time.perf_counter() - t0

    def snapshot(p: int, step: int, loss_sum: float, n_losses: int) -> TrainState:
        """The state of the member at position ``p`` of the batch."""
        return TrainState(
            step=step,
            model=net.member_state(p),
            optimizer={},
            rng=generators[live[p]].get_state(),
            batch_loss_sum=loss_sum,
            batch_loss_count=n_losses,
            elapsed_s=elapsed(),
        )

    def should_stop() -> bool:
        return any(hooks[i].should_stop() for i in live)

    def evaluate(step: int, lrs: Sequence[float], sums: Sequence[float] | None) -> None:
        final = step == t.steps
        tr, dv = splits.losses(net.evaluate, hooks[live[0]], should_stop, final)
        sampled = not final and splits.costly
        for p, i in enumerate(live):
            batch_loss = sums[p] / count if sums is not None and count else None
            point = EvalPoint(step, elapsed(), lrs[p], batch_loss, tr[p], dv[p], sampled)
            points[i].append(point)
            hooks[i].on_eval(point)

    def stopped(step: int, sums: Sequence[float]) -> list[TrainResult]:
        for p, i in enumerate(live):
            results[i] = TrainResult(snapshot(p, step, sums[p], count), True, points=points[i])
        return [r for r in results if r is not None]

    def leave(step: int, going: list[int]) -> None:
        """The members at positions ``going`` leave; the batch shrinks to the others."""
        nonlocal acc, live, stepper
        assert on_leave is not None
        sums = acc.tolist()
        for p in going:
            i = live[p]
            result = TrainResult(snapshot(p, step, sums[p], count), True, points=points[i])
            results[i] = result
            on_leave(i, result)
        kept = [p for p in range(len(live)) if p not in going]
        net.keep(kept)
        live = [live[p] for p in kept]
        acc = acc[kept].contiguous()
        stepper = BatchedFastSGD(net, B, [member_cfgs[i].weight_decay for i in live])
        buffers()  # (the rates' tensor is made again at the next step: fewer members)

    if eval_at_start:
        try:
            evaluate(0, [lr_at(c, 0) for c in member_cfgs], None)
        except Interrupted:
            return stopped(0, [0.0] * M)
    lrs: tuple[float, ...] = ()
    for ticks in zip(*schedules, strict=True):
        tick = ticks[0]
        if should_stop():
            going = [p for p, i in enumerate(live) if hooks[i].should_stop()]
            if on_leave is None or len(going) == len(live):
                return stopped(tick.step, acc.tolist())
            leave(tick.step, going)
        if tuple(ticks[i].lr for i in live) != lrs:  # a new tensor when the rates change
            lrs = tuple(ticks[i].lr for i in live)
            lr_vec = torch.tensor(lrs, device=device).view(len(live), 1, 1)
        for i, row in zip(live, ix_rows, strict=True):
            draw(generators[i], n, B, out=row)
        if not on_cpu:
            ix_dev.copy_(ix_cpu)
        loglik = stepper.step_ix(ex.Xtr, ex.Ytr, ix_dev, lr_vec)
        acc.sub_(loglik, alpha=1.0 / B)
        count += 1
        done = tick.done
        now = time.perf_counter()
        if tick.progress or now - shown >= PROGRESS_S:
            shown = now
            last = (loglik / -B).tolist()
            for p, i in enumerate(live):
                hooks[i].on_progress(done, last[p], elapsed())
        if tick.evaluate:
            sums = acc.tolist()
            acc.zero_()
            try:
                evaluate(done, lrs, sums)
            except Interrupted:
                return stopped(done, sums)
            count = 0
        if tick.checkpoint:
            sums = acc.tolist()
            for p, i in enumerate(live):
                hooks[i].on_checkpoint(snapshot(p, done, sums[p], count))
    sums = acc.tolist()
    for p, i in enumerate(live):
        results[i] = TrainResult(
            snapshot(p, t.steps, sums[p], count),
            stopped=False,
            train_loss=points[i][-1].train_loss if points[i] else None,
            dev_loss=points[i][-1].dev_loss if points[i] else None,
            points=points[i],
        )
    return [r for r in results if r is not None]
