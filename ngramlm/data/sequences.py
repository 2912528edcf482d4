"""A split's lines as windows, for the families that learn every position of a window in
one step (makemore.py's Transformer, RNN, GRU and BoW; nanoGPT's training).

A window is ``block_size`` tokens of one line, and each of its positions predicts the
token after it. Every target of the split (each token of each line and the line's closing
boundary: the very targets of ``build_examples``) belongs to exactly one window, at a
position whose inputs are the line's tokens before it, never a later token or another
line:

* a line's **first window** starts at its opening boundary: ``[0, x1, .., x_{T-1}]``
  predicts ``x1, .., x_T`` (a name of up to ``T - 1`` characters is one window whose
  last target is its closing boundary; the positions past it predict nothing);
* the targets past the first ``T`` (a sentence longer than the block) are cut into
  **pieces** of ``stride`` targets (at most ``T``); a piece's window is the ``T`` tokens
  that end just before its last target, so each of its targets has at least ``T -
  stride`` tokens of the line before it.

At ``stride`` 1 each later target is the last position of a window of the ``T`` tokens
before it: the context its ``(X, Y)`` example gives it, so a model's loss over the
windows' targets is its loss over the examples (how a sequence family is evaluated).
Training takes a larger stride (``TRAIN_STRIDE``): more targets a window.

The windows are read off a ``TokenStream`` (4 bytes a token) as ``(start, lo, hi)``
triples: inputs ``tokens[start : start + T]``, targets ``tokens[start + 1 : start + T +
1]`` at positions ``lo <= j < hi``, ``-1`` elsewhere (``IGNORE``, as makemore.py marks
them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ngramlm.data.examples import MATERIALIZE_BYTES, TokenStream
from ngramlm.data.vocab import Vocab

if TYPE_CHECKING:
    import torch

IGNORE = -1  # a window position with no target


def train_stride(block_size: int) -> int:
    """Targets a training piece adds past a line's first window: half a block, so each
    has at least half a block of its line before it."""
    return max(1, block_size // 2)


def windows_in(lengths: Sequence[int], block_size: int, stride: int) -> int:
    """The windows of lines of these token counts (``Sequences.of``'s, without them)."""
    stride = min(stride, block_size)
    return sum(1 - (-max(0, n + 1 - block_size) // stride) for n in lengths)


@dataclass(frozen=True)
class Sequences:
    """A split's windows (module docstring): ``X[ix]`` and ``Y[ix]`` gather (B, T) rows."""

    stream: TokenStream  # each line after (at least) one boundary token, ended by one
    block_size: int
    start: torch.Tensor  # (N,) int64: each window's first input token in ``stream.tokens``
    lo: torch.Tensor  # (N,) int64: its first position with a target
    hi: torch.Tensor  # (N,) int64: one past its last

    @classmethod
    def of(cls, stream: TokenStream, block_size: int, stride: int) -> Sequences:
        import numpy as np
        import torch

        if stream.pad < 1 or block_size < 1 or stride < 1:
            raise ValueError(f"windows of {block_size} at stride {stride} on pad {stream.pad}")
        T, stride = block_size, min(stride, block_size)  # a piece is at most a window
        ends = stream.ends.numpy()
        counts = np.diff(ends, prepend=0)  # targets a line: its tokens and its boundary
        lines = np.arange(len(counts))
        first = ends - counts + stream.pad * (lines + 1)  # each line's first token
        # the first windows: from the opening boundary, up to T targets
        starts = [first - 1]
        los = [np.zeros_like(counts)]
        his = [np.minimum(counts, T)]
        # the pieces: targets T.. of the longer lines, ``stride`` a piece
        extra = np.maximum(counts - T, 0)
        pieces = -(-extra // stride)
        if pieces.sum():
            line = np.repeat(lines, pieces)
            k = np.arange(int(pieces.sum())) - np.repeat(np.cumsum(pieces) - pieces, pieces)
            a = T + k * stride  # the piece's first target (its position in the line)
            b = np.minimum(a + stride, counts[line])  # one past its last
            starts.append(first[line] + b - 1 - T)
            los.append(T - (b - a))
            his.append(np.full_like(a, T))
        start, lo, hi = (np.concatenate(p).astype(np.int64) for p in (starts, los, his))
        order = np.argsort(start, kind="stable")  # line by line, in the stream's order
        return cls(
            stream,
            T,
            *(torch.from_numpy(np.ascontiguousarray(v[order])) for v in (start, lo, hi)),
        )

    def __len__(self) -> int:
        return int(self.start.shape[0])

    @property
    def n_targets(self) -> int:
        """Targets in all (each once): the examples of ``build_examples``."""
        return int((self.hi - self.lo).sum())

    def rows(self, ix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows ``ix`` (any int64 indices): inputs (B, T) and targets (B, T), int64,
        ``IGNORE`` where a position predicts nothing."""
        import torch

        T, tokens = self.block_size, self.stream.tokens
        j = torch.arange(T, device=tokens.device)
        pos = self.start[ix].unsqueeze(-1) + j  # (B, T)
        last = tokens.shape[0] - 1
        X = tokens[pos.clamp(max=last)].long()  # past the stream's end: causally unseen
        Y = tokens[(pos + 1).clamp(max=last)].long()
        valid = (j >= self.lo[ix].unsqueeze(-1)) & (j < self.hi[ix].unsqueeze(-1))
        return X, Y.masked_fill(~valid, IGNORE)

    def materialize(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every window's (X, Y) as plain tensors (N, T)."""
        import torch

        return self.rows(torch.arange(len(self), device=self.start.device))

    def to(self, device: torch.device) -> Sequences:
        return Sequences(
            self.stream.to(device),
            self.block_size,
            self.start.to(device),
            self.lo.to(device),
            self.hi.to(device),
        )


class Rows:
    """X (``targets`` False) or Y of a ``Sequences``, read as ``data.Windows`` reads
    examples: a tensor of window indices gathers those rows (a minibatch), a slice
    materialises that range (an evaluation chunk)."""

    def __init__(self, seqs: Sequences, targets: bool) -> None:
        self.seqs, self.targets = seqs, targets

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.seqs), self.seqs.block_size)

    @property
    def device(self) -> torch.device:
        return self.seqs.start.device

    def __len__(self) -> int:
        return len(self.seqs)

    def __getitem__(self, key: object) -> torch.Tensor:
        import torch

        if isinstance(key, slice):
            lo, hi, step = key.indices(len(self.seqs))
            key = torch.arange(lo, hi, step, device=self.device)
        if not isinstance(key, torch.Tensor):
            raise TypeError(f"window index {key!r}: give a slice or a tensor of indices")
        return self.seqs.rows(key.to(self.device, torch.long))[int(self.targets)]

    def to(self, device: torch.device) -> Rows:
        return Rows(self.seqs.to(device), self.targets)


def sequences_of(lines: Sequence[str], vocab: Vocab, block_size: int, stride: int) -> Sequences:
    """``lines``' windows of ``block_size`` tokens, pieces of ``stride`` targets."""
    return Sequences.of(TokenStream.of(lines, vocab, 1), block_size, stride)


def windows_of(
    lines: Sequence[str], vocab: Vocab, block_size: int, stride: int
) -> tuple[torch.Tensor | Rows, torch.Tensor | Rows]:
    """``sequences_of``' windows as (X, Y) (N, T) for training and evaluation: plain
    tensors where they take at most ``MATERIALIZE_BYTES`` (the lecture's names, Brown),
    else ``Rows`` views of the token stream (as ``examples_of``)."""
    seqs = sequences_of(lines, vocab, block_size, stride)
    if len(seqs) * block_size * 8 <= MATERIALIZE_BYTES:
        return seqs.materialize()
    return Rows(seqs, False), Rows(seqs, True)
