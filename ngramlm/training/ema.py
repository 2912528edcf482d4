"""The exponential moving average of a noisy curve (bias-corrected, as fastai's
``lr_find``): pure Python, shared by lr-find's suggestion and its plot."""

from __future__ import annotations

EMA_BETA = 0.98  # weight of the running average at each step


def ema(values: list[float], beta: float = EMA_BETA) -> list[float]:
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta**i))
    return out
