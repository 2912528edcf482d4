"""The training loop: explicit inputs, a generator from the seed, progress through hooks.

No printing and no database here: ``ngramlm.stages.run`` connects the hooks to the store and
the terminal. One ``torch.Generator`` seeded from the run's seed draws the initial
weights, every minibatch and every dropout mask, so the same config and seed give the
same losses; its state is part of every checkpoint, so a resumed run continues the very
same stream.

The loop's skeleton is shared with the batched sweep loop (``ngramlm.training.batched``) and the
learning-rate range test (``ngramlm.training.lrfind``): ``schedule`` says at each step what is due
(learning rate, progress, evaluation, checkpoint), ``draw`` takes the minibatch indices
from the generator, and a stepper (``AutogradStep`` here, the hand-written steps of
``ngramlm.models.mlp.fast`` and ``ngramlm.training.batched``) takes the step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Protocol

import torch

from ngramlm.config import RunConfig, TrainConfig
from ngramlm.evaluation import evaluate_set
from ngramlm.models import NeuralFamily, family_of
from ngramlm.models.neural import NeuralLM
from ngramlm.training.evaluating import Examples as Examples  # part of the loop's interface
from ngramlm.training.evaluating import Interrupted, Splits, eval_interval

PROGRESS_EVERY = 250  # steps between progress callbacks
PROGRESS_S = 1.0  # and at most this many seconds (a slow model still shows it is moving)


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


# --- the skeleton ----------------------------------------------------------------------


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate for the step that starts after ``step`` completed steps.

    step: ``lr`` until ``decay_at * steps``, then ``lr * decay_factor`` (the lecture's
    0.1 -> 0.01 at 100,000 of 200,000). cosine: linear warm-up, then half a cosine down
    to ``lr * decay_factor``. constant: warm-up, then ``lr``.
    """
    if cfg.lr_schedule == "step":
        return cfg.lr if step < int(cfg.decay_at * cfg.steps) else cfg.lr * cfg.decay_factor
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.lr_schedule == "constant":
        return cfg.lr
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    floor = cfg.lr * cfg.decay_factor
    return floor + 0.5 * (cfg.lr - floor) * (1.0 + math.cos(math.pi * progress))


class Tick(NamedTuple):
    """One step of a run: what to do around it (a tuple: made at every step, cheaply)."""

    step: int  # steps completed before this one
    lr: float
    progress: bool  # report the minibatch loss after it
    evaluate: bool  # evaluate train and dev after it
    checkpoint: bool  # save a checkpoint after it

    @property
    def done(self) -> int:
        return self.step + 1


def schedule(t: TrainConfig, start: int = 0) -> Iterator[Tick]:
    """The steps from ``start`` to the end, each with its learning rate and duties."""
    eval_every, ckpt_every = t.eval_interval, t.checkpoint_interval
    for step in range(start, t.steps):
        done = step + 1
        yield Tick(
            step=step,
            lr=lr_at(t, step),
            progress=done % PROGRESS_EVERY == 0,
            evaluate=done % eval_every == 0 or done == t.steps,
            checkpoint=done % ckpt_every == 0 and done < t.steps,
        )


def draw(
    generator: torch.Generator, n: int, batch_size: int, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Minibatch indices into the n train examples, from the run's generator (on the CPU,
    so a run draws the same minibatches on every device)."""
    if out is not None:
        return torch.randint(0, n, (batch_size,), generator=generator, out=out)
    return torch.randint(0, n, (batch_size,), generator=generator)


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


def snapshot(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    generator: torch.Generator,
    step: int,
    loss_sum: float,
    loss_count: int,
    elapsed_s: float,
) -> TrainState:
    return TrainState(
        step=step,
        model={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        optimizer=optimizer_tensors(opt),
        rng=generator.get_state(),
        batch_loss_sum=loss_sum,
        batch_loss_count=loss_count,
        elapsed_s=elapsed_s,
    )


# --- the loop --------------------------------------------------------------------------


def due(t: TrainConfig, step: int) -> bool:
    """Whether ``schedule(t)`` evaluates after ``step`` completed steps (``t`` with the
    interval ``eval_interval`` resolved)."""
    return step > 0 and (step % t.eval_interval == 0 or step == t.steps)


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
    for this config (``models.mlp.fast``: the plain MLP under SGD) and autograd for the rest;
    False forces autograd (for tests and benchmarks). ``eval_at_start``: evaluate the
    initial weights too, a point at step 0 (a run that starts from step 0 only; it draws
    nothing from the generator, so the losses after it are the same).

    A stop request ends the run between steps, or between an evaluation's chunks: then
    the state is that of the steps done, and a run resumed from it takes the interrupted
    evaluation first (a state at an evaluation's step whose minibatch losses were not
    yet reset by it).

    ``precision``: the step's (``stages.plan.Plan.precision``); None, for a caller
    without a plan, resolves the config's ``--precision`` on ``device`` here."""
    hooks = hooks or Hooks()
    fam, t = neural_family(cfg), cfg.train
    assert t is not None
    if precision is None:
        precision = fam.precision(cfg, device)
    model, opt, generator = build(cfg, device, precision)
    start, loss_sum, loss_count, elapsed0 = 0, 0.0, 0, 0.0
    if resume is not None:
        model.load_state_dict(resume.model)
        load_optimizer_tensors(opt, resume.optimizer)
        generator.set_state(resume.rng)
        start, loss_sum, loss_count = resume.step, resume.batch_loss_sum, resume.batch_loss_count
        elapsed0 = resume.elapsed_s
    ex = examples.to(device)
    n_train = ex.Xtr.shape[0]
    splits = Splits.of(ex, cfg.model.vocab_size)
    t = replace(t, eval_every=eval_interval(t, splits))
    fast_step = fam.fast_stepper(model, t) if fast_path is not False else None
    if fast_path and fast_step is None:
        raise ValueError(f"no hand-written step covers this {fam.name} config")
    stepper: Stepper = fast_step or AutogradStep(model, opt, generator)
    points: list[EvalPoint] = []
    t0 = time.perf_counter()
    shown = t0  # when progress was last reported
    model.train()
    acc = torch.zeros((), dtype=torch.float64, device=device)  # loss sum since last read

    def elapsed() -> float:
        return elapsed0 + time.perf_counter() - t0

    def evaluate(step: int, lr: float, batch_loss: float | None) -> None:
        final = step == t.steps
        tr, dv = splits.losses(
            lambda es, on_chunk: evaluate_set(model, es, on_chunk),
            hooks,
            hooks.should_stop,
            final,
        )
        point = EvalPoint(step, elapsed(), lr, batch_loss, tr, dv, not final and splits.costly)
        points.append(point)
        hooks.on_eval(point)

    def stopped(step: int) -> TrainResult:
        state = snapshot(model, opt, generator, step, loss_sum, loss_count, elapsed())
        return TrainResult(state, stopped=True, points=points)

    try:
        if start == 0 and eval_at_start:
            evaluate(0, lr_at(t, 0), None)
        elif resume is not None and loss_count and due(t, start):  # interrupted there
            evaluate(start, lr_at(t, start - 1), loss_sum / loss_count)
            loss_sum, loss_count = 0.0, 0
    except Interrupted:
        return stopped(start)
    for tick in schedule(t, start):
        if hooks.should_stop():
            loss_sum += acc.item()
            return stopped(tick.step)
        ix = draw(generator, n_train, t.batch_size).to(device)
        loss = stepper.step_ix(ex.Xtr, ex.Ytr, ix, tick.lr)
        acc += loss
        loss_count += 1
        now = time.perf_counter()
        if tick.progress or now - shown >= PROGRESS_S:
            shown = now
            hooks.on_progress(tick.done, loss.item(), elapsed())
        if tick.evaluate:
            loss_sum += acc.item()
            acc.zero_()
            try:
                evaluate(tick.done, tick.lr, loss_sum / loss_count if loss_count else None)
            except Interrupted:
                return stopped(tick.done)
            loss_sum, loss_count = 0.0, 0
        if tick.checkpoint:
            loss_sum += acc.item()
            acc.zero_()
            state = snapshot(model, opt, generator, tick.done, loss_sum, loss_count, elapsed())
            hooks.on_checkpoint(state)
    loss_sum += acc.item()
    state = snapshot(model, opt, generator, t.steps, loss_sum, loss_count, elapsed())
    last = points[-1] if points else None
    return TrainResult(
        state,
        stopped=False,
        train_loss=last.train_loss if last else None,
        dev_loss=last.dev_loss if last else None,
        points=points,
    )
