"""Lines of text, their token vocabulary, the split and (X, Y) examples.

A token is a character (``unit="char"``, a word list: one word a line, each character a
token) or a word (``unit="word"``, a corpus: one sentence a line, whitespace-separated
tokens). Nothing past this module cares which: ``Vocab`` maps a line to token ids and
back, and ``build_examples`` turns lines into examples over those ids.

The default split reproduces makemore part 2 exactly: ``random.seed(42);
random.shuffle(words)``, then 80% train, 10% dev, 10% test by line. On the lecture's
names.txt that is 25,626 / 3,203 / 3,204 words and, with block_size 3, 182,625 / 22,655 /
22,866 examples. ``ordered:TRAIN,DEV`` keeps file order instead (``split_ordered``).
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ngramlm.errors import InputError

if TYPE_CHECKING:  # torch is imported where examples are built: commands that only
    import numpy as np  # read the store (report, prepare, db) start without it
    import torch

BOUNDARY = "."  # how the word-boundary token (index 0) is shown
WORD_BOUNDARY = "</s>"  # how the sentence-boundary token (index 0) of a word vocabulary is shown
UNK = "<unk>"  # the word vocabulary's unknown token: rare and unseen words
UNITS = ("char", "word")
MAX_WORD_CHARS = 256
MAX_TOKEN_CHARS = 100  # a word token (a longer one is not a word: a missing space, binary)
MAX_LINE_TOKENS = 10_000  # a sentence
MAX_FILE_BYTES = 1024**3  # a hundred times Brown fits
DECODE_BLOCK = 16 * 1024**2  # bytes of a corpus decoded at once
SPLITS = ("train", "dev", "test")
SHUFFLED = "shuffled"
ORDERED = "ordered"
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc


# --- reading a word list or a corpus --------------------------------------------------


def _read_bytes(path: Path, what: str) -> bytes:
    if not path.exists():
        raise InputError(f"{path}: no such file; give the path of {what}")
    if path.is_dir():
        raise InputError(f"{path} is a directory; give the path of a file: {what}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                f"{path} is {size / 1024**2:.0f} MiB; files over "
                f"{MAX_FILE_BYTES // 1024**2} MiB are refused, split or trim it"
            )
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror}); check its permissions") from exc


def read_words(path: Path) -> list[str]:
    """Read and validate a UTF-8 word list, one word a line.

    Trailing ``\\r`` and surrounding whitespace are stripped and blank lines dropped;
    words are otherwise kept as given. Every refusal names the file, the line and the fix.
    """
    return parse_words(_read_bytes(path, "a word list, one word a line"), str(path))


def read_lines(path: Path, unit: str) -> list[str]:
    """The lines of a word list (``char``) or of a corpus of sentences (``word``)."""
    check_unit(unit)
    if unit == "char":
        return read_words(path)
    return parse_sentences(_read_bytes(path, "a text file, one sentence a line"), str(path))


def check_unit(unit: str) -> str:
    if unit not in UNITS:
        raise InputError(
            f"--unit must be char (each character a token) or word (whitespace-separated "
            f"words), got {unit!r}"
        )
    return unit


def _decoded_lines(raw: bytes, source: str, what: str) -> Iterator[str]:
    """The file's lines as text, decoded a block of lines at a time (never the whole file
    as one string besides its bytes): UTF-16 and NUL bytes refused, a UTF-8 BOM dropped."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            f"{source} is UTF-16 (it starts with a UTF-16 byte-order mark); "
            "convert it to UTF-8, e.g. iconv -f UTF-16 -t UTF-8"
        )
    start = first = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    nul = raw.find(b"\x00")
    if nul >= 0:
        lineno = raw.count(b"\n", 0, nul) + 1
        raise InputError(
            f"{source}, line {lineno}: NUL byte (is this a binary file?); "
            f"give a UTF-8 text file, {what}"
        )
    view = memoryview(raw)
    while start < len(raw):
        end = raw.find(b"\n", min(len(raw), start + DECODE_BLOCK))
        end = len(raw) if end < 0 else end + 1
        try:
            text = str(view[start:end], "utf-8")
        except UnicodeDecodeError as exc:
            at = start + exc.start
            lineno = raw.count(b"\n", 0, at) + 1
            column = at - max(raw.rfind(b"\n", 0, at), first - 1)
            raise InputError(
                f"{source}, line {lineno}: not valid UTF-8 (byte {column}; is this a binary "
                "file?); convert the file to UTF-8"
            ) from None
        lines = text.split("\n")
        if end < len(raw) or raw.endswith(b"\n"):
            lines.pop()  # the empty string after the block's last newline
        yield from lines
        start = end


def parse_sentences(raw: bytes, source: str) -> list[str]:
    """A corpus, one sentence a line: each line's whitespace-separated tokens, joined by
    single spaces; blank lines are dropped. Every refusal names the line and the fix."""
    what = "one sentence a line"
    lines: list[str] = []
    for lineno, line in enumerate(_decoded_lines(raw, source, what), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) > MAX_LINE_TOKENS:
            raise InputError(
                f"{source}, line {lineno}: {len(tokens):,} tokens (limit {MAX_LINE_TOKENS:,} "
                f"a line); put {what}"
            )
        if WORD_BOUNDARY in tokens:  # it would be a word shown exactly as the boundary
            raise InputError(
                f"{source}, line {lineno}: the token {WORD_BOUNDARY!r} is ngramlm's sentence "
                "boundary, which every line's end already is; remove it, or end the line there"
            )
        longest = max(tokens, key=len)
        if len(longest) > MAX_TOKEN_CHARS:
            raise InputError(
                f"{source}, line {lineno}: a token of {len(longest):,} characters "
                f"({longest[:20]!r}...; limit {MAX_TOKEN_CHARS}); separate words by spaces"
            )
        text = " ".join(tokens)
        if text == line:  # already one space between tokens: keep the line, not a copy
            text = line
        bad = _CONTROL.search(text)
        if bad:
            raise InputError(
                f"{source}, line {lineno}: control character U+{ord(bad.group()):04X}; "
                "remove it (tokens may contain any printable character)"
            )
        lines.append(text)
    if not lines:
        raise InputError(
            f"{source} holds no sentences (empty or only blank lines); give {what}, "
            "tokens separated by spaces"
        )
    return lines


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
    """Tokens at indices 1..V-1; index 0 is the boundary (of a word, or of a sentence).

    Characters (``unit="char"``) are sorted, and a ``.`` inside a word is an ordinary
    character with its own index: the boundary is a token, not a character, and is only
    *shown* as ``.``. Words (``unit="word"``) are in descending train count (ties by
    text), ``<unk>`` among them as an ordinary token; the boundary is shown as ``</s>``.
    A literal ``<unk>`` in a corpus *is* that token (the Penn Treebank's convention: rare
    words already replaced); a literal ``</s>`` is refused when the corpus is read.
    """

    tokens: tuple[str, ...]
    unit: str = "char"

    @classmethod
    def from_words(cls, words: Sequence[str]) -> Vocab:
        return cls(tuple(sorted(set("".join(words)))))

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
