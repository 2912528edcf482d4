"""The locked split: makemore's seeded shuffle, or file order by token counts."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ngramlm.errors import InputError

if TYPE_CHECKING:  # torch is imported where examples are built: commands that only
    pass

from ngramlm.data.text import ORDERED, SHUFFLED

# --- the split -------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    train: list[str]
    dev: list[str]
    test: list[str]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "dev": len(self.dev), "test": len(self.test)}


def split_words(words: Sequence[str], seed: int) -> Split:
    """The lecture's split: shuffle with ``random.Random(seed)``, then 80/10/10 by word."""
    shuffled = list(words)
    random.Random(seed).shuffle(shuffled)
    n = len(shuffled)
    n1, n2 = int(0.8 * n), int(0.9 * n)
    split = Split(shuffled[:n1], shuffled[n1:n2], shuffled[n2:])
    if not (split.train and split.dev and split.test):
        raise InputError(
            f"{n} line(s) are too few for non-empty train/dev/test splits (80/10/10); "
            "give at least 10 lines"
        )
    return split


@dataclass(frozen=True)
class SplitSpec:
    """``--split``: ``shuffled`` (the lecture's 80/10/10 by line) or ``ordered:TRAIN,DEV``
    (file order: TRAIN tokens of train, DEV of dev, the rest test)."""

    kind: str = SHUFFLED
    train_tokens: int = 0
    dev_tokens: int = 0

    def __str__(self) -> str:
        if self.kind == ORDERED:
            return f"{ORDERED}:{self.train_tokens},{self.dev_tokens}"
        return SHUFFLED

    @classmethod
    def parse(cls, text: str) -> SplitSpec:
        t = text.strip()
        if t == SHUFFLED:
            return cls()
        m = re.fullmatch(r"ordered:\s*(\d[\d_]*)\s*,\s*(\d[\d_]*)", t)
        if m is None:
            raise InputError(
                f"--split must be 'shuffled' or 'ordered:TRAIN,DEV' (token counts, e.g. "
                f"ordered:800000,200000), got {text!r}"
            )
        train, dev = int(m.group(1)), int(m.group(2))
        if train < 1 or dev < 1:
            raise InputError(
                f"--split {text}: train and dev need at least one token each; "
                "e.g. ordered:800000,200000"
            )
        return cls(ORDERED, train, dev)

    def apply(self, lines: Sequence[str], seed: int, unit: str) -> Split:
        if self.kind == SHUFFLED:
            return split_words(lines, seed)
        return split_ordered(lines, self.train_tokens, self.dev_tokens, unit)


def split_ordered(lines: Sequence[str], train_tokens: int, dev_tokens: int, unit: str) -> Split:
    """File order kept: a line goes to train while the tokens of the lines before it
    number fewer than ``train_tokens``, then to dev while they number fewer than
    ``train_tokens + dev_tokens``, then to test. So a line straddling a boundary belongs
    to the split it starts in, and train holds at least ``train_tokens`` tokens."""
    n_tokens = [len(line.split()) if unit == "word" else len(line) for line in lines]
    total = sum(n_tokens)
    if train_tokens + dev_tokens >= total:
        raise InputError(
            f"--split ordered:{train_tokens},{dev_tokens} asks for {train_tokens + dev_tokens:,} "
            f"train and dev tokens of {total:,}, leaving none for test; give smaller counts"
        )
    a = b = len(lines)  # the first dev line, the first test line
    before = 0  # tokens of the lines before line i
    for i, n in enumerate(n_tokens):
        if a == len(lines) and before >= train_tokens:
            a = i
        if before >= train_tokens + dev_tokens:
            b = i
            break
        before += n
    split = Split(list(lines[:a]), list(lines[a:b]), list(lines[b:]))
    empty = [k for k, v in split.sizes().items() if v == 0]
    if empty:
        raise InputError(
            f"--split ordered:{train_tokens},{dev_tokens} leaves the {' and '.join(empty)} "
            f"split empty ({total:,} tokens in {len(lines):,} lines); give other counts"
        )
    return split
