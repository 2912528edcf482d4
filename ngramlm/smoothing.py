"""Smoothing a noisy curve: pure Python, shared by lr-find's suggestion and its plot."""

from __future__ import annotations

SMOOTHING = 0.98  # EMA factor over consecutive steps


def smooth(losses: list[float], beta: float = SMOOTHING) -> list[float]:
    out, avg = [], 0.0
    for i, loss in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta**i))
    return out
