"""The one evaluation: mean cross-entropy (nats per token) of a model over a whole split.

Train and dev losses during training, the test loss of ``ngramlm.stages.finalize`` and
``mean_nll`` of every neural model all come from ``evaluate_set``, so the three numbers
are computed the same way (tests/test_finalize.py checks the test path against the dev
path on the same tensors). ``log_probs`` gives the same per-example terms one by one
(a mixture combines them with another model's): both walk the split with ``_terms``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import torch
import torch.nn.functional as F
from torch import nn

EVAL_CHUNK = 65_536  # distinct contexts per forward pass at most
EVAL_FLOATS = 2**21  # and at most this many logits at once (8 MiB of float32), whatever V

# Told (chunks done, chunks in all) before the first chunk and after each one: progress,
# and the place to stop a long evaluation (an exception raised here ends it).
OnChunk = Callable[[int, int], None]


@dataclass(frozen=True)
class EvalSet:
    """A split prepared for exact full-split evaluation: its distinct contexts ``U``,
    each example's context index ``inverse`` and its target ``Y``.

    In eval mode the model's output depends on the context alone, and a split has far
    fewer distinct contexts than examples (the lecture's train split: 5,438 contexts of
    3 characters for 182,625 examples), so the loss over every example is computed from
    one forward pass per distinct context. Same numbers, a fraction of the work."""

    U: torch.Tensor  # (n_contexts, block_size)
    inverse: torch.Tensor  # (N,) index into U, ascending (examples are summed, not listed)
    Y: torch.Tensor  # (N,) in the same order
    vocab_size: int
    order: torch.Tensor | None = None  # (N,) each sorted example's index in the given X

    @classmethod
    def of(cls, X: torch.Tensor, Y: torch.Tensor, vocab_size: int) -> EvalSet:
        """X may be a tensor or a lazy view of a token stream (``data.Windows``): it is
        read ``EVAL_CHUNK`` rows at a time, never materialised whole."""
        n, T = X.shape[0], X.shape[1]
        if n == 0:
            empty = torch.zeros(0, dtype=torch.long, device=X.device)
            return cls(
                torch.zeros(0, T, dtype=torch.long, device=X.device), empty, Y[:], vocab_size, empty
            )
        if T * math.log2(max(2, vocab_size)) < 62:  # each context as one int64 key
            weights = vocab_size ** torch.arange(T - 1, -1, -1, device=X.device)
            # an elementwise product and a sum: int64 matmul has no CUDA kernel
            keys = _by_chunks(n, X.device, lambda x: (x * weights).sum(1), X)
            keys, inverse = torch.unique(keys, return_inverse=True)
            U = torch.stack([(keys // vocab_size**p) % vocab_size for p in range(T - 1, -1, -1)], 1)
        else:  # ranks of the contexts' suffixes, one column at a time (lexicographic)
            ids = torch.zeros(n, dtype=torch.long, device=X.device)
            for j in range(1, T + 1):
                m = int(ids.max().item()) + 1
                col = _by_chunks(n, X.device, _column(T - j), X)
                _, ids = torch.unique(col * m + ids, return_inverse=True)
            inverse = ids
            first = torch.full((int(ids.max().item()) + 1,), n, dtype=torch.long, device=X.device)
            first.scatter_reduce_(0, ids, torch.arange(n, device=X.device), "amin")
            U = X[first]
        order = torch.argsort(inverse, stable=True)
        return cls(U.contiguous(), inverse[order], Y[order], vocab_size, order)

    @property
    def contexts(self) -> int:
        """Distinct contexts: what a pass over the split computes."""
        return int(self.U.shape[0])

    def to(self, device: torch.device) -> EvalSet:
        return EvalSet(
            self.U.to(device),
            self.inverse.to(device),
            self.Y.to(device),
            self.vocab_size,
            None if self.order is None else self.order.to(device),
        )


def _by_chunks(
    n: int,
    device: torch.device,
    f: Callable[[torch.Tensor], torch.Tensor],
    X: torch.Tensor,
) -> torch.Tensor:
    """(n,) ``f`` of X's rows, ``EVAL_CHUNK`` rows at a time."""
    out = torch.empty(n, dtype=torch.long, device=device)
    for a in range(0, n, EVAL_CHUNK):
        out[a : a + EVAL_CHUNK] = f(X[a : a + EVAL_CHUNK])
    return out


def _column(c: int) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: x[:, c]


def _terms(
    logits_of: Callable[[torch.Tensor], torch.Tensor],
    es: EvalSet,
    members: int = 1,
    on_chunk: OnChunk | None = None,
) -> Iterator[tuple[int, int, torch.Tensor]]:
    """The split's log-likelihood terms, chunk by chunk: ``(lo, hi, logp)`` with ``logp``
    (..., hi - lo) float32, the log-probability of each of the sorted examples [lo, hi)
    (``members`` models stacked in front). Contexts go through in chunks whose logits
    stay within ``EVAL_FLOATS``, so memory is bounded for any vocabulary and split size.
    ``on_chunk(done, total)`` is told before the first chunk and after each one."""
    n_ctx = es.U.shape[0]
    chunk = max(1, min(EVAL_CHUNK, EVAL_FLOATS // (es.vocab_size * members)))
    total = -(-n_ctx // chunk)
    if on_chunk is not None:
        on_chunk(0, total)
    lo = 0  # examples are sorted by context: chunk [a, b) owns examples [lo, hi)
    for i, a in enumerate(range(0, n_ctx, chunk)):
        b = min(n_ctx, a + chunk)
        logp = F.log_softmax(logits_of(es.U[a:b]).float(), dim=-1)  # (..., b - a, V)
        hi = int(torch.searchsorted(es.inverse, b).item())
        yield lo, hi, logp[..., es.inverse[lo:hi] - a, es.Y[lo:hi]]
        lo = hi
        if on_chunk is not None:
            on_chunk(i + 1, total)


@torch.no_grad()
def nll_sums(
    logits_of: Callable[[torch.Tensor], torch.Tensor],
    es: EvalSet,
    members: int = 1,
    on_chunk: OnChunk | None = None,
) -> torch.Tensor:
    """Summed negative log-likelihood (float64) of every example of a prepared split.

    ``logits_of(U)`` maps contexts (n, T) to logits (..., n, V): one model, or ``members``
    models stacked in front (a batched sweep), whose sums come back as (members,)."""
    total = torch.zeros((), dtype=torch.float64, device=es.Y.device)
    for _, _, logp in _terms(logits_of, es, members, on_chunk):
        total = total - logp.double().sum(-1)
    return total


@torch.no_grad()
def log_probs(logits_of: Callable[[torch.Tensor], torch.Tensor], es: EvalSet) -> torch.Tensor:
    """(N,) float64: log P(y_i | x_i) of every example, in the order of the X and Y the
    set was made from (``EvalSet.of``); the terms ``nll_sums`` adds up."""
    assert es.order is not None, "log_probs needs a set made by EvalSet.of"
    out = torch.empty(es.Y.shape[0], dtype=torch.float64, device=es.Y.device)
    for lo, hi, logp in _terms(logits_of, es):
        out[es.order[lo:hi]] = logp.double()
    return out


# --- windows (the sequence families) ------------------------------------------------------


class WindowModel(Protocol):
    """What a family that learns whole windows offers the evaluation: the eval-mode
    logits at the positions of windows ``X`` (B, T) that have a target (``valid``, (B, T)
    bool), (n_valid, V) in row-major order."""

    def window_logits(self, X: torch.Tensor, valid: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class WindowSet:
    """A split as a sequence family is evaluated: windows ``X`` (N, T) and their targets
    ``Y`` (N, T), ``-1`` where a position has none (``data.sequences`` at stride 1: each
    target once, with the context its (X, Y) example gives it), tensors or ``Rows`` views."""

    X: torch.Tensor
    Y: torch.Tensor
    vocab_size: int

    @property
    def contexts(self) -> int:
        """Positions a pass computes (for what an evaluation costs)."""
        return int(self.X.shape[0] * self.X.shape[1])

    def to(self, device: torch.device) -> WindowSet:
        return WindowSet(self.X.to(device), self.Y.to(device), self.vocab_size)

    def spaced(self, k: int) -> WindowSet:
        """``k`` evenly spaced windows (a costly split's fixed sample)."""
        n = self.X.shape[0]
        ix = torch.arange(k, device=self.X.device) * n // k
        return WindowSet(self.X[ix], self.Y[ix], self.vocab_size)


@torch.no_grad()
def window_nll(
    model: WindowModel, ws: WindowSet, on_chunk: OnChunk | None = None
) -> tuple[float, int]:
    """Summed negative log-likelihood (float64) of every target of ``ws`` and their
    count, windows in chunks whose logits stay within ``EVAL_FLOATS``."""
    n, T = ws.X.shape[0], ws.X.shape[1]
    chunk = max(1, min(EVAL_CHUNK, EVAL_FLOATS // (ws.vocab_size * T)))
    total = -(-n // chunk)
    if on_chunk is not None:
        on_chunk(0, total)
    nll = torch.zeros((), dtype=torch.float64, device=ws.X.device)
    count = 0
    for i, a in enumerate(range(0, n, chunk)):
        X, Y = ws.X[a : a + chunk], ws.Y[a : a + chunk]
        valid = Y >= 0
        logp = F.log_softmax(model.window_logits(X, valid).float(), dim=-1)  # (n_valid, V)
        y = Y[valid]
        nll = nll - logp.gather(1, y.unsqueeze(1)).double().sum()
        count += int(y.shape[0])
        if on_chunk is not None:
            on_chunk(i + 1, total)
    return float(nll.item()), count


# Tests only (tests/test_ownership.py): a run held in a long evaluation, without burning
# CPU. With NGRAMLM_TEST_HOLD_EVAL=DIR, an evaluation touches DIR/evaluating, then waits
# while DIR/hold exists. Unset (always, outside tests), it costs one environment lookup.
HOLD_ENV = "NGRAMLM_TEST_HOLD_EVAL"


def _held_for_tests() -> None:
    where = os.environ.get(HOLD_ENV)
    if not where:
        return
    (Path(where) / "evaluating").touch()
    while (Path(where) / "hold").exists():
        time.sleep(0.05)


@torch.no_grad()
def evaluate_set(
    model: nn.Module, es: EvalSet | WindowSet, on_chunk: OnChunk | None = None
) -> float:
    """Mean cross-entropy (nats per token) over every example of a prepared split, the
    model in eval mode (batch norm's running statistics, no dropout: no random draw);
    a ``WindowSet`` over its windows' targets (a ``WindowModel``).
    ``on_chunk``: see ``OnChunk``."""
    _held_for_tests()
    was_training = model.training
    model.eval()
    try:
        if isinstance(es, WindowSet):
            nll, count = window_nll(cast(WindowModel, model), es, on_chunk)
            return nll / max(1, count)
        total = nll_sums(lambda U: model(U)[0], es, on_chunk=on_chunk)
    finally:
        model.train(was_training)
    return float(total.item()) / max(1, es.Y.shape[0])


def mean_nll(model: nn.Module, X: torch.Tensor, Y: torch.Tensor, vocab_size: int) -> float:
    """Mean cross-entropy (nats per token) of Y after X: ``evaluate_set`` on the split."""
    return evaluate_set(model, EvalSet.of(X, Y, vocab_size))


@torch.no_grad()
def example_log_probs(
    model: nn.Module, X: torch.Tensor, Y: torch.Tensor, vocab_size: int
) -> torch.Tensor:
    """(N,) float64 log P(Y_i | X_i) of each example, the model in eval mode."""
    was_training = model.training
    model.eval()
    out = log_probs(lambda U: model(U)[0], EvalSet.of(X, Y, vocab_size))
    model.train(was_training)
    return out
