"""The token vocabulary: characters, or words with ``<unk>``; a line to ids and back.

One value for what a dataset's tokens are (their text and their unit): the dataset's
record carries it (``store.records.DatasetRecord.vocab``), so this module imports no
torch and nothing of the store."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from ngramlm.data.text import BOUNDARY, UNK, WORD_BOUNDARY
from ngramlm.errors import InputError

# --- vocabulary ------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocab:
    """Tokens at indices 1..V-1; index 0 is the boundary (of a word, or of a sentence).

    Characters (unit ``char``) are sorted, and a ``.`` inside a word is an ordinary
    character with its own index: the boundary is a token, not a character, and is only
    *shown* as ``.``. Words (unit ``word``) are in descending train count (ties by
    text), ``<unk>`` among them as an ordinary token; the boundary is shown as ``</s>``.
    A literal ``<unk>`` in a corpus *is* that token (the Penn Treebank's convention: rare
    words already replaced); a literal ``</s>`` is refused when the corpus is read.
    """

    tokens: tuple[str, ...]
    unit: str  # char | word: what a token is

    @classmethod
    def from_words(cls, words: Sequence[str]) -> Vocab:
        return cls(tuple(sorted(set("".join(words)))), "char")

    @classmethod
    def from_counts(cls, counts: Counter[str], min_count: int = 1) -> Vocab:
        """A word vocabulary: the train tokens seen at least ``min_count`` times, and
        ``<unk>`` (always: dev and test may hold words that train does not)."""
        kept: Counter[str] = Counter()
        for tok, c in counts.items():
            kept[tok if c >= min_count else UNK] += c
        kept.setdefault(UNK, 0)
        return cls(tuple(sorted(kept, key=lambda t: (-kept[t], t))), "word")

    @property
    def chars(self) -> tuple[str, ...]:
        """The tokens (the name from when every token was a character)."""
        return self.tokens

    @property
    def size(self) -> int:
        return len(self.tokens) + 1

    @property
    def boundary(self) -> str:
        return WORD_BOUNDARY if self.unit == "word" else BOUNDARY

    @cached_property
    def stoi(self) -> dict[str, int]:
        return {c: i + 1 for i, c in enumerate(self.tokens)}

    @property
    def itos(self) -> dict[int, str]:
        return {0: self.boundary, **{i + 1: c for i, c in enumerate(self.tokens)}}

    @property
    def unk(self) -> int | None:
        """The id of ``<unk>``, if this vocabulary has one."""
        return self.stoi.get(UNK) if self.unit == "word" else None

    def split(self, text: str) -> list[str]:
        """A line's tokens: its characters, or its whitespace-separated words."""
        return text.split() if self.unit == "word" else list(text)

    def encode(self, text: str, *, strict: bool = False) -> list[int]:
        """The ids of a line's tokens. An unknown word is ``<unk>`` (``strict``: refused);
        an unknown character is always refused."""
        stoi = self.stoi
        if self.unit == "word":
            unk = None if strict else self.unk
            if unk is not None:
                return [stoi.get(t, unk) for t in text.split()]
            for t in text.split():
                if t not in stoi:
                    raise InputError(
                        f"word {t!r} is not in this dataset's vocabulary ({self.size:,} "
                        f"tokens); use words of the training text"
                    )
            return [stoi[t] for t in text.split()]
        try:
            return [stoi[c] for c in text]
        except KeyError as exc:
            raise InputError(
                f"character {exc.args[0]!r} is not in this dataset's vocabulary "
                f"({''.join(self.tokens)})"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        """The text of ``ids`` (words joined by single spaces); boundary tokens are not
        text and are dropped."""
        sep = " " if self.unit == "word" else ""
        return sep.join(self.tokens[i - 1] for i in ids if i != 0)

    def normalize(self, text: str) -> str:
        """A line as the model sees it: unknown words shown as ``<unk>``."""
        return self.decode(self.encode(text)) if self.unit == "word" else text


def token_counts(lines: Iterable[str], unit: str) -> Counter[str]:
    if unit == "word":
        return Counter(itertools.chain.from_iterable(map(str.split, lines)))
    return Counter(itertools.chain.from_iterable(lines))
