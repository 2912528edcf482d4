"""Counting n-grams and the fitted count model (``ngramlm.models.ngram`` tells how)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from ngramlm.models.base import WithVocab
from ngramlm.models.ngram.config import MAX_ADD_K, MIN_DISCOUNT, NgramConfig

# --- counting --------------------------------------------------------------------------


def _text(ids: Sequence[int]) -> str:
    return "".join(map(chr, ids))


def _grams(X: torch.Tensor, Y: torch.Tensor) -> list[str]:
    """Each example as its n-gram, context then target (``chr`` of the token ids).

    The examples of ``data.build_examples`` with ``block_size = order - 1`` are exactly
    the order-N n-grams of the padded words, one per predicted token."""
    return [_text(r) for r in torch.cat([X, Y.view(-1, 1)], 1).tolist()]


@dataclass(frozen=True)
class Level:
    """One order's table: n-gram -> (continuation) count, context -> total and types
    (and, for modified Kneser-Ney, the context's types seen once, twice, 3+ times)."""

    num: dict[str, int]
    den: dict[str, int]
    types: dict[str, int]
    n1: dict[str, int] = field(default_factory=dict)
    n2: dict[str, int] = field(default_factory=dict)
    n3: dict[str, int] = field(default_factory=dict)


def _level(num: dict[str, int], modified: bool = False) -> Level:
    den: dict[str, int] = {}
    types: dict[str, int] = {}
    for g, c in num.items():
        h = g[:-1]
        den[h] = den.get(h, 0) + c
        types[h] = types.get(h, 0) + 1
    if not modified:
        return Level(num, den, types)
    by: tuple[dict[str, int], dict[str, int], dict[str, int]] = ({}, {}, {})
    for g, c in num.items():
        d = by[min(c, 3) - 1]
        d[g[:-1]] = d.get(g[:-1], 0) + 1
    return Level(num, den, types, *by)


def modified_discounts(counts: Iterable[int]) -> tuple[float, float, float]:
    """Chen & Goodman's D1, D2, D3+ from the counts of counts n1..n4 of ``counts``:
    Y = n1/(n1 + 2 n2), D_r = r - (r + 1) Y n_{r+1}/n_r, clamped to [MIN_DISCOUNT, r]."""
    n = Counter(c for c in counts if c <= 4)
    n1, n2, n3, n4 = n[1], n[2], n[3], n[4]
    Y = n1 / (n1 + 2 * n2) if n1 + 2 * n2 else 0.0

    def d(r: int, nr: int, nnext: int) -> float:
        raw = r - (r + 1) * Y * nnext / nr if nr else float(r)
        return min(max(raw, MIN_DISCOUNT), float(r))

    return d(1, n1, n2), d(2, n2, n3), d(3, n3, n4)


class CountModel(WithVocab):
    """A fitted bigram or Kneser-Ney model: probabilities from its order-N counts."""

    def __init__(self, cfg: NgramConfig, counts: dict[str, int], smoothing: float) -> None:
        self.cfg = cfg
        self.order = cfg.order
        self.V = cfg.vocab_size
        self.counts = counts
        self.smoothing = float(smoothing)
        self.kneser_ney = cfg.interpolated  # else add-k on the order-N counts
        self.modified = cfg.modified  # three discounts per order, from counts of counts
        # levels[k - 1] is the order-k table (n-grams of k tokens), k = 1..N.
        self.levels: list[Level] = [Level({}, {}, {})] * self.order
        self.levels[-1] = _level(counts, self.modified)
        if self.kneser_ney:
            grams = set(counts)
            for k in range(self.order - 1, 0, -1):
                cont: dict[str, int] = {}
                for g in {g[-(k + 1) :] for g in grams}:
                    cont[g[1:]] = cont.get(g[1:], 0) + 1
                self.levels[k - 1] = _level(cont, self.modified)
        # discounts[k - 1]: order k's (D1, D2, D3+), modified Kneser-Ney only
        self.discounts: list[tuple[float, float, float]] = (
            [modified_discounts(lev.num.values()) for lev in self.levels] if self.modified else []
        )
        self._children: list[dict[str, list[tuple[int, int]]]] | None = None
        self._child_tensors: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def block_size(self) -> int:
        return self.order - 1

    # --- losses through per-position statistics -------------------------------------------

    def stats(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """(3, order, n) float64: each position's num, den and types at every order
        (0 where the context was never seen), for ``nll`` at any smoothing; modified
        Kneser-Ney's (5, order, n) has the context's N1, N2, N3+ in place of types."""
        n, N = Y.shape[0], self.order
        out = torch.zeros(5 if self.modified else 3, N, n, dtype=torch.float64)
        if n == 0:
            return out
        rows = _grams(X, Y)
        levels = self.levels if self.kneser_ney else self.levels[-1:]
        first = N - len(levels)
        for j, lev in enumerate(levels):
            k = first + j + 1  # n-gram length at this level
            if self.modified:
                tables = (lev.num, lev.den, lev.n1, lev.n2, lev.n3)
                for r, col in enumerate(self._columns(rows, k, tables)):
                    out[r, k - 1] = torch.tensor(col, dtype=torch.float64)
                continue
            num, den, types = [], [], []
            for g in rows:
                g = g[len(g) - k :]
                h = g[:-1]
                num.append(lev.num.get(g, 0))
                den.append(lev.den.get(h, 0))
                types.append(lev.types.get(h, 0))
            out[0, k - 1] = torch.tensor(num, dtype=torch.float64)
            out[1, k - 1] = torch.tensor(den, dtype=torch.float64)
            out[2, k - 1] = torch.tensor(types, dtype=torch.float64)
        return out

    def _discount_of(self, k: int, counts: torch.Tensor) -> torch.Tensor:
        """Order k's discount of each count (0 for a count of 0), float64."""
        table = torch.tensor([0.0, *self.discounts[k - 1]], dtype=torch.float64)
        return table[counts.clamp(max=3).long()]

    @staticmethod
    def _columns(rows: list[str], k: int, tables: tuple[dict[str, int], ...]) -> list[list[int]]:
        """Each row's k-gram looked up in the first table, its context in the others."""
        grams = [g[len(g) - k :] for g in rows]
        ctxs = [g[:-1] for g in grams]
        first, *rest = tables
        return [[first.get(g, 0) for g in grams]] + [[t.get(h, 0) for h in ctxs] for t in rest]

    def probs_from_stats(self, stats: torch.Tensor, smoothing: float) -> torch.Tensor:
        num, den, types = stats[0], stats[1], stats[2]
        if not self.kneser_ney:
            k = smoothing
            return (num[-1] + k) / (den[-1] + k * self.V)
        p = torch.full((stats.shape[2],), 1.0 / self.V, dtype=torch.float64)
        if self.modified:
            for k in range(self.order):
                num, den = stats[0, k], stats[1, k]
                D1, D2, D3 = self.discounts[k]
                Dc = self._discount_of(k + 1, num)
                d = den.clamp(min=1)
                gamma = (D1 * stats[2, k] + D2 * stats[3, k] + D3 * stats[4, k]) / d
                mixed = (num - Dc).clamp(min=0) / d + gamma * p
                p = torch.where(den > 0, mixed, p)
            return p
        D = smoothing
        for k in range(self.order):
            seen = den[k] > 0
            d = den[k].clamp(min=1)
            mixed = (num[k] - D).clamp(min=0) / d + D * types[k] / d * p
            p = torch.where(seen, mixed, p)
        return p

    def nll(self, stats: torch.Tensor, smoothing: float | None = None) -> float:
        """Mean negative log-likelihood (nats per character) of the positions."""
        if stats.shape[2] == 0:
            return 0.0
        p = self.probs_from_stats(stats, self.smoothing if smoothing is None else smoothing)
        return float(-p.log().mean().item())

    def mean_nll(self, X: torch.Tensor, Y: torch.Tensor) -> float:
        """Mean negative log-likelihood (nats per character) of Y after X."""
        return self.nll(self.stats(X, Y))

    def log_probs_of(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """(n,) float64 log P(Y_i | X_i) at the model's smoothing (X may be wider than
        the context: its last ``order - 1`` tokens are used)."""
        return self.probs_from_stats(self.stats(X, Y), self.smoothing).log()

    # --- full distributions ---------------------------------------------------------------

    def prob(self, context: Sequence[int], w: int, unigram: Sequence[float] | None = None) -> float:
        """P(w | the last ``order - 1`` tokens of context), by the definition.

        ``unigram`` replaces the order-1 distribution the recursion ends in (Kneser-Ney
        only): the comparison with NLTK passes NLTK's, which differs from ours there and
        only there (see tests/test_ngram.py)."""
        h = _text(context)[-(self.order - 1) :] if self.order > 1 else ""
        g = h + chr(w)
        if not self.kneser_ney:
            lev, k = self.levels[-1], self.smoothing
            return (lev.num.get(g, 0) + k) / (lev.den.get(h, 0) + k * self.V)
        p, D = 1.0 / self.V, self.smoothing
        first = 1
        if unigram is not None:
            p, first = unigram[w], 2
        for k in range(first, self.order + 1):
            lev = self.levels[k - 1]
            gk = g[len(g) - k :]
            h = gk[:-1]
            den = lev.den.get(h, 0)
            if not den:
                continue
            c = lev.num.get(gk, 0)
            if self.modified:
                D1, D2, D3 = self.discounts[k - 1]
                Dc = 0.0 if c == 0 else (D1, D2, D3)[min(c, 3) - 1]
                n1, n2, n3 = lev.n1.get(h, 0), lev.n2.get(h, 0), lev.n3.get(h, 0)
                gamma = (D1 * n1 + D2 * n2 + D3 * n3) / den
                p = max(c - Dc, 0) / den + gamma * p
            else:
                p = max(c - D, 0) / den + D * lev.types[h] / den * p
        return p

    def _children_of(self, k: int, h: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The tokens seen after context ``h`` at order k, and their (continuation)
        counts; None if h was never seen there. The index is built on first use (it is
        as large as the tables, never V x contexts)."""
        if self._children is None:
            self._children = []
            for lev in self.levels:
                index: dict[str, list[tuple[int, int]]] = {}
                for g, c in lev.num.items():
                    index.setdefault(g[:-1], []).append((ord(g[-1]), c))
                self._children.append(index)
        key = (k, h)
        if key not in self._child_tensors:
            pairs = self._children[k - 1].get(h)
            if pairs is None:
                return None
            ids = torch.tensor([w for w, _ in pairs], dtype=torch.long)
            counts = torch.tensor([c for _, c in pairs], dtype=torch.float64)
            self._child_tensors[key] = (ids, counts)
        return self._child_tensors[key]

    def distribution(self, context: Sequence[int]) -> torch.Tensor:
        """(V,) float64: P(w | context) for every w, as ``prob`` defines it, computed one
        order at a time over the tokens seen after each context only."""
        h = _text(context)[-(self.order - 1) :] if self.order > 1 else ""
        if not self.kneser_ney:
            k = self.smoothing
            den = self.levels[-1].den.get(h, 0)
            p = torch.full((self.V,), k / (den + k * self.V), dtype=torch.float64)
            seen = self._children_of(self.order, h)
            if seen is not None:
                p[seen[0]] += seen[1] / (den + k * self.V)
            return p
        p = torch.full((self.V,), 1.0 / self.V, dtype=torch.float64)
        for k in range(1, self.order + 1):
            lev = self.levels[k - 1]
            hk = h[len(h) - (k - 1) :] if k > 1 else ""
            den = lev.den.get(hk, 0)
            seen = self._children_of(k, hk) if den else None
            if seen is None:
                continue
            ids, counts = seen
            if self.modified:
                D1, D2, D3 = self.discounts[k - 1]
                D = self._discount_of(k, counts)
                gamma = (
                    D1 * lev.n1.get(hk, 0) + D2 * lev.n2.get(hk, 0) + D3 * lev.n3.get(hk, 0)
                ) / den
            else:
                D = torch.full_like(counts, self.smoothing)
                gamma = self.smoothing * lev.types[hk] / den
            p = p * gamma
            p[ids] += (counts - D).clamp(min=0) / den
        return p

    def log_probs(self, contexts: torch.Tensor) -> torch.Tensor:
        """(n, V) log-probabilities of the next token after each context row."""
        # One distribution per distinct context: sampling many words repeats contexts.
        unique, inverse = torch.unique(contexts, dim=0, return_inverse=True)
        rows = [self.distribution(row) for row in unique.tolist()]
        out = torch.stack(rows) if rows else torch.zeros(0, self.V, dtype=torch.float64)
        return out.log().float()[inverse]

    def logits(self, contexts: torch.Tensor) -> torch.Tensor:
        """For sampling: log-probabilities are logits whose softmax is the model."""
        return self.log_probs(contexts)


PROVISIONAL_SMOOTHING = 0.5  # until ``choose_smoothing`` sets it, when the config says "auto"


def fit(cfg: NgramConfig, X: torch.Tensor, Y: torch.Tensor) -> CountModel:
    """Count the train examples (``block_size = order - 1``). The smoothing is the
    configured one; with ``auto`` (None) it is provisional until ``choose_smoothing``
    picks it on dev."""
    if X.shape[1] != cfg.block_size:
        raise ValueError(f"examples of block size {X.shape[1]} for an order-{cfg.order} model")
    smoothing = PROVISIONAL_SMOOTHING if cfg.smoothing is None else cfg.smoothing
    return CountModel(cfg, dict(Counter(_grams(X, Y))), smoothing)


def choose_smoothing(
    model: CountModel, dev_stats: torch.Tensor
) -> tuple[float, list[tuple[float, float]]]:
    """The smoothing with the lowest dev loss: a log-spaced grid, then a golden-section
    search around the best grid point. Returns it and every (value, dev loss) tried."""
    log = not model.kneser_ney  # add-k ranges over decades; a discount over (0, 1]
    if log:
        lo, hi = 1e-3, MAX_ADD_K
        grid = [
            10 ** (math.log10(lo) + i * (math.log10(hi) - math.log10(lo)) / 24) for i in range(25)
        ]
    else:
        lo, hi = 0.01, 1.0
        grid = [0.01 + i * 0.99 / 24 for i in range(25)]
    tried: list[tuple[float, float]] = [(x, model.nll(dev_stats, x)) for x in grid]
    i = min(range(len(grid)), key=lambda j: tried[j][1])
    a, b = grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)]
    f = (lambda t: 10**t) if log else (lambda t: t)
    a, b = (math.log10(a), math.log10(b)) if log else (a, b)
    r = (math.sqrt(5) - 1) / 2
    c, d = b - r * (b - a), a + r * (b - a)
    fc, fd = model.nll(dev_stats, f(c)), model.nll(dev_stats, f(d))
    tried += [(f(c), fc), (f(d), fd)]
    for _ in range(30):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - r * (b - a)
            fc = model.nll(dev_stats, f(c))
            tried.append((f(c), fc))
        else:
            a, c, fc = c, d, fd
            d = a + r * (b - a)
            fd = model.nll(dev_stats, f(d))
            tried.append((f(d), fd))
    best = min(tried, key=lambda t: t[1])
    return best[0], sorted(tried)
