"""A fitted count model's probabilities: add-k, Kneser-Ney and modified Kneser-Ney.

The definitions are in the package docstring (``ngramlm.models.ngram``). Losses go
through per-position statistics (each example's count, its context's total and types at
every order, looked up in the sorted tables of ``counting`` for a whole batch at once),
so a discount can be chosen on dev by evaluating many candidates at the cost of a few
vector operations each; evaluation walks a split in chunks of ``CHUNK`` examples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ngramlm.models.base import WithVocab
from ngramlm.models.ngram.configs import MAX_ADD_K, PROVISIONAL_SMOOTHING, NgramConfig
from ngramlm.models.ngram.counting import Tables, modified_discounts

CHUNK = 1 << 20  # examples evaluated at once: bounded memory for any split


class CountModel(WithVocab):
    """A fitted bigram or Kneser-Ney model: probabilities from its order-N counts."""

    def __init__(self, cfg: NgramConfig, tables: Tables, smoothing: float) -> None:
        self.cfg = cfg
        self.order = cfg.order
        self.V = cfg.vocab_size
        self.tables = tables
        self.smoothing = float(smoothing)
        self.kneser_ney = cfg.interpolated  # else add-k on the order-N counts
        self.modified = cfg.modified  # three discounts per order, from counts of counts
        # levels[k - 1] is the order-k table (n-grams of k tokens), k = 1..N.
        self.levels = tables.levels
        # discounts[k - 1]: order k's (D1, D2, D3+), modified Kneser-Ney only
        self.discounts: list[tuple[float, float, float]] = (
            [modified_discounts(lev.num) for lev in self.levels] if self.modified else []
        )
        self.counts: np.ndarray = tables.levels[-1].num  # the order-N counts, as stored

    @property
    def block_size(self) -> int:
        return self.order - 1

    @property
    def n_ngrams(self) -> int:
        return int(self.levels[-1].keys.size)

    # --- losses through per-position statistics -------------------------------------------

    def stats(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """(3, order, n) float64: each position's num, den and types at every order
        (0 where the context was never seen), for ``nll`` at any smoothing; modified
        Kneser-Ney's (5, order, n) has the context's N1, N2, N3+ in place of types.
        X may be wider than the context: its last ``order - 1`` columns are used."""
        n, N = Y.shape[0], self.order
        out = torch.zeros(5 if self.modified else 3, N, n, dtype=torch.float64)
        if n == 0:
            return out
        if not isinstance(X, torch.Tensor):  # views of a token stream: this chunk's rows
            X, Y = X[:n], Y[:n]
        x = X.cpu().numpy()[:, X.shape[1] - (N - 1) :]
        y = Y.cpu().numpy().astype(np.int64)
        ids = self.tables.context_ids(x)
        first = 1 if self.kneser_ney else N
        for k in range(first, N + 1):
            lev, ctx = self.levels[k - 1], ids[k - 1]
            seen = ctx >= 0
            c = np.maximum(ctx, 0)
            per_ctx = (lev.den, lev.n1, lev.n2, lev.n3) if self.modified else (lev.den, lev.types)
            cols = [lev.find(c * self.V + y) * seen]
            cols += [(a[c] * seen) if a.size else np.zeros(n, np.int64) for a in per_ctx]
            for r, col in enumerate(cols):
                out[r, k - 1] = torch.from_numpy(col.astype(np.float64))
        return out

    def _discount_of(self, k: int, counts: torch.Tensor) -> torch.Tensor:
        """Order k's discount of each count (0 for a count of 0), float64."""
        table = torch.tensor([0.0, *self.discounts[k - 1]], dtype=torch.float64)
        return table[counts.clamp(max=3).long()]

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
        """Mean negative log-likelihood (nats per character) of Y after X, ``CHUNK``
        examples at a time (one chunk: exactly ``nll`` of the split's statistics)."""
        n = Y.shape[0]
        if n <= CHUNK:
            return self.nll(self.stats(X, Y))
        total = math.fsum(
            float(-self.log_probs_of(X[a : a + CHUNK], Y[a : a + CHUNK]).sum())
            for a in range(0, n, CHUNK)
        )
        return total / n

    def log_probs_of(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """(n,) float64 log P(Y_i | X_i) at the model's smoothing (X may be wider than
        the context: its last ``order - 1`` tokens are used)."""
        parts = [
            self.probs_from_stats(self.stats(X[a : a + CHUNK], Y[a : a + CHUNK]), self.smoothing)
            for a in range(0, Y.shape[0], CHUNK)
        ]
        return torch.cat(parts).log() if parts else torch.zeros(0, dtype=torch.float64)

    # --- full distributions ---------------------------------------------------------------

    def _ids(self, context: Sequence[int]) -> list[int]:
        """The context ids (-1: unseen) of the last 0..order-1 tokens of ``context``."""
        x = np.asarray([list(context)[len(context) - (self.order - 1) :]], dtype=np.int64)
        return [int(i[0]) for i in self.tables.context_ids(x.reshape(1, self.order - 1))]

    def prob(self, context: Sequence[int], w: int, unigram: Sequence[float] | None = None) -> float:
        """P(w | the last ``order - 1`` tokens of context), by the definition.

        ``unigram`` replaces the order-1 distribution the recursion ends in (Kneser-Ney
        only): the comparison with NLTK passes NLTK's, which differs from ours there and
        only there (see tests/test_ngram.py)."""
        ids = self._ids(context)
        V = self.V
        if not self.kneser_ney:
            lev, k, h = self.levels[-1], self.smoothing, ids[-1]
            c = int(lev.find(np.array([h * V + w]))[0]) if h >= 0 else 0
            den = int(lev.den[h]) if h >= 0 else 0
            return (c + k) / (den + k * V)
        p, D = 1.0 / V, self.smoothing
        first = 1
        if unigram is not None:
            p, first = unigram[w], 2
        for k in range(first, self.order + 1):
            lev, h = self.levels[k - 1], ids[k - 1]
            den = int(lev.den[h]) if h >= 0 else 0
            if not den:
                continue
            c = int(lev.find(np.array([h * V + w]))[0])
            if self.modified:
                D1, D2, D3 = self.discounts[k - 1]
                Dc = 0.0 if c == 0 else (D1, D2, D3)[min(c, 3) - 1]
                n1, n2, n3 = int(lev.n1[h]), int(lev.n2[h]), int(lev.n3[h])
                gamma = (D1 * n1 + D2 * n2 + D3 * n3) / den
                p = max(c - Dc, 0) / den + gamma * p
            else:
                p = max(c - D, 0) / den + D * int(lev.types[h]) / den * p
        return p

    def distribution(self, context: Sequence[int]) -> torch.Tensor:
        """(V,) float64: P(w | context) for every w, as ``prob`` defines it, computed one
        order at a time over the tokens seen after each context only."""
        ids = self._ids(context)
        if not self.kneser_ney:
            k, h, lev = self.smoothing, ids[-1], self.levels[-1]
            den = int(lev.den[h]) if h >= 0 else 0
            p = torch.full((self.V,), k / (den + k * self.V), dtype=torch.float64)
            if h >= 0:
                w, c = lev.children(h, self.V)
                p[torch.from_numpy(w)] += torch.from_numpy(c.astype(np.float64)) / (
                    den + k * self.V
                )
            return p
        p = torch.full((self.V,), 1.0 / self.V, dtype=torch.float64)
        for k in range(1, self.order + 1):
            lev, h = self.levels[k - 1], ids[k - 1]
            den = int(lev.den[h]) if h >= 0 else 0
            if not den:
                continue
            w, c = lev.children(h, self.V)
            ids_t, counts = torch.from_numpy(w), torch.from_numpy(c.astype(np.float64))
            if self.modified:
                D1, D2, D3 = self.discounts[k - 1]
                D = self._discount_of(k, counts)
                gamma = (D1 * int(lev.n1[h]) + D2 * int(lev.n2[h]) + D3 * int(lev.n3[h])) / den
            else:
                D = torch.full_like(counts, self.smoothing)
                gamma = self.smoothing * int(lev.types[h]) / den
            p = p * gamma
            p[ids_t] += (counts - D).clamp(min=0) / den
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


def fit(cfg: NgramConfig, X: torch.Tensor, Y: torch.Tensor) -> CountModel:
    """Count the train examples (``block_size = order - 1``). The smoothing is the
    configured one; with ``auto`` (None) it is provisional until ``choose_smoothing``
    picks it on dev."""
    if X.shape[1] != cfg.block_size:
        raise ValueError(f"examples of block size {X.shape[1]} for an order-{cfg.order} model")
    smoothing = PROVISIONAL_SMOOTHING if cfg.smoothing is None else cfg.smoothing
    if isinstance(X, torch.Tensor):
        grams = torch.cat([X, Y.view(-1, 1)], 1).cpu().numpy()
    else:  # views of a token stream (data.Windows): int32 n-grams, CHUNK rows at a time
        n, N = X.shape[0], cfg.order
        grams = np.empty((n, N), dtype=np.int32)
        for a in range(0, n, CHUNK):
            grams[a : a + CHUNK, : N - 1] = X[a : a + CHUNK].cpu().numpy()
            grams[a : a + CHUNK, N - 1] = Y[a : a + CHUNK].cpu().numpy()
    return CountModel(cfg, Tables(grams, None, cfg.vocab_size, cfg.interpolated), smoothing)


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
