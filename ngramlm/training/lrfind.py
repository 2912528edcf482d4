"""The learning-rate range test of makemore part 2: one model, one step per learning rate,
the rates spaced as ``10**linspace(log10(min), log10(max), steps)``.

The suggestion follows the lecture's reading of the plot: the loss falls as the rate
grows, bottoms out, then becomes unstable; a good rate sits a little before the bottom.
We smooth the minibatch losses (an exponential moving average, bias-corrected, as in
fastai's ``lr_find``), find the rate at the smoothed minimum, and suggest half a decade
below it (divided by sqrt(10), about 3.16).
On the lecture's names and model the minimum sits near 0.2-0.3 and the suggestion near
0.08, where the lecture settled on 0.1; a tenth of the minimum (0.02) was too timid, and
the steepest descent of this noisy curve too unstable to trust.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ngramlm.config import RunConfig
from ngramlm.errors import InputError
from ngramlm.training.ema import ema
from ngramlm.training.loop import AutogradStep, Examples, build
from ngramlm.training.schedule import draw

DIVERGED = 4.0  # stop reading the curve once the smoothed loss is 4x its best


def lr_schedule(min_lr: float, max_lr: float, steps: int) -> list[float]:
    a, b = math.log10(min_lr), math.log10(max_lr)
    return [10 ** (a + (b - a) * i / max(1, steps - 1)) for i in range(steps)]


@dataclass(frozen=True)
class Suggestion:
    lr: float
    lr_at_min: float
    min_smoothed_loss: float
    method: str = "lr at the minimum of the EMA-smoothed (beta 0.98) loss, divided by sqrt(10)"


def suggest(lrs: list[float], losses: list[float]) -> Suggestion:
    sm = ema(losses)
    best_i, best = 0, math.inf
    for i, v in enumerate(sm):
        if not math.isfinite(v) or v > DIVERGED * best:
            break
        if v < best:
            best_i, best = i, v
    return Suggestion(lrs[best_i] / math.sqrt(10), lrs[best_i], best)


def range_test(
    cfg: RunConfig,
    examples: Examples,
    device: torch.device,
    lrs: list[float],
    precision: str,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[float]:
    """Minibatch loss at each step, the step taken at each learning rate in turn: the
    training loop's draw and step (autograd, any family), one step per rate. Once
    ``should_stop()`` (checked before each step) it ends early: the losses of the steps
    taken."""
    assert cfg.train is not None
    model, opt, generator = build(cfg, device, precision)
    stepper = AutogradStep(model, opt, generator)
    ex = examples.to(device)
    n = ex.Xtr.shape[0]
    losses: list[float] = []
    model.train()
    for lr in lrs:
        if should_stop():
            break
        ix = draw(generator, n, cfg.train.batch_size).to(device)
        value = stepper.step_ix(ex.Xtr, ex.Ytr, ix, lr).item()
        losses.append(value)
        if not math.isfinite(value):
            losses.extend([math.inf] * (len(lrs) - len(losses)))
            break
    return losses


def validate_range(min_lr: float, max_lr: float, steps: int) -> None:
    for name, v in (("--min-lr", min_lr), ("--max-lr", max_lr)):
        if not (math.isfinite(v) and 0 < v <= 100):
            raise InputError(f"{name} must be a finite number in (0, 100], got {v}")
    if max_lr <= min_lr:
        raise InputError(f"--max-lr {max_lr} must be larger than --min-lr {min_lr}")
    if not 10 <= steps <= 100_000:
        raise InputError(f"--steps must be between 10 and 100000 for lr-find, got {steps}")
