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
from dataclasses import dataclass

import numpy as np
import torch

from ngramlm.models.base import WithVocab
from ngramlm.models.golden import golden_section
from ngramlm.models.ngram.configs import MAX_ADD_K, PROVISIONAL_SMOOTHING, NgramConfig
from ngramlm.models.ngram.counting import Tables
from ngramlm.models.ngram.discount import Discount, modified_discounts, rank

CHUNK = 1 << 20  # examples evaluated at once: bounded memory for any split
GOLDEN_STEPS = 30  # the search's bracket, two grid steps, shrinks to 0.618**30 ≈ 5e-7 of it


@dataclass(frozen=True)
class Stats:
    """Each position's counts at every order, for losses at any smoothing: ``rows`` (5,
    order, n) float64, the count c(hw), the context's c(h·), N1, N2 and N3+ (0 where the
    context was never seen), and ``rank`` (order, n), the count's index into a discount's
    amounts (``discount.rank``). The positions are sorted by how many orders saw their
    context (one seen at an order is seen at every order below), so order k's seen ones
    are ``[..., k - 1, seen_from[k - 1]:]``; ``back`` puts them in the examples' order."""

    rows: torch.Tensor
    rank: torch.Tensor  # int32
    seen_from: tuple[int, ...]
    back: torch.Tensor  # (n,) int64

    @property
    def n(self) -> int:
        return int(self.rows.shape[2])


class CountModel(WithVocab):
    """A fitted bigram or Kneser-Ney model: probabilities from its order-N counts."""

    def __init__(self, cfg: NgramConfig, tables: Tables, smoothing: float) -> None:
        self.cfg = cfg
        self.order = cfg.order
        self.V = cfg.vocab_size
        self.tables = tables
        self.smoothing = float(smoothing)  # add-k's k, or plain Kneser-Ney's one discount D
        self.kneser_ney = cfg.interpolated  # else add-k on the order-N counts
        # levels[k - 1] is the order-k table (n-grams of k tokens), k = 1..N.
        self.levels = tables.levels
        # Modified Kneser-Ney's discounts, estimated once from each order's counts of
        # counts (Chen & Goodman 1998); plain Kneser-Ney's are made from D (discounts_at).
        self.estimated: list[Discount] | None = (
            [modified_discounts(lev.num) for lev in self.levels] if cfg.modified else None
        )
        self.counts: np.ndarray = tables.levels[-1].num  # the order-N counts, as stored

    @property
    def block_size(self) -> int:
        return self.order - 1

    @property
    def n_ngrams(self) -> int:
        return int(self.levels[-1].keys.size)

    def discounts_at(self, smoothing: float) -> list[Discount]:
        """Each order's discounts (``discounts[k - 1]``: order k's): the estimated ones, or
        plain Kneser-Ney's ``Discount(D, D, D)`` at D = ``smoothing`` for every order."""
        if self.estimated is not None:
            return self.estimated
        return [Discount(smoothing, smoothing, smoothing)] * self.order

    @property
    def discounts(self) -> list[Discount]:
        return self.discounts_at(self.smoothing)

    # --- losses through per-position statistics -------------------------------------------

    def stats(self, X: torch.Tensor, Y: torch.Tensor) -> Stats:
        """The positions' counts at every order, for ``nll`` at any smoothing. X may be
        wider than the context: its last ``order - 1`` columns are used."""
        n, N = Y.shape[0], self.order
        out = torch.zeros(5, N, n, dtype=torch.float64)
        if n == 0:
            empty = torch.zeros(0, dtype=torch.int64)
            return Stats(out, rank(out[0]), (0,) * N, empty)
        if not isinstance(X, torch.Tensor):  # views of a token stream: this chunk's rows
            X, Y = X[:n], Y[:n]
        x = X.cpu().numpy()[:, X.shape[1] - (N - 1) :]
        y = Y.cpu().numpy().astype(np.int64)
        ids = self.tables.context_ids(x)
        orders = range(1 if self.kneser_ney else N, N + 1)
        dens = {k: self._at(self.levels[k - 1].den, ids[k - 1]) for k in orders}
        depth = np.zeros(n, dtype=np.int8)  # how many orders saw the context (a radix sort)
        for k in orders:
            depth += dens[k] > 0
        perm = np.argsort(depth, kind="stable")
        y = y[perm]
        for k in orders:
            lev, ctx = self.levels[k - 1], ids[k - 1][perm]
            cols = [lev.find(np.maximum(ctx, 0) * self.V + y) * (ctx >= 0), dens[k][perm]]
            cols += [self._at(a, ctx) for a in (lev.n1, lev.n2, lev.n3)]
            for r, col in enumerate(cols):
                out[r, k - 1] = torch.from_numpy(col.astype(np.float64))
        seen_from = tuple(int(a) for a in np.searchsorted(depth[perm], np.arange(1, N + 1)))
        back = np.empty(n, dtype=np.int64)
        back[perm] = np.arange(n)
        return Stats(out, rank(out[0]), seen_from, torch.from_numpy(back))

    @staticmethod
    def _at(per_ctx: np.ndarray, ctx: np.ndarray) -> np.ndarray:
        """A per-context table's value of each context id (0 for -1: never seen)."""
        if not per_ctx.size:
            return np.zeros(ctx.shape[0], dtype=np.int64)
        return per_ctx[np.maximum(ctx, 0)] * (ctx >= 0)

    def probs_from_stats(self, stats: Stats, smoothing: float) -> torch.Tensor:
        """(n,) float64 probabilities of the positions of ``stats`` at this smoothing."""
        if not self.kneser_ney:
            k, num, den = smoothing, stats.rows[0, -1], stats.rows[1, -1]
            p = (num + k) / (den + k * self.V)
        else:
            p = torch.full((stats.n,), 1.0 / self.V, dtype=torch.float64)
            for k, discount in enumerate(self.discounts_at(smoothing)):
                a = stats.seen_from[k]  # the others' contexts: never seen, p passes through
                c, den, n1, n2, n3 = stats.rows[:, k, a:].unbind()
                p[a:] = discount.interpolate(c, den, n1, n2, n3, p[a:], stats.rank[k, a:])
        return p.index_select(0, stats.back)

    def nll(self, stats: Stats, smoothing: float | None = None) -> float:
        """Mean negative log-likelihood (nats per character) of the positions."""
        if stats.n == 0:
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
        p = np.array([1.0 / V if unigram is None else unigram[w]])
        for k in range(1 if unigram is None else 2, self.order + 1):
            lev, h = self.levels[k - 1], ids[k - 1]
            if h < 0 or not lev.den[h]:
                continue  # a context never seen: its lower order's probability
            hw, at = lev.find(np.array([h * V + w])), [h]
            n = (lev.den[at], lev.n1[at], lev.n2[at], lev.n3[at])
            p = self.discounts[k - 1].interpolate(hw, *n, p)
        return float(p[0])

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
        for k, discount in enumerate(self.discounts, 1):
            lev, h = self.levels[k - 1], ids[k - 1]
            if h < 0 or not lev.den[h]:
                continue  # a context never seen: its lower order's distribution
            w, c = lev.children(h, self.V)
            counts = torch.zeros(self.V, dtype=torch.int64)  # c(hw), 0 for most w
            counts[torch.from_numpy(w)] = torch.from_numpy(c.astype(np.int64))
            den, n1, n2, n3 = torch.tensor(
                [lev.den[h], lev.n1[h], lev.n2[h], lev.n3[h]], dtype=torch.float64
            )
            p = discount.interpolate(counts, den, n1, n2, n3, p)
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
    model: CountModel, dev_stats: Stats
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
    around = golden_section(lambda t: model.nll(dev_stats, f(t)), a, b, GOLDEN_STEPS)
    tried += [(f(t), v) for t, v in around]
    best = min(tried, key=lambda t: t[1])
    return best[0], sorted(tried)
