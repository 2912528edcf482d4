"""What the four sequence networks share: a body that maps a window (B, T) to a hidden
state at every position (B, T, C), causally, and everything around it, written once.

* **Windows** (training): ``forward(X, Y)`` with Y (B, T) learns every position that has
  a target (``data.sequences``; ``-1`` elsewhere) in one step, the mean loss over them,
  as makemore.py does; the output layer runs only at those positions (the fused one,
  ``models.output``, for a word vocabulary or bf16). A minibatch is cut after its last
  target and an evaluation takes windows in buckets of similar length (``trimmed``):
  no position past a window's end is computed. With ``--precision bf16`` the body runs
  under bfloat16 autocast too.
* **Contexts** (what every family is asked: sampling, ``mean_nll``, finalize, a
  mixture): ``forward(X)`` with X (n, block_size), a target's context as ``data``'s
  examples give it (left-padded with boundary tokens), gives the next token's logits.
  The context is first aligned as a window would hold it: from its last boundary token
  (the line's start) at position 0, or, with no boundary in it, the block of the line's
  tokens before the target at positions 0..T-1; the logits are the body's at the
  target's position. Causal bodies never look past it, so this is exactly what the
  target's window computes: a split's loss over its windows at stride 1 (``windows``,
  the evaluation during training) equals its loss over its (X, Y) examples.

The token embeddings are ``C`` (V, n_embd), as every network names its table (what
``plot embeddings`` and ``report RUN``'s neighbours read). The weights start as makemore.py's
models get them, PyTorch's defaults, here drawn from
the run's generator: a linear map's weights and bias uniform in ±1/sqrt(fan_in),
embeddings standard normal, layer norms 1 and 0, a recurrent start state 0.
"""

from __future__ import annotations

import contextlib
import math
from abc import abstractmethod
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ngramlm.models.neural import NeuralLM
from ngramlm.models.output import chunked, linear_cross_entropy


def uniform(g: torch.Generator, bound: float, *shape: int) -> nn.Parameter:
    return nn.Parameter((torch.rand(*shape, generator=g) * 2 - 1) * bound)


def linear(
    g: torch.Generator, fan_in: int, fan_out: int, bias: bool = True
) -> tuple[nn.Parameter, nn.Parameter | None]:
    """``nn.Linear(fan_in, fan_out)``'s weight (fan_out, fan_in) and bias, drawn from ``g``
    as torch draws them (kaiming-uniform with a = sqrt(5): bound 1/sqrt(fan_in))."""
    bound = 1 / math.sqrt(fan_in)
    W = uniform(g, bound, fan_out, fan_in)
    return W, (uniform(g, bound, fan_out) if bias else None)


def embedding(g: torch.Generator, n: int, d: int) -> nn.Parameter:
    return nn.Parameter(torch.randn(n, d, generator=g))


def aligned(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Contexts (n, T), left-padded with boundary tokens (0), as windows: each row
    shifted left to start at its last boundary (none: unshifted), and the position of
    its last token, (n,). A line's tokens are never 0, so its last 0 is its start."""
    T = idx.shape[1]
    j = torch.arange(T, device=idx.device)
    k = torch.where(idx == 0, j, 0).amax(1)  # (n,) the last boundary, or 0
    src = (j + k.unsqueeze(1)).clamp(max=T - 1)  # past the end: repeats, causally unseen
    return idx.gather(1, src), T - 1 - k


EVAL_BUCKET = 512  # windows a body pass takes at evaluation


def spans(valid: torch.Tensor) -> torch.Tensor:
    """Each window's length up to its last target, (B,): 0 for a window without one."""
    pos = torch.arange(1, valid.shape[1] + 1, device=valid.device)
    return torch.where(valid, pos, 0).amax(1)


CONTEXT_CHUNK = 65_536  # contexts read at once by ``log_probs_of`` (a lazy split's chunk)


def shared_windows(x: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Of aligned contexts ``x`` (n, T) ending at ``last`` (n,), the rows whose window
    serves itself and the rows before it: row i is served by row i + 1 when that one
    extends it by one position (the same tokens up to i's end); a causal body gives the
    shorter one's logits at its end from the longer one's pass. Sorted indices."""
    n, T = x.shape
    extends = torch.zeros(n, dtype=torch.bool, device=x.device)
    if n > 1:
        past = torch.arange(T, device=x.device) > last[:-1, None]  # after i's end: free
        same = ((x[:-1] == x[1:]) | past).all(1)
        extends[:-1] = same & (last[1:] == last[:-1] + 1)
    return (~extends).nonzero().squeeze(1)


def trimmed(idx: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows and targets cut after the last position any of them has a target. The
    bodies are causal, so the positions kept compute exactly what they did in the whole
    window; a minibatch of names rarely holds one as long as the block."""
    t = int(spans(targets >= 0).max()) if targets.numel() else 0
    return idx[:, : max(t, 1)], targets[:, : max(t, 1)]


class SequenceLM(NeuralLM):
    """A sequence network: ``body`` and an output layer ``W_out`` (V, C), ``b_out``
    (``head``)."""

    W_out: nn.Parameter
    b_out: nn.Parameter | None

    def head(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The output layer's weight (V, C) and bias: ``W_out`` and ``b_out``, or a tied
        network's token embeddings ``C`` and no bias."""
        return self.W_out, self.b_out

    @abstractmethod
    def body(self, idx: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The hidden state at every position of windows ``idx`` (B, T): (B, T, C),
        position t a function of ``idx[:, :t + 1]`` only."""

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        dropout_generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Windows with targets (B, T): (None, the loss over their targets); contexts
        (n, T), targets (n,) or None: (the next token's logits (n, V), the loss)."""
        if targets is not None and targets.dim() == 2:
            return None, self.window_loss(idx, targets, dropout_generator)
        x, last = aligned(idx)
        with self.autocast(x):
            h = self.body(x, dropout_generator)  # (n, T, C)
        h = h[torch.arange(h.shape[0], device=h.device), last].float()  # (n, C)
        logits = F.linear(h, *self.head())  # (n, V)
        return logits, None if targets is None else F.cross_entropy(logits, targets)

    def window_loss(
        self, idx: torch.Tensor, targets: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Mean cross-entropy over the positions of ``idx`` that have a target."""
        idx, targets = trimmed(idx, targets)
        valid = targets >= 0
        with self.autocast(idx):
            h = self.body(idx, generator)  # (B, T, C)
        h, y = h[valid].float(), targets[valid]  # (n, C), (n,)
        W, b = self.head()
        if self.training and chunked(self.vocab_size, self.precision):
            bias = b if b is not None else h.new_zeros(self.vocab_size)
            return linear_cross_entropy([(h, W.t())], bias, y, self.precision)
        return F.cross_entropy(F.linear(h, W, b), y)

    @torch.no_grad()
    def window_logits(self, X: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``evaluation.WindowModel``: logits at the ``valid`` positions of windows X, in
        row-major order. The windows go through the body in buckets of similar length,
        each cut after its last target (``trimmed``)."""
        length = spans(valid)
        order = torch.argsort(length, stable=True)
        slot = (valid.flatten().cumsum(0) - 1).view(valid.shape)  # each target's row
        out = X.new_empty((int(valid.sum()), self.vocab_size), dtype=torch.float32)
        for a in range(0, X.shape[0], EVAL_BUCKET):
            ix = order[a : a + EVAL_BUCKET]
            t = int(length[ix[-1]])  # sorted: the bucket's longest
            if t == 0:
                continue
            v = valid[ix, :t]
            h = self.body(X[ix, :t], None)[v]  # (n, C)
            out[slot[ix, :t][v]] = F.linear(h, *self.head()).float()
        return out

    @torch.no_grad()
    def log_probs_of(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """(n,) float64 log P(Y_i | X_i), in eval mode, as ``forward(X)`` gives them but
        with one body pass a window rather than one a target: the contexts of a line's
        first window are prefixes of its last (aligned, each one longer than the one
        before), so they are read from that one's pass (``shared_windows``). Examples
        in split order (``data``'s) share; any order gives the same values."""
        was_training = self.training
        self.eval()
        try:
            n = X.shape[0]
            out = torch.empty(n, dtype=torch.float64, device=Y.device)
            for a in range(0, n, CONTEXT_CHUNK):
                b = min(n, a + CONTEXT_CHUNK)
                out[a:b] = self._shared_log_probs(X[a:b], Y[a:b])
            return out
        finally:
            self.train(was_training)

    def mean_nll(self, X: torch.Tensor, Y: torch.Tensor) -> float:
        if Y.shape[0] == 0:
            return 0.0
        return float(-self.log_probs_of(X, Y).mean().item())

    def _shared_log_probs(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        x, last = aligned(X)
        heads = shared_windows(x, last)  # the rows whose windows go through the body
        out = torch.empty(x.shape[0], dtype=torch.float64, device=x.device)
        for a in range(0, heads.shape[0], EVAL_BUCKET):
            hs = heads[a : a + EVAL_BUCKET]
            lo, hi = (0 if a == 0 else int(heads[a - 1]) + 1), int(hs[-1]) + 1
            rows = torch.arange(lo, hi, device=x.device)  # the rows these windows serve
            owner = torch.searchsorted(hs, rows)  # each row's window, within ``hs``
            t = int(last[hs].max()) + 1
            h = self.body(x[hs, :t], None)[owner, last[rows]].float()  # (m, C)
            logp = F.log_softmax(F.linear(h, *self.head()), dim=-1)
            out[lo:hi] = logp.gather(1, Y[rows].unsqueeze(1)).squeeze(1).double()
        return out

    @contextlib.contextmanager
    def autocast(self, x: torch.Tensor) -> Iterator[None]:
        """bfloat16 autocast over the body while training at ``--precision bf16``;
        evaluation is float32."""
        on = self.training and self.precision == "bf16"
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=on):
            yield
