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
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import torch

from ngramlm.config import RunConfig, TrainConfig
from ngramlm.errors import InputError
from ngramlm.evaluation import EvalSet, evaluate_set
from ngramlm.models import NeuralFamily, family_of

PROGRESS_EVERY = 250  # steps between progress callbacks


@dataclass(frozen=True)
class Examples:
    Xtr: torch.Tensor  # (Ntr, block_size) int64
    Ytr: torch.Tensor  # (Ntr,)
    Xdev: torch.Tensor  # (Ndev, block_size)
    Ydev: torch.Tensor  # (Ndev,)

    def to(self, device: torch.device) -> Examples:
        return Examples(*(t.to(device) for t in (self.Xtr, self.Ytr, self.Xdev, self.Ydev)))


@dataclass(frozen=True)
class EvalPoint:
    step: int
    elapsed_s: float
    lr: float
    batch_loss: float | None  # mean minibatch loss since the previous evaluation
    train_loss: float | None  # on the whole train split
    dev_loss: float | None  # on the whole dev split


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

    def on_eval(self, point: EvalPoint) -> None: ...

    def on_checkpoint(self, state: TrainState) -> None: ...

    def should_stop(self) -> bool:
        return False


# --- the skeleton ----------------------------------------------------------------------


TRAIN_SAMPLE = 65_536  # train examples in an intermediate evaluation of a costly split
COSTLY_LOGITS = 2**30  # distinct contexts x V past which a train evaluation is costly


def train_sample(full: EvalSet, X: torch.Tensor, Y: torch.Tensor) -> EvalSet:
    """What the evaluations before the last one measure the train loss on: the whole
    split, unless its logits (distinct contexts x V) pass ``COSTLY_LOGITS`` (a word
    corpus: on Brown the whole train split would cost a fifth of each epoch's time), then
    every k-th example, ``TRAIN_SAMPLE`` of them. Character datasets are always whole;
    the final train loss of every run is over the whole split."""
    n = X.shape[0]
    if full.U.shape[0] * full.vocab_size <= COSTLY_LOGITS or n <= 2 * TRAIN_SAMPLE:
        return full
    stride = n // TRAIN_SAMPLE
    return EvalSet.of(X[::stride][:TRAIN_SAMPLE], Y[::stride][:TRAIN_SAMPLE], full.vocab_size)


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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise InputError(
            "--device mps: Apple's MPS is not available here; use --device cpu or auto"
        )
    return torch.device(name)


def neural_family(cfg: RunConfig) -> NeuralFamily:
    fam = family_of(cfg)
    if not isinstance(fam, NeuralFamily) or cfg.train is None:
        raise TypeError(f"{fam.name} models are counted, not trained by steps")
    return fam


def build(
    cfg: RunConfig, device: torch.device
) -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.Generator]:
    """The model (initial weights from the seed's generator), its optimiser, the generator."""
    fam, t = neural_family(cfg), cfg.train
    assert t is not None
    generator = torch.Generator().manual_seed(t.seed)
    model = fam.build(cfg.model, generator).to(device)
    setattr(model, "precision", fam.precision(cfg, device))  # noqa: B010 (a Module attribute)
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


def train(
    cfg: RunConfig,
    examples: Examples,
    device: torch.device,
    hooks: Hooks | None = None,
    resume: TrainState | None = None,
    *,
    fast_path: bool | None = None,
) -> TrainResult:
    """Train ``cfg`` on ``examples``, from scratch or from ``resume``.

    ``fast_path`` None (the default) takes the family's hand-written step where it has one
    for this config (``models.mlp.fast``: the plain MLP under SGD) and autograd for the rest;
    False forces autograd (for tests and benchmarks)."""
    hooks = hooks or Hooks()
    fam, t = neural_family(cfg), cfg.train
    assert t is not None
    model, opt, generator = build(cfg, device)
    start, loss_sum, loss_count, elapsed0 = 0, 0.0, 0, 0.0
    if resume is not None:
        model.load_state_dict(resume.model)
        load_optimizer_tensors(opt, resume.optimizer)
        generator.set_state(resume.rng)
        start, loss_sum, loss_count = resume.step, resume.batch_loss_sum, resume.batch_loss_count
        elapsed0 = resume.elapsed_s
    ex = examples.to(device)
    n_train = ex.Xtr.shape[0]
    V = cfg.model.vocab_size
    train_set, dev_set = EvalSet.of(ex.Xtr, ex.Ytr, V), EvalSet.of(ex.Xdev, ex.Ydev, V)
    train_probe = train_sample(train_set, ex.Xtr, ex.Ytr)
    fast_step = fam.fast_stepper(model, t) if fast_path is not False else None
    if fast_path and fast_step is None:
        raise ValueError(f"no hand-written step covers this {fam.name} config")
    stepper: Stepper = fast_step or AutogradStep(model, opt, generator)
    points: list[EvalPoint] = []
    t0 = time.perf_counter()
    model.train()
    acc = torch.zeros((), dtype=torch.float64, device=device)  # loss sum since last read

    def elapsed() -> float:
        return elapsed0 + time.perf_counter() - t0

    for tick in schedule(t, start):
        if hooks.should_stop():
            loss_sum += acc.item()
            state = snapshot(model, opt, generator, tick.step, loss_sum, loss_count, elapsed())
            return TrainResult(state, stopped=True, points=points)
        ix = draw(generator, n_train, t.batch_size).to(device)
        loss = stepper.step_ix(ex.Xtr, ex.Ytr, ix, tick.lr)
        acc += loss
        loss_count += 1
        if tick.progress:
            hooks.on_progress(tick.done, loss.item(), elapsed())
        if tick.evaluate:
            loss_sum += acc.item()
            acc.zero_()
            point = EvalPoint(
                step=tick.done,
                elapsed_s=elapsed(),
                lr=tick.lr,
                batch_loss=loss_sum / loss_count if loss_count else None,
                train_loss=evaluate_set(model, train_set if tick.done == t.steps else train_probe),
                dev_loss=evaluate_set(model, dev_set),
            )
            loss_sum, loss_count = 0.0, 0
            points.append(point)
            hooks.on_eval(point)
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
