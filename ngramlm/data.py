"""Word lists, the character vocabulary, the lecture's split and (X, Y) examples.

The split reproduces makemore part 2 exactly: ``random.seed(42); random.shuffle(words)``,
then 80% train, 10% dev, 10% test by word. On the lecture's names.txt that is
25,626 / 3,203 / 3,204 words and, with block_size 3, 182,625 / 22,655 / 22,866 examples.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ngramlm.errors import InputError

if TYPE_CHECKING:  # torch is imported where examples are built: commands that only
    import torch  # read the store (report, prepare, db) start without it

BOUNDARY = "."  # how the word-boundary token (index 0) is shown
MAX_WORD_CHARS = 256
MAX_FILE_BYTES = 512 * 1024**2
SPLITS = ("train", "dev", "test")


# --- reading a word list ---------------------------------------------------------------


def read_words(path: Path) -> list[str]:
    """Read and validate a UTF-8 word list, one word a line.

    Trailing ``\\r`` and surrounding whitespace are stripped and blank lines dropped;
    words are otherwise kept as given. Every refusal names the file, the line and the fix.
    """
    if not path.exists():
        raise InputError(f"{path}: no such file; give the path of a word list, one word a line")
    if path.is_dir():
        raise InputError(f"{path} is a directory; give the path of a word list file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                f"{path} is {size / 1024**2:.0f} MiB; word lists over "
                f"{MAX_FILE_BYTES // 1024**2} MiB are refused, split or trim it"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror}); check its permissions") from exc
    return parse_words(raw, str(path))


def parse_words(raw: bytes, source: str) -> list[str]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            f"{source} is UTF-16 (it starts with a UTF-16 byte-order mark); "
            "convert it to UTF-8, e.g. iconv -f UTF-16 -t UTF-8"
        )
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark is harmless: drop it
        raw = raw[3:]
    words: list[str] = []
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if b"\x00" in line:
            raise InputError(
                f"{source}, line {lineno}: NUL byte (is this a binary file?); "
                "give a UTF-8 text file, one word a line"
            )
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{source}, line {lineno}: not valid UTF-8 (byte {exc.start + 1}); "
                "convert the file to UTF-8"
            ) from None
        word = text.rstrip("\r").strip()
        if not word:
            continue
        if len(word) > MAX_WORD_CHARS:
            raise InputError(
                f"{source}, line {lineno}: a word of {len(word):,} characters "
                f"(limit {MAX_WORD_CHARS}); put one word a line"
            )
        for ch in word:
            if unicodedata.category(ch) == "Cc":
                raise InputError(
                    f"{source}, line {lineno}: control character U+{ord(ch):04X}; "
                    "remove it (words may contain any printable character)"
                )
        words.append(word)
    if not words:
        raise InputError(f"{source} holds no words (empty or only blank lines); one word a line")
    return words


def content_sha256(words: Sequence[str]) -> str:
    """Identity of a word list: the words as read, one a line (line endings normalised)."""
    h = hashlib.sha256()
    for w in words:
        h.update(w.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


# --- vocabulary ------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocab:
    """Characters at indices 1..V-1, sorted; index 0 is the word boundary.

    A ``.`` inside a word is an ordinary character with its own index: the boundary is
    a token, not a character, and is only *shown* as ``.``.
    """

    chars: tuple[str, ...]

    @classmethod
    def from_words(cls, words: Sequence[str]) -> Vocab:
        return cls(tuple(sorted(set("".join(words)))))

    @property
    def size(self) -> int:
        return len(self.chars) + 1

    @property
    def stoi(self) -> dict[str, int]:
        return {c: i + 1 for i, c in enumerate(self.chars)}

    @property
    def itos(self) -> dict[int, str]:
        return {0: BOUNDARY, **{i + 1: c for i, c in enumerate(self.chars)}}

    def encode(self, word: str) -> list[int]:
        stoi = self.stoi
        try:
            return [stoi[c] for c in word]
        except KeyError as exc:
            raise InputError(
                f"character {exc.args[0]!r} is not in this dataset's vocabulary "
                f"({''.join(self.chars)})"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        """Characters of ``ids``; boundary tokens are not characters and are dropped."""
        return "".join(self.chars[i - 1] for i in ids if i != 0)


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
            f"{n} word(s) are too few for non-empty train/dev/test splits (80/10/10); "
            "give at least 10 words"
        )
    return split


# --- examples --------------------------------------------------------------------------


def build_examples(
    words: Sequence[str], vocab: Vocab, block_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The lecture's (X, Y): each character, and the final boundary, predicted from the
    ``block_size`` tokens before it; the context starts as all boundary tokens.

    Returns X (N, block_size) and Y (N,), both int64.
    """
    import torch

    stoi = vocab.stoi
    seqs: list[int] = []
    starts: list[int] = []
    pad = [0] * block_size
    for w in words:
        base = len(seqs)
        try:
            ids = [stoi[c] for c in w]
        except KeyError as exc:
            raise InputError(f"character {exc.args[0]!r} is not in the vocabulary") from None
        seqs.extend(pad)
        seqs.extend(ids)
        seqs.append(0)
        starts.extend(range(base, base + len(ids) + 1))
    seq = torch.tensor(seqs, dtype=torch.long)
    idx = torch.tensor(starts, dtype=torch.long)
    if len(idx) == 0:
        return torch.empty(0, block_size, dtype=torch.long), torch.empty(0, dtype=torch.long)
    X = seq.unfold(0, block_size, 1)[idx].contiguous()  # (N, block_size)
    Y = seq[idx + block_size]  # (N,)
    return X, Y
