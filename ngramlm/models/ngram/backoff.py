"""Back-off tables: a count model written as ARPA tables, and a model scored from them.

**Export.** An interpolated model is a back-off model in disguise (Chen & Goodman 1998,
section 2.8): for an n-gram seen at order k, its ARPA probability is the interpolated
P_k(w | h); for any other w, P_k(w | h) = gamma(h) P_{k-1}(w | h'), so the context's
back-off weight is its interpolation weight gamma(h) (1 for a context never seen).

The boundary needs care. ngramlm pads a line's start with order-1 boundary tokens and
predicts the final boundary; KenLM (and every ARPA reader) conditions the first word on
one ``<s>`` and predicts ``</s>``. A context of ngramlm's always has its boundary tokens
in front (``0^a x``: a boundary tokens, then the line's first tokens x), which is ARPA's
``<s> x``. So the order-N n-grams ``0^a x w`` are written as ``<s> x w`` with ngramlm's
P_N(w | 0^a x), and ``<s> x``'s back-off weight is the product of the interpolation
weights of the padded contexts ``0^b x``, b = 1..a (each sees exactly the words that
follow x at a line's start, so for any other w the padded orders only scale the
probability of the order |x|+1). The lower orders' padded n-grams serve only inside that
chain and are not written. The bigram (add-k) is exact as back-off too: a uniform unigram
and back-off weight kV / (c(h) + kV).

**Import.** ``BackoffModel`` scores P(w | h) = P(longest listed h_i..w) times the back-off
weights of the longer listed contexts, for a whole batch of examples at once (sorted keys
and binary search, as ``counting``), ngramlm's padded contexts read as ``<s> x``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ngramlm.models.base import WithVocab
from ngramlm.models.ngram.arpa import BOS_LOGP, ArpaTables
from ngramlm.models.ngram.kneser_ney import CHUNK, CountModel

I64 = np.int64


# --- a count model's tables ------------------------------------------------------------


def _gamma(model: CountModel, k: int, ctx: np.ndarray) -> np.ndarray:
    """Order k's interpolation weight of each context id (seen contexts only)."""
    lev = model.levels[k - 1]
    d = np.maximum(lev.den[ctx], 1).astype(np.float64)
    return model.discounts[k - 1].gamma(lev.n1[ctx], lev.n2[ctx], lev.n3[ctx], d)


def _level_probs(model: CountModel) -> list[np.ndarray]:
    """P_k(w | h) of every n-gram of every order's table (aligned with its keys), and at
    index 0 the unigram distribution over all V tokens; the operations of
    ``CountModel.probs_from_stats``, so the same floats."""
    V, t = model.V, model.tables
    out: list[np.ndarray] = []
    for k in range(1, model.order + 1):
        lev = model.levels[k - 1]
        if k == 1:
            num = np.zeros(V, dtype=I64)
            num[lev.keys % V] = lev.num
            ctx, prev = np.zeros(V, dtype=I64), np.full(V, 1.0 / V)
        else:
            num, ctx = lev.num, lev.keys // V
            suffix = t.contexts[k - 1][ctx] % t.n(k - 2) * V + lev.keys % V
            below = model.levels[k - 2].keys
            prev = out[-1][np.searchsorted(below, suffix)] if k > 2 else out[0][lev.keys % V]
        d = np.maximum(lev.den[ctx], 1).astype(np.float64)
        n = (lev.n1[ctx], lev.n2[ctx], lev.n3[ctx])
        out.append(model.discounts[k - 1].interpolate(num, d, *n, prev))
    return out


def _padded_backoff(model: CountModel, x: np.ndarray) -> np.ndarray:
    """log10 back-off weight of ``<s> x`` for rows x (n, j): the product of the
    interpolation weights of ngramlm's padded contexts 0^b x, b = 1..order-1-j."""
    N, n, j = model.order, x.shape[0], x.shape[1]
    padded = np.concatenate([np.zeros((n, N - 1 - j), dtype=I64), x], 1)
    ids = model.tables.context_ids(padded)
    bo = np.zeros(n)
    for m in range(j + 1, N):  # contexts of m tokens that begin with the boundary
        seen = ids[m] >= 0
        g = _gamma(model, m + 1, np.maximum(ids[m], 0))
        bo += np.where(seen, np.log10(np.where(seen, g, 1.0)), 0.0)
    return bo


def arpa_tables(model: CountModel, words: tuple[str, ...]) -> ArpaTables:
    """The model as ARPA tables (``words``: ``arpa.arpa_words`` of its vocabulary)."""
    V, N, t = model.V, model.order, model.tables
    BOS = V
    grams: list[list[np.ndarray]] = [[] for _ in range(N)]
    logp: list[list[np.ndarray]] = [[] for _ in range(N)]
    if not model.kneser_ney:  # add-k: uniform unigrams, back-off kV / (c(h) + kV)
        k, lev = model.smoothing, model.levels[-1]
        grams[0] += [np.arange(V)[:, None]]
        logp[0] += [np.full(V, math.log10(1.0 / V))]
        ctx, w = lev.keys // V, lev.keys % V
        p = (lev.num + k) / (lev.den[ctx] + k * V)
        grams[1] += [np.stack([np.where(ctx == 0, BOS, ctx), w], 1)]
        logp[1] += [np.log10(p)]
        probs: list[np.ndarray] = []
    else:
        probs = _level_probs(model)
        grams[0] += [np.arange(V)[:, None]]
        logp[0] += [np.log10(probs[0])]
        for k in range(2, N + 1):
            g = t.grams_of(k)
            plain = g[:, 0] != 0  # a context without the boundary: an ordinary n-gram
            grams[k - 1].append(g[plain])
            logp[k - 1].append(np.log10(probs[k - 1][plain]))
        top = t.grams_of(N)
        lp_top = np.log10(probs[N - 1])
        lead = np.argmax(top[:, :-1] != 0, axis=1)  # leading boundary tokens (a >= 1)
        lead = np.where((top[:, :-1] == 0).all(1), N - 1, lead)
        for a in range(1, N):
            sel = (top[:, 0] == 0) & (lead == a)
            rows = np.concatenate([np.full((int(sel.sum()), 1), BOS), top[sel, a:]], 1)
            grams[N - a].append(rows)  # <s> x w: order N - a + 1
            logp[N - a].append(lp_top[sel])
    grams[0].append(np.array([[BOS]]))
    logp[0].append(np.array([BOS_LOGP]))
    G = [np.concatenate(g).astype(I64) for g in grams]
    LP = [np.concatenate(x) for x in logp]
    BO = [np.zeros(g.shape[0]) for g in G]
    for j in range(1, N):  # back-off weights of the contexts of j tokens
        g = G[j - 1]
        bos = g[:, 0] == BOS
        if model.kneser_ney:
            BO[j - 1][bos] = _padded_backoff(model, g[bos, 1:])
            ids = t.context_ids(g[~bos])[j] if (~bos).any() else np.zeros(0, I64)
            seen = ids >= 0
            gam = _gamma(model, j + 1, np.maximum(ids, 0))
            BO[j - 1][~bos] = np.where(seen, np.log10(np.where(seen, gam, 1.0)), 0.0)
        else:  # the bigram: j = 1
            lev, k = model.levels[-1], model.smoothing
            h = np.where(bos, 0, g[:, 0])
            ids = t.context_ids(h[:, None])[1]
            den = np.where(ids >= 0, lev.den[np.maximum(ids, 0)], 0)
            BO[0] = np.where(den > 0, np.log10(k * V / (den + k * V)), 0.0)
    order = [np.lexsort(g.T[::-1]) for g in G]
    return ArpaTables(
        words,
        tuple(g[o] for g, o in zip(G, order, strict=True)),
        tuple(x[o] for x, o in zip(LP, order, strict=True)),
        tuple(x[o] for x, o in zip(BO, order, strict=True)),
    )


# --- a model scored from the tables ----------------------------------------------------


class BackoffModel(WithVocab):
    """A back-off model from ARPA tables (``ngramlm import``), scored like KenLM."""

    def __init__(self, tables: ArpaTables) -> None:
        self.arpa = tables
        self.order, self.V = tables.order, tables.V
        self.B = tables.V + 1  # token ids and <s>
        # a trie in sorted arrays: an n-gram's key is its prefix's rank * B + last token
        self.keys: list[np.ndarray] = []
        self.logp: list[np.ndarray] = []
        self.bo: list[np.ndarray] = []
        for k, g in enumerate(tables.grams, 1):
            prefix = self._find(g[:, :-1]) if k > 1 else np.zeros(g.shape[0], dtype=I64)
            key = prefix * self.B + g[:, -1]
            o = np.argsort(key, kind="stable")
            self.keys.append(key[o])
            self.logp.append(tables.logp[k - 1][o])
            self.bo.append(tables.bo[k - 1][o])

    @property
    def block_size(self) -> int:
        return self.order - 1

    def arpa_tables(self, words: tuple[str, ...]) -> ArpaTables:
        return self.arpa

    def _find(self, g: np.ndarray) -> np.ndarray:
        """Each row's index in its order's sorted keys (-1: not listed; -1 tokens never
        are)."""
        ids = np.zeros(g.shape[0], dtype=I64)
        for j in range(g.shape[1]):
            keys = self.keys[j]
            key = np.maximum(ids, 0) * self.B + np.maximum(g[:, j], 0)
            i = np.minimum(np.searchsorted(keys, key), max(keys.size - 1, 0))
            hit = (ids >= 0) & (g[:, j] >= 0) & (keys.size > 0) & (keys[i] == key)
            ids = np.where(hit, i, -1)
        return ids

    def _arpa_contexts(self, X: np.ndarray) -> np.ndarray:
        """ngramlm's padded contexts 0^a x as ARPA's ``<s> x``: right-aligned, <s> (V)
        in place of the boundary tokens, -1 before it."""
        x = X[:, X.shape[1] - (self.order - 1) :].astype(I64)
        col = np.arange(x.shape[1])
        a = np.where((x == 0).all(1), x.shape[1], np.argmax(x != 0, axis=1))[:, None]
        return np.where(col < a - 1, -1, np.where(col == a - 1, self.V, x))

    def _log10(self, C: np.ndarray, y: np.ndarray) -> np.ndarray:
        """log10 P(y | C) for ARPA contexts C (n, order - 1)."""
        N, n = self.order, y.shape[0]
        out = np.full(n, np.nan)
        done = np.zeros(n, dtype=bool)
        acc = np.zeros(n)
        for m in range(N - 1, -1, -1):  # the longest listed n-gram first
            g = np.concatenate([C[:, N - 1 - m :], y[:, None]], 1)
            gi = self._find(g)
            hit = (gi >= 0) & ~done
            out = np.where(hit, self.logp[m][np.maximum(gi, 0)] + acc, out)
            done |= hit
            if m:
                ci = self._find(C[:, N - 1 - m :])
                acc = acc + np.where(ci >= 0, self.bo[m - 1][np.maximum(ci, 0)], 0.0)
        return np.where(done, out, BOS_LOGP)

    def log_probs_of(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """(n,) float64 natural log P(Y_i | X_i)."""
        parts = []
        for a in range(0, Y.shape[0], CHUNK):
            C = self._arpa_contexts(X[a : a + CHUNK].cpu().numpy())
            lp = self._log10(C, Y[a : a + CHUNK].cpu().numpy().astype(I64))
            parts.append(torch.from_numpy(lp * math.log(10)))
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)

    def mean_nll(self, X: torch.Tensor, Y: torch.Tensor) -> float:
        n = Y.shape[0]
        return float(-self.log_probs_of(X, Y).sum()) / n if n else 0.0

    def logits(self, contexts: torch.Tensor) -> torch.Tensor:
        """(n, V) log-probabilities of every token after each context (for sampling)."""
        unique, inverse = torch.unique(contexts, dim=0, return_inverse=True)
        C = self._arpa_contexts(unique.cpu().numpy())
        rows = []
        step = max(1, CHUNK // self.V)
        for a in range(0, C.shape[0], step):
            c = np.repeat(C[a : a + step], self.V, axis=0)
            y = np.tile(np.arange(self.V, dtype=I64), C[a : a + step].shape[0])
            rows.append(self._log10(c, y).reshape(-1, self.V))
        out = np.concatenate(rows) if rows else np.zeros((0, self.V))
        return torch.from_numpy(out * math.log(10)).float()[inverse]
