"""Training several sweep points at once as one batched model.

Points of a sweep that share an architecture and a schedule (they differ in learning rate
and seed only) are stacked along a leading member axis M: every weight becomes (M, ...),
every matmul a batched matmul, and each member keeps its own generator, minibatches and
learning rate. One step of the batch is a handful of larger operations instead of M
rounds of tiny ones, which is what a small MLP on a CPU is starved of.

The model and its step (``BatchedMLP``, ``BatchedFastSGD``: makemore part 4's
hand-written gradients with a member axis) are ``training/batched_step.py``.

Each member is initialised from its own seed exactly as a solo run would be, draws its
minibatches from its own generator in the same order, and is evaluated on the same
splits, so it ends with the losses of the same point trained alone (tests check 1e-4).
Checkpoints are written per member under the solo model's parameter names, so any
member can be resumed on its own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
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


def group_key(cfg: RunConfig) -> str:
    """Points that differ only in learning rate and seed share a shape and a schedule:
    they can be trained together as one batched model."""
    return config_hash(cfg.to_dict(), ignore=("lr", "seed", "device"))


def supports(cfgs: Sequence[RunConfig]) -> bool:
    """Two or more members that share everything but lr and seed, of a config the family
    says trains batched (the plain MLP under SGD, any number of hidden layers)."""
    if len(cfgs) < 2:
        return False
    key = group_key(cfgs[0])
    return family_of(cfgs[0]).batchable(cfgs[0]) and all(group_key(c) == key for c in cfgs)


def train_batched(
    cfgs: Sequence[RunConfig],
    examples: Examples,
    device: torch.device,
    hooks: Sequence[Hooks],
    *,
    eval_at_start: bool = False,
) -> list[TrainResult]:
    """Train every member from scratch; one ``Hooks`` per member (``eval_at_start``, a
    stop during an evaluation: as ``training.loop.train``)."""
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
    stepper = BatchedFastSGD(net, B, t.weight_decay)
    acc = torch.zeros(M, dtype=torch.float64, device=device)  # -(summed log-likelihoods)
    count = 0
    points: list[list[EvalPoint]] = [[] for _ in range(M)]
    lr_vec = torch.zeros(M, 1, 1, device=device)
    # The minibatch indices are drawn on the CPU, from each member's own generator, in
    # the solo loop's order (one draw per member and step) straight into one buffer.
    ix_cpu = torch.zeros(M, B, dtype=torch.long)
    ix_rows = list(ix_cpu)
    on_cpu = device.type == "cpu"
    ix_dev = ix_cpu if on_cpu else torch.zeros(M, B, dtype=torch.long, device=device)
    schedules = [schedule(c) for c in member_cfgs]
    shown = t0  # when progress was last reported

    def elapsed() -> float:
        return time.perf_counter() - t0

    def snapshot(i: int, step: int, loss_sum: float, n_losses: int) -> TrainState:
        return TrainState(
            step=step,
            model=net.member_state(i),
            optimizer={},
            rng=generators[i].get_state(),
            batch_loss_sum=loss_sum,
            batch_loss_count=n_losses,
            elapsed_s=elapsed(),
        )

    def should_stop() -> bool:
        return any(h.should_stop() for h in hooks)

    def evaluate(step: int, lrs: Sequence[float], sums: Sequence[float] | None) -> None:
        final = step == t.steps
        tr, dv = splits.losses(net.evaluate, hooks[0], should_stop, final)
        sampled = not final and splits.costly
        for i, h in enumerate(hooks):
            batch_loss = sums[i] / count if sums is not None and count else None
            point = EvalPoint(step, elapsed(), lrs[i], batch_loss, tr[i], dv[i], sampled)
            points[i].append(point)
            h.on_eval(point)

    def stopped(step: int, sums: Sequence[float]) -> list[TrainResult]:
        return [
            TrainResult(snapshot(i, step, sums[i], count), stopped=True, points=points[i])
            for i in range(M)
        ]

    if eval_at_start:
        try:
            evaluate(0, [lr_at(c, 0) for c in member_cfgs], None)
        except Interrupted:
            return stopped(0, [0.0] * M)
    lrs: tuple[float, ...] = ()
    for ticks in zip(*schedules, strict=True):
        tick = ticks[0]
        if should_stop():
            return stopped(tick.step, acc.tolist())
        if tuple(k.lr for k in ticks) != lrs:  # a new tensor only when the rates change
            lrs = tuple(k.lr for k in ticks)
            lr_vec = torch.tensor(lrs, device=device).view(M, 1, 1)
        for g, row in zip(generators, ix_rows, strict=True):
            draw(g, n, B, out=row)
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
            for i, h in enumerate(hooks):
                h.on_progress(done, last[i], elapsed())
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
            for i, h in enumerate(hooks):
                h.on_checkpoint(snapshot(i, done, sums[i], count))
    sums = acc.tolist()
    return [
        TrainResult(
            snapshot(i, t.steps, sums[i], count),
            stopped=False,
            train_loss=points[i][-1].train_loss if points[i] else None,
            dev_loss=points[i][-1].dev_loss if points[i] else None,
            points=points[i],
        )
        for i in range(M)
    ]
