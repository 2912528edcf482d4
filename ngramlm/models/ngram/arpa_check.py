"""An imported ARPA file checked for what a reader must trust: that it is a model.

``arpa.read`` checks the format (sections, counts, contexts, the vocabulary, log10
probabilities at most 0). A file can pass all of that and still not be a model: a
back-off weight of ``1e300`` (10^1e300 is no number), every 1-gram at log10 P = 0 (each
P = 1), a ``-inf`` probability (a loss of inf). Scored, such a file gives losses that are
false, below the entropy of the data or infinite, and a false loss recorded ranks as the
dataset's best forever. So, before anything is written:

* every log10 probability is finite (and at most 0), and every back-off weight's 10^w a
  finite number;
* the 1-grams' probabilities sum to 1, and so does the next-token distribution after
  every context a file lists (each n-gram below the top order, read as ngramlm's padded
  context, as the scorer reads it), within ``TOLERANCE``: all of them where contexts x
  vocabulary is at most ``BUDGET`` tokens scored (a character model: every one), else
  ``SAMPLE`` of them (fewer for a large vocabulary) drawn with a fixed seed, plus each
  order's ``HEAVIEST`` back-off weights.

Every refusal is one line naming the file, the n-gram or context, and the value or sum.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch

from ngramlm.errors import InputError
from ngramlm.models.ngram.arpa import BOS, ArpaTables
from ngramlm.models.ngram.backoff import BackoffModel

TOLERANCE = 1e-3  # |sum - 1| at most this: files carry 4 to 7 digits of each log10 P
BUDGET = 2**20  # tokens scored at most: every context while contexts x V is within it,
SAMPLE = 200  # else this many contexts drawn with SEED, BUDGET // V where V is larger,
MIN_SAMPLE = 20  # but at least this many (about 2 s for V = 20,000 at order 5)
HEAVIEST = 5  # and each order's largest back-off weights, where a forgery would sit
SEED = 0
MAX_LOG10 = math.log10(sys.float_info.max)  # 308.25: 10^w past it is no float
FIX = "import a model whose every distribution sums to 1 (as KenLM's lmplz and ngramlm write)"


def check(tables: ArpaTables, model: BackoffModel, where: str) -> None:
    """Refuse ``tables`` (read from the file ``where``, scored by ``model``) unless its
    numbers are probabilities and its distributions sum to 1."""
    _check_numbers(tables, where)
    V = tables.V
    uni = tables.logp[0][tables.grams[0][:, 0] < V]  # <s> is never predicted
    _check_sum(float(np.sum(10.0**uni)), "the 1-grams' probabilities", where)
    contexts = _contexts(tables)  # a context may be listed twice (as x and as <s> x)
    contexts = _sample(tables, contexts) if contexts.shape[0] * V > BUDGET else contexts
    contexts = np.unique(contexts, axis=0)
    step = max(1, BUDGET // 8 // V)  # contexts scored at once: (step, V) log-probabilities
    for a in range(0, contexts.shape[0], step):
        chunk = contexts[a : a + step]
        sums = model.logits(torch.from_numpy(chunk)).double().exp().sum(1).numpy()
        bad = np.flatnonzero(~(np.abs(sums - 1.0) <= TOLERANCE))
        if bad.size:
            text = _spell(tables, chunk[bad[0]])
            _check_sum(float(sums[bad[0]]), f"the probabilities after {text!r}", where)


def _check_numbers(tables: ArpaTables, where: str) -> None:
    for k, (g, lp, bo) in enumerate(zip(tables.grams, tables.logp, tables.bo, strict=True), 1):
        bad = np.flatnonzero(~(np.isfinite(lp) & (lp <= 0)))
        if bad.size:
            raise InputError(
                f"{where}: the {k}-gram {_words(tables, g[bad[0]])!r} has log10 probability "
                f"{lp[bad[0]]}, which is no probability (finite and at most 0); {FIX}"
            )
        bad = np.flatnonzero(~(bo <= MAX_LOG10))
        if bad.size:
            raise InputError(
                f"{where}: the {k}-gram {_words(tables, g[bad[0]])!r} has back-off weight "
                f"10^{bo[bad[0]]:g}, past the largest number (10^{MAX_LOG10:.0f}); {FIX}"
            )


def _check_sum(total: float, what: str, where: str) -> None:
    if not abs(total - 1.0) <= TOLERANCE:
        raise InputError(
            f"{where}: {what} sum to {total:.6g}, not 1 (tolerance {TOLERANCE:g}): it is not "
            f"a normalised model, and its losses would be false; {FIX}"
        )


def _contexts(tables: ArpaTables) -> np.ndarray:
    """Every n-gram below the top order as ngramlm's context (order - 1 ids)."""
    N, V = tables.order, tables.V
    return np.concatenate([_as_contexts(g, N, V) for g in tables.grams[:-1]])


def _as_contexts(g: np.ndarray, N: int, V: int) -> np.ndarray:
    """n-grams g (m, j), j < N, as ngramlm's contexts: ``<s> x`` as boundary tokens then
    x; any other x after boundary tokens (the scorer reads that as ``<s> x``, whose
    distribution is x's where ``<s> x`` is not listed). One with ``</s>`` (it ends a
    line, no reader conditions on it) or ``<s>`` past its start: skipped."""
    j = g.shape[1]
    g = g[~((g[:, 1:] == V).any(1) | (g == 0).any(1))]
    bos = g[:, 0] == V
    out = np.zeros((g.shape[0], N - 1), dtype=np.int64)
    out[~bos, N - 1 - j :] = g[~bos]
    out[bos, N - j :] = g[bos, 1:]
    return out


def _sample(tables: ArpaTables, contexts: np.ndarray) -> np.ndarray:
    """SAMPLE contexts drawn with SEED, and each order's HEAVIEST back-off weights'."""
    n = min(contexts.shape[0], max(MIN_SAMPLE, min(SAMPLE, BUDGET // tables.V)))
    picked = [contexts[np.random.default_rng(SEED).choice(contexts.shape[0], n, replace=False)]]
    for g, bo in zip(tables.grams[:-1], tables.bo[:-1], strict=True):
        top = np.argpartition(-bo, HEAVIEST)[:HEAVIEST] if bo.size > HEAVIEST else slice(None)
        picked.append(_as_contexts(g[top], tables.order, tables.V))
    return np.concatenate(picked)


def _words(tables: ArpaTables, ids: np.ndarray) -> str:
    return " ".join(tables.words[int(t)] for t in ids)


def _spell(tables: ArpaTables, context: np.ndarray) -> str:
    """An ngramlm context as the ARPA context the scorer reads: ``<s>`` for its boundary
    tokens."""
    lead = int(np.argmax(context != 0)) if (context != 0).any() else context.shape[0]
    words = [tables.words[int(t)] for t in context[lead:]]
    return " ".join([BOS, *words] if lead else words)
