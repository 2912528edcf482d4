"""Bytes held as the pieces they are made of, never joined into one copy.

A checkpoint is a header followed by the memory of its tensors, gigabytes for a large
count model. ``Blob`` keeps the pieces as they are (views of that memory, no copy), knows
its size and sha256 (hashed piece by piece), and hands them out as consecutive parts of
at most a given length: the store keeps a checkpoint as rows of parts, a rescue file
writes them one after the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

Buffer = bytes | bytearray | memoryview


@dataclass(frozen=True)
class Blob:
    """``pieces`` (flat byte views, in order), ``size`` (their total length) and
    ``sha256`` (of their concatenation)."""

    pieces: tuple[memoryview, ...]
    size: int
    sha256: str

    @classmethod
    def of(cls, pieces: Iterable[Buffer]) -> Blob:
        """The pieces as they are: views of their memory, which they keep alive."""
        views = tuple(memoryview(p).cast("B") for p in pieces)
        digest = hashlib.sha256()
        for v in views:
            digest.update(v)  # piece by piece: no joined copy
        return cls(views, sum(v.nbytes for v in views), digest.hexdigest())

    def parts(self, part_bytes: int) -> Iterator[Buffer]:
        """The bytes as consecutive parts of ``part_bytes`` (the last one shorter): part
        ``k`` is bytes ``[k * part_bytes, (k + 1) * part_bytes)``, whatever the pieces. A
        part inside one piece is a view of it; one that spans pieces is copied together,
        so at most one part's bytes are copied at a time."""
        if part_bytes < 1:
            raise ValueError(f"part_bytes must be >= 1, got {part_bytes}")
        pending: list[memoryview] = []  # the current part's slices, when it spans pieces
        filled = 0
        for piece in self.pieces:
            at = 0
            while at < piece.nbytes:
                take = min(part_bytes - filled, piece.nbytes - at)
                chunk = piece[at : at + take]
                at += take
                if not pending and take == part_bytes:
                    yield chunk  # a whole part inside one piece
                    continue
                pending.append(chunk)
                filled += take
                if filled == part_bytes:
                    yield b"".join(pending)
                    pending, filled = [], 0
        if pending:
            yield b"".join(pending)

    def part_count(self, part_bytes: int) -> int:
        return -(-self.size // part_bytes)

    def join(self) -> bytes:
        """All the bytes in one value (small blobs, tests)."""
        return b"".join(self.pieces)
