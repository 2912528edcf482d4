"""N-gram counts as sorted integer arrays: sort, then count (the way KenLM estimates).

No Python object per n-gram. Every context of j tokens (the last j of a model's order-1
context window) gets an id: its rank among the distinct such contexts, in lexicographic
order. A context's key packs its oldest token with the id of the rest,

    key(t_1 .. t_j) = t_1 * n_{j-1} + id(t_2 .. t_j)        (n_{j-1}: contexts of j-1 tokens)

so sorting keys sorts contexts lexicographically, a key is below V * n_{j-1} (an int64
for any corpus that fits in memory, whatever the order), and dropping the oldest token
is ``key % n_{j-1}``: a trie in sorted arrays. An n-gram of k tokens is the key
``id(context) * V + w``; its table holds the sorted distinct keys and their counts, and
per context (indexed by the context's id) the total and how many successors were seen
once, twice, three times or more (Kneser-Ney's interpolation weight is made of them).

Continuation counts (Kneser-Ney's lower orders) come from the distinct n-grams one order
up by mapping each to its suffix and counting (``np.unique``); counts of counts by
``np.bincount``; lookups of a batch of contexts or n-grams by ``np.searchsorted``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

I64 = np.int64
MAX_KEY = 2**62  # keys stay below this: V * (distinct contexts) must


SORTED_LOOKUP = 4096  # queries past which a lookup sorts them first


def search(table: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.searchsorted(table, keys)``; a large batch is looked up in sorted order
    (neighbouring queries touch neighbouring memory: ~8x faster for a million random
    keys in a table of millions), then put back in the given order."""
    if keys.size < SORTED_LOOKUP:
        return np.searchsorted(table, keys)
    order = np.argsort(keys)
    out = np.empty(keys.shape, dtype=np.intp)
    out[order] = np.searchsorted(table, keys[order])
    return out


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


def _firsts(s: np.ndarray) -> np.ndarray:
    """Where each run of equal values of the sorted ``s`` starts."""
    first = np.empty(s.size, dtype=bool)
    first[:1] = True
    np.not_equal(s[1:], s[:-1], out=first[1:])
    return first


def _sorted_counts(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(a, return_counts=True)``, sorting ``a`` in place (no copy of it)."""
    a.sort()
    starts = np.flatnonzero(_firsts(a))
    return a[starts], np.diff(np.append(starts, a.size))


def narrow(a: np.ndarray) -> np.ndarray:
    """Counts as int32 where they fit (they do below 2**31 tokens): half the memory."""
    return a.astype(np.int32) if a.size == 0 or int(a.max()) < 2**31 else a.astype(I64)


@dataclass(frozen=True)
class Level:
    """The n-grams of k tokens: sorted keys ``ctx * V + w`` and their (continuation)
    counts; per context id, the total count ``den`` and the successors seen once, twice,
    three or more times (``n1``, ``n2``, ``n3``)."""

    keys: np.ndarray  # (m,) int64, sorted
    num: np.ndarray  # (m,) int64
    den: np.ndarray  # (contexts,) int64
    n1: np.ndarray
    n2: np.ndarray
    n3: np.ndarray

    @classmethod
    def of(cls, keys: np.ndarray, num: np.ndarray, contexts: int, V: int) -> Level:
        ctx = keys // V
        den = narrow(np.bincount(ctx, weights=num, minlength=contexts))
        by = [
            narrow(np.bincount(ctx[sel], minlength=contexts))
            for sel in (num == 1, num == 2, num >= 3)
        ]
        return cls(keys, narrow(num), den, *by)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Each key's count (0 where absent)."""
        if self.keys.size == 0:
            return np.zeros(keys.shape, dtype=I64)
        i = np.minimum(search(self.keys, keys), self.keys.size - 1)
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
        # (np.unique's result, in three arrays the size of the split at most, not five)
        for j in range(1, N):
            col = grams[:, N - 1 - j].astype(I64)
            col *= self.n(j - 1)
            col += ids
            del ids
            perm = np.argsort(col)
            ranks = col[perm]
            del col
            first = _firsts(ranks)
            self.contexts.append(ranks[first])
            np.cumsum(first, out=ranks)  # each sorted key's rank, 1-based
            ranks -= 1
            del first
            ids = np.empty_like(ranks)
            ids[perm] = ranks
            del perm, ranks
        ids *= V
        ids += grams[:, -1]
        if counts is None:
            top, num = _sorted_counts(ids)
        else:
            top, num = group_sum(ids, counts)
        del ids
        self.levels: list[Level] = [Level.of(np.zeros(0, I64), np.zeros(0, I64), 0, V)] * N
        self.levels[N - 1] = Level.of(top, num, self.n(N - 1), V)
        if continuation:
            for k in range(N - 1, 0, -1):
                up = self.levels[k].keys  # distinct (k+1)-grams: their k-token suffixes
                suffix = up // V
                suffix = self.contexts[k][suffix]
                suffix %= self.n(k - 1)
                suffix *= V
                suffix += up % V
                keys, cont = _sorted_counts(suffix)
                del suffix
                self.levels[k - 1] = Level.of(keys, cont, self.n(k - 1), V)

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
            i = np.minimum(search(table, keys), table.size - 1)
            ids.append(np.where((prev >= 0) & (table[i] == keys), i, -1))
        return ids

    def decode(self, j: int, ids: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(n, j) int64 (or ``out``'s type): the tokens of the contexts of j tokens with
        these ids."""
        out = np.empty((ids.size, j), dtype=I64) if out is None else out
        ctx = ids.astype(I64)
        for i in range(j, 0, -1):
            key = self.contexts[i][ctx]
            out[:, j - i] = key // self.n(i - 1)
            ctx = key % self.n(i - 1)
        return out

    def grams(self, dtype: type = I64) -> np.ndarray:
        """(m, N): the order-N n-grams, token ids, in lexicographic order."""
        return self.grams_of(self.order, dtype)

    def grams_of(self, k: int, dtype: type = I64) -> np.ndarray:
        """(m, k): the n-grams of k tokens (``levels[k - 1]``), in sorted order."""
        keys = self.levels[k - 1].keys
        out: np.ndarray = np.empty((keys.size, k), dtype=dtype)
        self.decode(k - 1, keys // self.V, out[:, : k - 1])
        out[:, k - 1] = keys % self.V
        return out
