"""One order's discounts and the one interpolated Kneser-Ney step, as KenLM writes them
(``lm/builder/discount.hh``: ``Discount{amount[4]}``, ``Get(count) = amount[min(count, 3)]``).

Modified Kneser-Ney (Chen & Goodman 1998, section 3.5) has three discounts per order,
estimated from counts of counts (``modified_discounts``); plain Kneser-Ney is the case
D1 = D2 = D3 = D. Every probability of a count model (a batch of positions in torch, one
context's distribution, one probability, the ARPA tables in numpy) is ``interpolate``:

    P_k(w | h) = max(c - D(c), 0) / c(h·) + gamma(h) P_{k-1}(w | h'),
    gamma(h)   = (D1 N1(h·) + D2 N2(h·) + D3 N3+(h·)) / c(h·)

with c the (continuation) count of hw at order k and N_r(h·) the number of tokens seen
r times (3 or more for N3+) after h.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import NamedTuple, TypeVar

import numpy as np
import torch

from ngramlm.models.ngram.configs import MIN_DISCOUNT

# a batch of counts: int numpy arrays (the tables) or float64 tensors (the statistics)
A = TypeVar("A", np.ndarray, torch.Tensor)


class Discount(NamedTuple):
    """One order's discounts of a count of 1, 2 and 3 or more (a count of 0: none)."""

    D1: float
    D2: float
    D3: float

    @property
    def amount(self) -> tuple[float, float, float, float]:
        """KenLM's ``amount[4]``: the discount of a count of 0, 1, 2 and 3 or more."""
        return (0.0, self.D1, self.D2, self.D3)

    def get(self, count: A) -> A:
        """KenLM's ``Get(count)``, of each count: ``amount[min(count, 3)]``."""
        return self.at(rank(count))

    def at(self, r: A) -> A:
        """``amount[r]`` of each ``r = rank(count)``."""
        if isinstance(r, torch.Tensor):  # (index_select: faster than indexing)
            return _table(self.amount).index_select(0, r)
        return np.asarray(self.amount)[r]

    def gamma(self, n1: A, n2: A, n3: A, den: A) -> A:
        """gamma(h): the mass the discounts free in contexts with N1, N2, N3+ tokens seen
        once, twice, three or more times after them and ``den`` counts in all (> 0)."""
        out: A = self.D1 * n1
        out += self.D2 * n2  # in place: the same floats, fewer arrays the size of a split
        out += self.D3 * n3
        out /= den
        return out

    def interpolate(self, c: A, den: A, n1: A, n2: A, n3: A, lower: A, r: A | None = None) -> A:
        """P_k(w | h) from the counts c of hw, the context's ``den`` (> 0) and N1, N2, N3+,
        and P_{k-1}(w | h') (``lower``): the one Kneser-Ney step. ``r``: ``rank(c)`` where
        the caller keeps it (the statistics, for a loss at many smoothings)."""
        out: A = (c - (self.get(c) if r is None else self.at(r))).clip(min=0)
        out /= den
        out += self.gamma(n1, n2, n3, den) * lower
        return out


def rank(count: A) -> A:
    """``min(count, 3)`` of each count, as indices: which of ``Discount.amount`` it takes."""
    if isinstance(count, torch.Tensor):
        return count.clamp(max=3).int()  # (int32: half the memory the statistics keep)
    return np.minimum(count, 3).astype(np.intp)


@functools.lru_cache(maxsize=64)
def _table(amount: tuple[float, ...]) -> torch.Tensor:
    """``amount`` as a float64 tensor, made once (a discount is asked for it every step)."""
    return torch.tensor(amount, dtype=torch.float64)


def modified_discounts(counts: Iterable[int] | np.ndarray) -> Discount:
    """Chen & Goodman's D1, D2, D3+ from the counts of counts n1..n4 of ``counts``:
    Y = n1/(n1 + 2 n2), D_r = r - (r + 1) Y n_{r+1}/n_r, clamped to [MIN_DISCOUNT, r]."""
    c = np.asarray(counts if isinstance(counts, np.ndarray) else list(counts), dtype=np.int64)
    n1, n2, n3, n4 = (int(np.count_nonzero(c == r)) for r in (1, 2, 3, 4))
    Y = n1 / (n1 + 2 * n2) if n1 + 2 * n2 else 0.0

    def d(r: int, nr: int, nnext: int) -> float:
        raw = r - (r + 1) * Y * nnext / nr if nr else float(r)
        return min(max(raw, MIN_DISCOUNT), float(r))

    return Discount(d(1, n1, n2), d(2, n2, n3), d(3, n3, n4))
