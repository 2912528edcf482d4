"""Reading a word list or a corpus: the limits, the reserved marks, one line a word or sentence."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path

from ngramlm.data.tokenize import tokenized
from ngramlm.errors import InputError

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
# What a terminal acts on rather than shows: C0, DEL and C1 (Unicode Cc: the escapes that
# restyle text, move the cursor or open a hyperlink) and the bidi controls and line
# separators that reorder or break the text around them. A name may not hold one
# (``stages.prepare``); printed, each is written as its escape (``visible``).
UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def visible(text: str, keep: str = "") -> str:
    """``text`` with each ``UNSHOWABLE`` character (but those in ``keep``) written as its
    escape, as Python's ``repr`` writes it: ESC as ``\\x1b``, RIGHT-TO-LEFT OVERRIDE as
    ``\\u202e``. What a terminal shows is then what a user would type."""

    def escaped(m: re.Match[str]) -> str:
        c = m.group()
        return c if c in keep else f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"

    return UNSHOWABLE.sub(escaped, text)


# --- reading a word list or a corpus --------------------------------------------------


def regular_file(path: Path, what: str) -> int:
    """The size of ``path``, a regular file (or a link to one). Anything else is refused
    before a byte is read: a missing path, a directory, a device (``/dev/zero`` has no
    end, and its size reads 0), a FIFO or a socket (reading would wait for a writer)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; give the path of {what}") from None
    except OSError as exc:
        raise _unreadable(path, exc) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path} is a directory; give the path of a file: {what}")
    if not stat.S_ISREG(st.st_mode):
        kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a file")
        link = f" (a link to {os.path.realpath(path)})" if path.is_symlink() else ""
        raise InputError(
            f"{path}{link} is {kind}, not a regular file; only files are read: give the path "
            f"of {what}"
        )
    return st.st_size


def _unreadable(path: Path, exc: OSError) -> InputError:
    return InputError(f"{path}: cannot read it ({exc.strerror}); check its permissions")


_KINDS = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
)


def _read_bytes(path: Path, what: str) -> bytes:
    size = regular_file(path, what)
    too_big = f"files over {MAX_FILE_BYTES // 1024**2} MiB are refused, split or trim it"
    if size > MAX_FILE_BYTES:
        raise InputError(f"{path} is {size / 1024**2:.0f} MiB; {too_big}")
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)  # bounded, whatever its size said
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise InputError(f"{path} holds more than {MAX_FILE_BYTES // 1024**2} MiB; {too_big}")
    return raw


def read_words(path: Path) -> list[str]:
    """Read and validate a UTF-8 word list, one word a line.

    Trailing ``\\r`` and surrounding whitespace are stripped and blank lines dropped;
    words are otherwise kept as given. Every refusal names the file, the line and the fix.
    """
    return parse_words(_read_bytes(path, "a word list, one word a line"), str(path))


def read_lines(path: Path, unit: str, *, tokenize: bool = False) -> list[str]:
    """The lines of a word list (``char``) or of a corpus of sentences (``word``);
    ``tokenize``: of raw text, cut into sentences of tokens (``data.tokenize``)."""
    check_unit(unit)
    if unit == "char":
        return read_words(path)
    what = "a text file" if tokenize else "a text file, one sentence a line"
    return parse_sentences(_read_bytes(path, what), str(path), tokenize=tokenize)


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


def parse_sentences(raw: bytes, source: str, *, tokenize: bool = False) -> list[str]:
    """A corpus, one sentence a line: each line's whitespace-separated tokens, joined by
    single spaces; blank lines are dropped. ``tokenize``: raw text instead, its paragraphs
    cut into sentences and its punctuation split from words (``data.tokenize``). Every
    refusal names the line and the fix."""
    what = "one sentence a line"
    decoded = _decoded_lines(raw, source, what)
    numbered = tokenized(decoded) if tokenize else enumerate(decoded, start=1)
    lines: list[str] = []
    for lineno, line in numbered:
        tokens = line.split()
        if tokens:
            lines.append(_sentence(line, tokens, f"{source}, line {lineno}", what))
    if not lines:
        raise InputError(
            f"{source} holds no sentences (empty or only blank lines); give {what}, "
            "tokens separated by spaces"
        )
    return lines


def _sentence(line: str, tokens: list[str], where: str, what: str) -> str:
    """A sentence's tokens joined by single spaces, once they pass the corpus's checks."""
    if len(tokens) > MAX_LINE_TOKENS:
        raise InputError(
            f"{where}: {len(tokens):,} tokens (limit {MAX_LINE_TOKENS:,} a line); put {what}"
        )
    if WORD_BOUNDARY in tokens:  # it would be a word shown exactly as the boundary
        raise InputError(
            f"{where}: the token {WORD_BOUNDARY!r} is ngramlm's sentence boundary, which every "
            "line's end already is; remove it, or end the line there"
        )
    longest = max(tokens, key=len)
    if len(longest) > MAX_TOKEN_CHARS:
        raise InputError(
            f"{where}: a token of {len(longest):,} characters ({longest[:20]!r}...; limit "
            f"{MAX_TOKEN_CHARS}); separate words by spaces"
        )
    text = " ".join(tokens)
    if text == line:  # already one space between tokens: keep the line, not a copy
        text = line
    bad = _CONTROL.search(text)
    if bad:
        raise InputError(
            f"{where}: control character U+{ord(bad.group()):04X}; remove it (tokens may "
            "contain any printable character)"
        )
    return text


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
