"""N-gram counts as sorted integer arrays: sort, then count (the way KenLM estimates).

No Python object per n-gram. Every context of j tokens (the last j of a model's order-1
context window) gets an id: its rank among the distinct such contexts, in lexicographic
order. A context's key packs its oldest token with the id of the rest,

    key(t_1 .. t_j) = t_1 * n_{j-1} + id(t_2 .. t_j)        (n_{j-1}: contexts of j-1 tokens)

so sorting keys sorts contexts lexicographically, a key is below V * n_{j-1} (an int64
for any corpus that fits in memory, whatever the order), and dropping the oldest token
is ``key % n_{j-1}``: a trie in sorted arrays. An n-gram of k tokens is the key
``id(context) * V + w``; its table holds the sorted distinct keys and their counts, and
per context (indexed by the context's id) the total, the number of distinct successors
and, for modified Kneser-Ney, how many of them were seen once, twice, three times or more.

Continuation counts (Kneser-Ney's lower orders) come from the distinct n-grams one order
up by mapping each to its suffix and counting (``np.unique``); counts of counts by
``np.bincount``; lookups of a batch of contexts or n-grams by ``np.searchsorted``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ngramlm.models.ngram.configs import MIN_DISCOUNT

I64 = np.int64
MAX_KEY = 2**62  # keys stay below this: V * (distinct contexts) must


def group_sum(keys: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys, sorted, and the summed weights (or the number) of each."""
    if weights is None:
        return np.unique(keys, return_counts=True)
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    if k.size == 0:
        return k, np.zeros(0, dtype=I64)
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    return k[starts], np.add.reduceat(weights[order].astype(I64), starts)


@dataclass(frozen=True)
class Level:
    """The n-grams of k tokens: sorted keys ``ctx * V + w`` and their (continuation)
    counts; per context id, the total count ``den``, the distinct successors ``types``
    and those seen once, twice, three or more times (``n1``, ``n2``, ``n3``)."""

    keys: np.ndarray  # (m,) int64, sorted
    num: np.ndarray  # (m,) int64
    den: np.ndarray  # (contexts,) int64
    types: np.ndarray  # (contexts,) int64
    n1: np.ndarray
    n2: np.ndarray
    n3: np.ndarray

    @classmethod
    def of(cls, keys: np.ndarray, num: np.ndarray, contexts: int, V: int) -> Level:
        ctx = keys // V
        den = np.bincount(ctx, weights=num, minlength=contexts).astype(I64)
        by = [np.bincount(ctx[sel], minlength=contexts) for sel in (num == 1, num == 2, num >= 3)]
        types = np.bincount(ctx, minlength=contexts)
        return cls(keys, num, den, types, *by)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Each key's count (0 where absent)."""
        if self.keys.size == 0:
            return np.zeros(keys.shape, dtype=I64)
        i = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        return np.where(self.keys[i] == keys, self.num[i], 0)

    def children(self, ctx: int, V: int) -> tuple[np.ndarray, np.ndarray]:
        """The tokens seen after context id ``ctx`` and their counts."""
        lo, hi = np.searchsorted(self.keys, [ctx * V, (ctx + 1) * V])
        return self.keys[lo:hi] % V, self.num[lo:hi]


class Tables:
    """An order-N model's n-gram tables, built from its distinct order-N n-grams.

    ``contexts[j]``: the sorted keys of the contexts of j tokens (``contexts[0]`` is the
    empty context, id 0); ``levels[k - 1]``: the n-grams of k tokens, raw counts at k = N
    and, when ``continuation``, Kneser-Ney's continuation counts below (else only level
    N is filled)."""

    def __init__(
        self, grams: np.ndarray, counts: np.ndarray | None, V: int, continuation: bool
    ) -> None:
        N = grams.shape[1]
        self.V, self.order = V, N
        if V * max(1, grams.shape[0]) >= MAX_KEY:
            raise ValueError(f"{grams.shape[0]:,} n-grams of {V:,} tokens overflow int64 keys")
        # grams may be int32 (a large split: 20 bytes an example): widened a column at a time
        self.contexts: list[np.ndarray] = [np.zeros(1, dtype=I64)]
        ids = np.zeros(grams.shape[0], dtype=I64)
        for j in range(1, N):
            col = grams[:, N - 1 - j].astype(I64)
            col *= self.n(j - 1)
            col += ids
            del ids
            keys, ids = np.unique(col, return_inverse=True)
            del col
            self.contexts.append(keys)
            ids = ids.reshape(-1)
        ids *= V
        ids += grams[:, -1]
        top, num = group_sum(ids, counts)
        del ids
        self.levels: list[Level] = [Level.of(np.zeros(0, I64), np.zeros(0, I64), 0, V)] * N
        self.levels[N - 1] = Level.of(top, num.astype(I64), self.n(N - 1), V)
        if continuation:
            for k in range(N - 1, 0, -1):
                up = self.levels[k].keys  # distinct (k+1)-grams: their k-token suffixes
                suffix = self.contexts[k][up // V] % self.n(k - 1)
                keys, cont = np.unique(suffix * V + up % V, return_counts=True)
                self.levels[k - 1] = Level.of(keys, cont.astype(I64), self.n(k - 1), V)

    def n(self, j: int) -> int:
        """How many distinct contexts of j tokens."""
        return int(self.contexts[j].size)

    def context_ids(self, X: np.ndarray) -> list[np.ndarray]:
        """Each row's context ids of 0, 1, ... tokens (the last tokens of X; up to the
        width of X or order - 1), -1 where the context was never seen: a walk down the
        trie, one binary search per length."""
        ids = [np.zeros(X.shape[0], dtype=I64)]
        for j in range(1, min(self.order - 1, X.shape[1]) + 1):
            prev = ids[-1]
            keys = X[:, X.shape[1] - j].astype(I64) * self.n(j - 1) + np.maximum(prev, 0)
            table = self.contexts[j]
            if table.size == 0:
                ids.append(np.full(X.shape[0], -1, dtype=I64))
                continue
            i = np.minimum(np.searchsorted(table, keys), table.size - 1)
            ids.append(np.where((prev >= 0) & (table[i] == keys), i, -1))
        return ids

    def decode(self, j: int, ids: np.ndarray) -> np.ndarray:
        """(n, j) int64: the tokens of the contexts of j tokens with these ids."""
        out = np.empty((ids.size, j), dtype=I64)
        ctx = ids.astype(I64)
        for i in range(j, 0, -1):
            key = self.contexts[i][ctx]
            out[:, j - i] = key // self.n(i - 1)
            ctx = key % self.n(i - 1)
        return out

    def grams(self) -> np.ndarray:
        """(m, N) int64: the order-N n-grams, token ids, in lexicographic order."""
        return self.grams_of(self.order)

    def grams_of(self, k: int) -> np.ndarray:
        """(m, k) int64: the n-grams of k tokens (``levels[k - 1]``), in sorted order."""
        keys = self.levels[k - 1].keys
        return np.concatenate([self.decode(k - 1, keys // self.V), (keys % self.V)[:, None]], 1)


def modified_discounts(counts: Iterable[int] | np.ndarray) -> tuple[float, float, float]:
    """Chen & Goodman's D1, D2, D3+ from the counts of counts n1..n4 of ``counts``:
    Y = n1/(n1 + 2 n2), D_r = r - (r + 1) Y n_{r+1}/n_r, clamped to [MIN_DISCOUNT, r]."""
    c = np.asarray(counts if isinstance(counts, np.ndarray) else list(counts), dtype=I64)
    n1, n2, n3, n4 = (int(np.count_nonzero(c == r)) for r in (1, 2, 3, 4))
    Y = n1 / (n1 + 2 * n2) if n1 + 2 * n2 else 0.0

    def d(r: int, nr: int, nnext: int) -> float:
        raw = r - (r + 1) * Y * nnext / nr if nr else float(r)
        return min(max(raw, MIN_DISCOUNT), float(r))

    return d(1, n1, n2), d(2, n2, n3), d(3, n3, n4)
