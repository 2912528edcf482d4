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

PACK_BYTES = 2**20  # pieces shorter than this are packed into parts (copied); longer: views


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
        """The bytes as consecutive parts of at most ``part_bytes``, without copying a
        large piece: a piece of ``PACK_BYTES`` or more (a tensor's memory) is cut into
        views of it; smaller ones (the header, small tensors) are packed together into
        parts of their own (a copy of at most ``part_bytes``)."""
        for part in self._plan(part_bytes):
            yield part[0] if len(part) == 1 else b"".join(part)

    def part_count(self, part_bytes: int) -> int:
        return len(self._plan(part_bytes))

    def _plan(self, part_bytes: int) -> list[list[memoryview]]:
        """Each part as the views it is made of (no bytes are copied here)."""
        if part_bytes < 1:
            raise ValueError(f"part_bytes must be >= 1, got {part_bytes}")
        plan: list[list[memoryview]] = []
        packed: list[memoryview] = []  # small pieces, packed into the part being filled
        filled = 0
        for piece in self.pieces:
            n = piece.nbytes
            if n == 0:
                continue
            if n < min(PACK_BYTES, part_bytes) and filled + n <= part_bytes:
                packed.append(piece)
                filled += n
                continue
            if packed:
                plan.append(packed)
                packed, filled = [], 0
            if n < min(PACK_BYTES, part_bytes):
                packed, filled = [piece], n
                continue
            plan.extend([piece[at : at + part_bytes]] for at in range(0, n, part_bytes))
        if packed:
            plan.append(packed)
        return plan

    def join(self) -> bytes:
        """All the bytes in one value (small blobs, tests)."""
        return b"".join(self.pieces)
