"""Training several sweep points at once as one batched model.

Points of a sweep that share an architecture and a schedule (they differ in learning rate,
seed and weight decay only: ``VARIES``) are stacked along a leading member axis M: every
weight becomes (M, ...), every matmul a batched matmul, and each member keeps its own
generator, minibatches, learning rate and weight decay. One step of the batch is a
handful of larger operations instead of M rounds of tiny ones, which is what a small MLP
on a CPU is starved of.

The model and its step come from the family (``NeuralFamily.batched_stepper``: the MLP's
is ``models/mlp/batched.py``, makemore part 4's hand-written gradients with a member
axis); this engine keeps what is the same for any family: each member's generator and
minibatches, the rates, the running loss sums. Stop, progress, evaluation and checkpoints
are the one loop body's (``training/body.py``), as for a solo run.

Each member is initialised from its own seed exactly as a solo run would be, draws its
minibatches from its own generator in the same order, and is evaluated on the same
splits, so it ends with the losses of the same point trained alone (tests check 1e-4).
Checkpoints are written per member under the solo model's parameter names, so any
member can be resumed on its own. A member may leave the batch before its end (a search's
trial pruned at a rung, ``stages/rungs.py``): the others go on as a smaller batch, their
weights, generators and schedules untouched, so their losses do not move.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from ngramlm.config import RunConfig, TrainConfig, config_hash
from ngramlm.evaluation import EvalSet, OnChunk, WindowSet
from ngramlm.models import family_of
from ngramlm.training import body
from ngramlm.training.body import Hooks, Leave, TrainResult
from ngramlm.training.evaluating import Examples, Splits, eval_interval
from ngramlm.training.loop import neural_family
from ngramlm.training.schedule import Tick, draw

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


class Batched:
    """The engine of a batched model (``body.Engine``): each member's generator draws its
    minibatches, in the solo loop's order (one draw per member and step), straight into
    one buffer; the family's batched step takes them all at their rates."""

    def __init__(
        self,
        cfgs: Sequence[RunConfig],
        ts: Sequence[TrainConfig],
        ex: Examples,
        device: torch.device,
    ) -> None:
        fam = neural_family(cfgs[0])
        # Each member initialised from its own seed exactly as a solo run is.
        self.generators = [torch.Generator().manual_seed(t.seed) for t in ts]
        models = [fam.build(c.model, g) for c, g in zip(cfgs, self.generators, strict=True)]
        self.B = ts[0].batch_size
        self.group = fam.batched_stepper(models, device, ts)
        self.X, self.Y, self.n, self.device = ex.Xtr, ex.Ytr, ex.Xtr.shape[0], device
        self.members = list(range(len(ts)))  # the members still in the batch, in its order
        self.lrs: tuple[float, ...] = ()
        self.lr_vec = torch.zeros(0)
        self.buffers()

    def buffers(self) -> None:
        M, B, device = len(self.members), self.B, self.device
        self.acc = torch.zeros(M, dtype=torch.float64, device=device)  # -(log-likelihoods)
        self.loglik = torch.zeros(M, device=device)
        self.ix_cpu = torch.zeros(M, B, dtype=torch.long)
        self.ix_rows = list(self.ix_cpu)
        on_cpu = device.type == "cpu"
        self.ix_dev = self.ix_cpu if on_cpu else torch.zeros(M, B, dtype=torch.long, device=device)

    def step(self, ticks: Sequence[Tick]) -> None:
        lrs = tuple(ticks[i].lr for i in self.members)
        if lrs != self.lrs:  # a new tensor when the rates change (or the members)
            self.lrs = lrs
            self.lr_vec = torch.tensor(lrs, device=self.device).view(len(lrs), 1, 1)
        for i, row in zip(self.members, self.ix_rows, strict=True):
            draw(self.generators[i], self.n, self.B, out=row)
        if self.ix_dev is not self.ix_cpu:
            self.ix_dev.copy_(self.ix_cpu)
        self.loglik = self.group.step_ix(self.X, self.Y, self.ix_dev, self.lr_vec)
        self.acc.sub_(self.loglik, alpha=1.0 / self.B)

    def take_sums(self) -> list[float]:
        sums = self.acc.tolist()
        self.acc.zero_()
        return sums

    def last_losses(self) -> list[float]:
        return (self.loglik / -self.B).tolist()

    def evaluate(self, es: EvalSet | WindowSet, on_chunk: OnChunk) -> list[float]:
        assert isinstance(es, EvalSet)  # a batchable family learns (X, Y) examples
        return self.group.evaluate(es, on_chunk)

    def state(
        self, p: int
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        # SGD keeps no optimizer state: the weights and the generator are the whole of it.
        return self.group.member_state(p), {}, self.generators[self.members[p]].get_state()

    def keep(self, kept: Sequence[int]) -> None:
        self.group.keep(kept)
        self.members = [self.members[p] for p in kept]
        self.buffers()  # (the rates' tensor is made again at the next step: fewer members)


def train_batched(
    cfgs: Sequence[RunConfig],
    examples: Examples,
    device: torch.device,
    hooks: Sequence[Hooks],
    *,
    eval_at_start: bool = False,
    on_leave: Leave | None = None,
) -> list[TrainResult]:
    """Train every member from scratch; one ``Hooks`` per member (``eval_at_start``, stop
    requests and ``on_leave``: as ``body.run``). Returns a result a member."""
    assert supports(cfgs) and len(hooks) == len(cfgs)
    ex = examples.to(device)
    splits = Splits.of(ex, cfgs[0].model.vocab_size)
    # Members share the schedule's shape (the evaluation interval too); each has its own
    # peak rate.
    ts = [replace(c.train, eval_every=eval_interval(c.train, splits)) for c in cfgs if c.train]
    engine = Batched(cfgs, ts, ex, device)
    return body.run(engine, ts, splits, hooks, eval_at_start=eval_at_start, on_leave=on_leave)
