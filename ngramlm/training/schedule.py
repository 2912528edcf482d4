"""What is due at each step of a run: its learning rate (``lr_at``), and whether progress,
an evaluation or a checkpoint comes after it (``schedule``); the minibatch indices a step
draws from the run's generator (``draw``).

Pure functions of the config and the step: the one loop body (``ngramlm.training.body``),
the solo and batched engines and the learning-rate range test share them, so a member of
a batched model, a solo run and a resumed run meet the same duties at the same steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import torch

from ngramlm.config import TrainConfig

PROGRESS_EVERY = 250  # steps between progress callbacks
PROGRESS_S = 1.0  # and at most this many seconds (a slow model still shows it is moving)


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


def due(t: TrainConfig, step: int) -> bool:
    """Whether ``schedule(t)`` evaluates after ``step`` completed steps (``t`` with the
    interval ``eval_interval`` resolved)."""
    return step > 0 and (step % t.eval_interval == 0 or step == t.steps)


def draw(
    generator: torch.Generator, n: int, batch_size: int, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Minibatch indices into the n train examples, from the run's generator (on the CPU,
    so a run draws the same minibatches on every device)."""
    if out is not None:
        return torch.randint(0, n, (batch_size,), generator=generator, out=out)
    return torch.randint(0, n, (batch_size,), generator=generator)
