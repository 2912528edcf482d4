"""A solo run: its model and optimiser built from the seed, its step, and ``train``.

No printing and no database here: ``ngramlm.stages.run`` connects the hooks to the store and
the terminal. One ``torch.Generator`` seeded from the run's seed draws the initial
weights, every minibatch and every dropout mask, so the same config and seed give the
same losses; its state is part of every checkpoint, so a resumed run continues the very
same stream.

``train`` hands its engine (``Solo``) to the one loop body (``ngramlm.training.body``), which
the batched engine (``ngramlm.training.batched``) shares: the engine takes the steps (the
family's hand-written step where it offers one, ``fast_stepper``, else ``AutogradStep``);
stop, progress, evaluation and checkpoints are the body's. The schedule and ``draw`` are
``ngramlm.training.schedule``, shared with the learning-rate range test too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

import torch

from ngramlm.config import RunConfig
from ngramlm.evaluation import EvalSet, OnChunk, WindowSet, evaluate_set
from ngramlm.models import NeuralFamily, family_of
from ngramlm.models.neural import NeuralLM
from ngramlm.training import body

# The loop's interface, what a caller of ``train`` needs: re-exported from their homes.
from ngramlm.training.body import EvalPoint as EvalPoint
from ngramlm.training.body import Hooks as Hooks
from ngramlm.training.body import TrainResult as TrainResult
from ngramlm.training.body import TrainState as TrainState
from ngramlm.training.evaluating import Examples as Examples
from ngramlm.training.evaluating import Splits, eval_interval
from ngramlm.training.schedule import Tick
from ngramlm.training.schedule import draw as draw
from ngramlm.training.schedule import lr_at as lr_at


class Stepper(Protocol):
    def step_ix(
        self, X: torch.Tensor, Y: torch.Tensor, ix: torch.Tensor, lr: float
    ) -> torch.Tensor:
        """One optimisation step on ``X[ix], Y[ix]``; the minibatch loss, 0-d."""
        ...


class AutogradStep:
    """The step of any neural family: forward, ``loss.backward()``, the optimiser."""

    def __init__(
        self, model: torch.nn.Module, opt: torch.optim.Optimizer, generator: torch.Generator
    ) -> None:
        self.model, self.opt, self.generator = model, opt, generator
        self.group = opt.param_groups[0]

    def step_ix(
        self, X: torch.Tensor, Y: torch.Tensor, ix: torch.Tensor, lr: float
    ) -> torch.Tensor:
        self.group["lr"] = lr
        _, loss = self.model(X[ix], Y[ix], self.generator)
        assert loss is not None
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach()


# --- building blocks -------------------------------------------------------------------


def neural_family(cfg: RunConfig) -> NeuralFamily:
    fam = family_of(cfg)
    if not isinstance(fam, NeuralFamily) or cfg.train is None:
        raise TypeError(f"{fam.name} models are counted, not trained by steps")
    return fam


def build(
    cfg: RunConfig, device: torch.device, precision: str
) -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.Generator]:
    """The model (initial weights from the seed's generator) training in ``precision``
    (``Plan.precision``: what ``--precision`` resolved to), its optimiser, the generator."""
    fam, t = neural_family(cfg), cfg.train
    assert t is not None
    generator = torch.Generator().manual_seed(t.seed)
    model = fam.build(cfg.model, generator).to(device)
    if isinstance(model, NeuralLM):
        model.precision = precision  # NeuralLM's declared attribute, set here only
    params = list(model.parameters())
    opt: torch.optim.Optimizer
    if t.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=t.lr, weight_decay=t.weight_decay)
    else:
        # The fused kernel (CPU and CUDA) updates every tensor in one call: ~4x less time
        # in the optimizer than the per-parameter loop (0.15 vs 0.61 ms a step for
        # --preset best here), the same update up to float rounding.
        fused = device.type in ("cpu", "cuda")
        opt = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay, fused=fused)
    return model, opt, generator


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """The optimizer's per-parameter state as flat named tensors (for safetensors)."""
    out: dict[str, torch.Tensor] = {}
    for i, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            tensor = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            out[f"{i}.{key}"] = tensor.detach().cpu().clone()
    return out


def load_optimizer_tensors(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    sd = opt.state_dict()
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        i, key = name.split(".", 1)
        state.setdefault(int(i), {})[key] = tensor
    sd["state"] = state
    opt.load_state_dict(sd)


# --- the solo engine -------------------------------------------------------------------


class Solo:
    """The engine of one run (``body.Engine``, a batch of one): its stepper, its generator's
    minibatches, the sum of its minibatch losses kept on the device (read only when the
    body asks: no synchronisation a step)."""

    def __init__(
        self,
        model: torch.nn.Module,
        opt: torch.optim.Optimizer,
        generator: torch.Generator,
        stepper: Stepper,
        ex: Examples,
        batch_size: int,
        device: torch.device,
    ) -> None:
        self.model, self.opt, self.generator, self.stepper = model, opt, generator, stepper
        self.X, self.Y, self.n, self.B = ex.Xtr, ex.Ytr, ex.Xtr.shape[0], batch_size
        self.device = device
        self.acc = torch.zeros((), dtype=torch.float64, device=device)
        self.loss = self.acc  # the last minibatch loss, 0-d

    def step(self, ticks: Sequence[Tick]) -> None:
        ix = draw(self.generator, self.n, self.B).to(self.device)
        self.loss = self.stepper.step_ix(self.X, self.Y, ix, ticks[0].lr)
        self.acc += self.loss

    def take_sums(self) -> list[float]:
        total = self.acc.item()
        self.acc.zero_()
        return [total]

    def last_losses(self) -> list[float]:
        return [self.loss.item()]

    def evaluate(self, es: EvalSet | WindowSet, on_chunk: OnChunk) -> list[float]:
        return [evaluate_set(self.model, es, on_chunk)]

    def state(
        self, p: int
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        model = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        return model, optimizer_tensors(self.opt), self.generator.get_state()

    def keep(self, kept: Sequence[int]) -> None:
        raise AssertionError("a solo run has no member to leave")  # no on_leave: never called


def train(
    cfg: RunConfig,
    examples: Examples,
    device: torch.device,
    hooks: Hooks | None = None,
    resume: TrainState | None = None,
    *,
    fast_path: bool | None = None,
    eval_at_start: bool = False,
    precision: str | None = None,
) -> TrainResult:
    """Train ``cfg`` on ``examples``, from scratch or from ``resume``.

    ``fast_path`` None (the default) takes the family's hand-written step where it has one
    for this config (``fast_stepper``: the plain MLP under SGD) and autograd for the rest;
    False forces autograd (for tests and benchmarks). ``eval_at_start`` and stop requests:
    as ``body.run``.

    ``precision``: the step's (``stages.plan.Plan.precision``); None, for a caller
    without a plan, resolves the config's ``--precision`` on ``device`` here."""
    fam, t = neural_family(cfg), cfg.train
    assert t is not None
    if precision is None:
        precision = fam.precision(cfg, device)
    model, opt, generator = build(cfg, device, precision)
    if resume is not None:
        model.load_state_dict(resume.model)
        load_optimizer_tensors(opt, resume.optimizer)
        generator.set_state(resume.rng)
    ex = examples.to(device)
    splits = Splits.of(ex, cfg.model.vocab_size)
    t = replace(t, eval_every=eval_interval(t, splits))
    fast_step = fam.fast_stepper(model, t) if fast_path is not False else None
    if fast_path and fast_step is None:
        raise ValueError(f"no hand-written step covers this {fam.name} config")
    stepper: Stepper = fast_step or AutogradStep(model, opt, generator)
    model.train()
    engine = Solo(model, opt, generator, stepper, ex, t.batch_size, device)
    hooks = hooks or Hooks()
    (result,) = body.run(engine, [t], splits, [hooks], resume=resume, eval_at_start=eval_at_start)
    return result
