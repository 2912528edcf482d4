"""The space's edges: where a search's best trials crowd against the end of a range.

A search can only find what its space holds. When the best quarter of its finished trials
(at least ``MIN_BEST`` of them) all sit within ``NEAR`` of a range's end (measured on the
range's own scale: its logarithm's for a log range), the space, not the corpus, set the
limit there: ``report --sweep`` and ``plot search`` name the key, the end, and a wider
range to try (half as wide again past that end; a log range, by the square root of its
ratio; never below 0 for a range that starts there, never to 1 for one that stays under
it, such as a dropout).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ngramlm.stages.space import Dim

NEAR = 0.10  # within a tenth of the range's width of its end
MIN_FINISHED = 4  # fewer finished trials say nothing of the edges
MIN_BEST = 2


@dataclass(frozen=True)
class Edge:
    """A range's end that the best trials press against, and a wider range to try."""

    key: str
    end: str  # "low" or "high"
    value: float  # the range's end
    best: int  # how many of the best trials sit there
    wider: str  # the --space item to try

    def line(self) -> str:
        where = "top" if self.end == "high" else "bottom"
        return (
            f"{self.key}: the best {self.best} trials sit in the {where} 10% of its range "
            f"(at {_num(self.value)}); the space may set the limit: try --space {self.wider}"
        )


def _num(v: float) -> str:
    return f"{v:.3g}"


def _position(d: Dim, v: float) -> float:
    """Where ``v`` sits in the range, 0 at its low end and 1 at its high end."""
    if d.log:
        return (math.log(v) - math.log(d.low)) / (math.log(d.high) - math.log(d.low))
    return (v - d.low) / (d.high - d.low)


def _wider(d: Dim, end: str) -> str | None:
    low, high = d.low, d.high
    if d.log:
        step = math.sqrt(high / low)
        low, high = (low / step, high) if end == "low" else (low, high * step)
    else:
        half = (high - low) / 2
        if end == "low":
            if low <= 0:
                return None  # 0 is the floor of a non-negative range
            low = max(0.0, low - half)
        else:
            high = high + half
            if d.high < 1 <= high and d.low >= 0 and not d.integer:
                high = d.high + (1 - d.high) / 2  # a probability stays under 1
    if d.integer:
        low, high = math.floor(low), math.ceil(high)
        if (low, high) == (int(d.low), int(d.high)):
            return None
    text = f"{d.key}={_num(low)}:{_num(high)}"
    return text + (":log" if d.log else "")


def edges(dims: Mapping[str, Dim], rows: Sequence[Mapping[str, Any]]) -> list[Edge]:
    """The ranges whose end the best quarter of the finished trials (``trial_rows``'
    rows) crowd within ``NEAR`` of; empty below ``MIN_FINISHED`` finished trials."""
    done = [r for r in rows if r["status"] == "finished" and r["dev_loss"] is not None]
    if len(done) < MIN_FINISHED:
        return []
    k = max(MIN_BEST, math.ceil(len(done) / 4))
    best = sorted(done, key=lambda r: r["dev_loss"])[:k]
    found = []
    for key, d in dims.items():
        if d.choices or d.high <= d.low or any(r.get(key) is None for r in best):
            continue
        where = [_position(d, float(r[key])) for r in best]
        for end, near in (("low", all(p <= NEAR for p in where)),
                          ("high", all(p >= 1 - NEAR for p in where))):  # fmt: skip
            wider = _wider(d, end) if near else None
            if wider is not None:
                value = d.low if end == "low" else d.high
                found.append(Edge(key, end, value, len(best), wider))
    return found
