"""(X, Y) examples as windows over one int32 token stream a split."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where examples are built: commands that only
    import numpy as np  # read the store (report, prepare, db) start without it
    import torch

from ngramlm.data.vocab import Vocab

# --- examples ---------------------------------------------------------------------------

LINES_AT_ONCE = 65_536  # lines mapped to ids per numpy pass: bounded transient memory


def _line_ids(lines: Sequence[str], vocab: Vocab) -> tuple[np.ndarray, np.ndarray]:
    """The token ids of ``lines``, concatenated (int32), and each line's token count.

    One dictionary lookup per token at C speed (``map(dict.get, ...)``), no Python object
    per token kept; an unknown token is refused exactly as ``Vocab.encode`` refuses it."""
    import numpy as np

    stoi = vocab.stoi
    if vocab.unit == "word":
        split = [line.split() for line in lines]
        lens = np.fromiter(map(len, split), dtype=np.int64, count=len(split))
        flat: Iterable[str] = itertools.chain.from_iterable(split)
    else:
        lens = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
        flat = itertools.chain.from_iterable(lines)
    unk = vocab.unk
    missing = -1 if unk is None else unk
    ids = np.fromiter(
        map(stoi.get, flat, itertools.repeat(missing)), dtype=np.int32, count=int(lens.sum())
    )
    if unk is None and ids.size and ids.min() < 0:  # a character outside the vocabulary
        bad = int(np.searchsorted(np.cumsum(lens), int(np.argmax(ids < 0)), side="right"))
        vocab.encode(lines[bad])  # raises the one-line InputError naming it
    return ids, lens


@dataclass(frozen=True)
class TokenStream:
    """A split's tokens as one int32 array: each line preceded by ``pad`` boundary tokens
    (id 0) and ended by one, so every example is a window of it.

    Example i (the lines' tokens and final boundaries, in order: ``build_examples``'
    order) is the token at ``i + pad * (line + 1)``, ``line`` the line it belongs to, and
    its context the ``block_size <= pad`` tokens before it. The stream costs 4 bytes a
    token (plus ``pad + 1`` a line) and ``ends`` 8 bytes a line, whatever the block size;
    ``examples`` reads (X, Y) off it as ``Windows`` without copying it."""

    tokens: torch.Tensor  # (L,) int32
    ends: torch.Tensor  # (lines,) int64: examples in lines 0..i (cumulative)
    pad: int

    @classmethod
    def of(cls, lines: Sequence[str], vocab: Vocab, pad: int) -> TokenStream:
        import numpy as np
        import torch

        parts: list[np.ndarray] = []
        ends: list[np.ndarray] = []
        done = 0
        for a in range(0, len(lines), LINES_AT_ONCE):
            ids, lens = _line_ids(lines[a : a + LINES_AT_ONCE], vocab)
            per_line = pad + lens + 1  # stream tokens of each line
            out = np.zeros(int(per_line.sum()), dtype=np.int32)
            first = np.cumsum(per_line) - per_line + pad  # each line's first token
            starts = np.cumsum(lens) - lens
            dest = np.repeat(first - starts, lens) + np.arange(ids.size)
            out[dest] = ids
            parts.append(out)
            ends.append(done + np.cumsum(lens + 1))
            done += int(lens.sum()) + len(lens)
        tokens = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
        end = np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64)
        return cls(torch.from_numpy(tokens), torch.from_numpy(end.astype(np.int64)), pad)

    @property
    def n_examples(self) -> int:
        return int(self.ends[-1]) if self.ends.numel() else 0

    def positions(self, ix: torch.Tensor) -> torch.Tensor:
        """Each example's target position in ``tokens`` (any shape of int64 indices)."""
        import torch

        line = torch.searchsorted(self.ends, ix, right=True)
        return ix + self.pad * (line + 1)

    def examples(self, block_size: int) -> tuple[Windows, Windows]:
        """(X, Y): contexts (n, block_size) and targets (n,), as views of the stream."""
        if not 0 < block_size <= self.pad:
            raise ValueError(f"block size {block_size} on a stream padded for {self.pad}")
        return Windows(self, block_size), Windows(self, 0)

    def to(self, device: torch.device) -> TokenStream:
        return TokenStream(self.tokens.to(device), self.ends.to(device), self.pad)


class Windows:
    """X (``width`` > 0: each example's context) or Y (``width`` 0: its target) of a
    ``TokenStream``, read without materialising the split: indexing with a tensor of
    example indices gathers those rows (a minibatch), a slice materialises that range
    (an evaluation chunk), ``X[:, -k:]`` is the narrower view. Rows come back int64,
    exactly as ``build_examples`` would have made them."""

    def __init__(self, stream: TokenStream, width: int) -> None:
        self.stream, self.width = stream, width
        self.n = stream.n_examples

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n, self.width) if self.width else (self.n,)

    @property
    def device(self) -> torch.device:
        return self.stream.tokens.device

    @property
    def dtype(self) -> torch.dtype:
        import torch

        return torch.long

    def __len__(self) -> int:
        return self.n

    def rows(self, ix: torch.Tensor) -> torch.Tensor:
        import torch

        pos = self.stream.positions(ix)
        tokens = self.stream.tokens
        if pos.numel() == 0:
            return torch.zeros(
                (*pos.shape, self.width) if self.width else pos.shape, dtype=torch.long
            )
        if not self.width:
            return tokens[pos].long()
        return tokens.unfold(0, self.width, 1)[pos - self.width].long()

    def __getitem__(self, key: object) -> torch.Tensor | Windows:
        import torch

        if isinstance(key, tuple):  # X[:, a:]: the last columns of every row
            rows, cols = key
            if rows == slice(None) and isinstance(cols, slice) and self.width:
                lo, hi, step = cols.indices(self.width)
                if hi == self.width and step == 1 and lo < hi:
                    return Windows(self.stream, self.width - lo)
            return self[rows][cols]
        if isinstance(key, slice):
            lo, hi, step = key.indices(self.n)
            key = torch.arange(lo, hi, step, device=self.device)
        if isinstance(key, torch.Tensor):
            return self.rows(key.to(self.device, torch.long))
        raise TypeError(f"Windows index {key!r}: give a slice or a tensor of indices")

    def to(self, device: torch.device) -> Windows:
        return Windows(self.stream.to(device), self.width)

    def cpu(self) -> Windows:
        import torch

        return self.to(torch.device("cpu"))

    def materialize(self) -> torch.Tensor:
        import torch

        out = self[:]
        assert isinstance(out, torch.Tensor)
        return out.contiguous()


def token_examples(words: Sequence[str], vocab: Vocab, block_size: int) -> tuple[Windows, Windows]:
    """``build_examples``' (X, Y) as views of one int32 stream: O(tokens) memory."""
    return TokenStream.of(words, vocab, block_size).examples(block_size)


MATERIALIZE_BYTES = 128 * 1024**2  # a split's X (and Y) up to this size: plain tensors


def examples_of(
    words: Sequence[str], vocab: Vocab, block_size: int
) -> tuple[torch.Tensor | Windows, torch.Tensor | Windows]:
    """A split's (X, Y) for training and evaluation: views of its int32 token stream
    (``token_examples``), or, when X would take at most ``MATERIALIZE_BYTES`` as int64
    rows (the lecture's names, Brown), those rows materialised (a minibatch is then one
    ``index_select``). The same rows either way."""
    X, Y = token_examples(words, vocab, block_size)
    if X.n * (block_size + 1) * 8 <= MATERIALIZE_BYTES:
        return X.materialize(), Y.materialize()
    return X, Y


def build_examples(
    words: Sequence[str], vocab: Vocab, block_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The lecture's (X, Y): each token of each line, and the final boundary, predicted
    from the ``block_size`` tokens before it; the context starts as all boundary tokens.

    Returns X (N, block_size) and Y (N,), both int64, materialised (small splits, tests);
    ``token_examples`` gives the same rows as views of an int32 stream."""
    X, Y = token_examples(words, vocab, block_size)
    return X.materialize(), Y.materialize()
