"""The ARPA back-off format (Doug Paul's; what KenLM, SRILM and every decoder read).

::

    \\data\\
    ngram 1=4
    ngram 2=7

    \\1-grams:
    -1.2041\\t</s>
    -99\\t<s>\\t-0.3010
    ...
    \\2-grams:
    -0.4771\\t<s> a
    ...
    \\end\\

Each line: log10 P(w | context), the n-gram (words separated by spaces), and for an
n-gram below the highest order its log10 back-off weight (absent: 0). A model scores
P(w | h) = P(longest listed h_i..w) times the back-off weights of the longer contexts.

Token ids here are the dataset's (``0`` the boundary: ``</s>`` when predicted) plus
``<s>`` as id V, which only begins an n-gram. ``read`` checks everything a scorer relies
on and refuses a file with one line naming the problem and where it is.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ngramlm.errors import InputError

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
BOS_LOGP = -99.0  # <s> is never predicted: the convention KenLM and SRILM write


@dataclass(frozen=True)
class ArpaTables:
    """A back-off model's tables: ``grams[k - 1]`` (m_k, k) token ids (V is ``<s>``),
    ``logp[k - 1]`` their log10 probabilities, ``bo[k - 1]`` their log10 back-off
    weights (0: none); ``words[i]`` the ARPA spelling of token i (``<s>`` last)."""

    words: tuple[str, ...]
    grams: tuple[np.ndarray, ...]
    logp: tuple[np.ndarray, ...]
    bo: tuple[np.ndarray, ...]

    @property
    def order(self) -> int:
        return len(self.grams)

    @property
    def V(self) -> int:
        """The dataset's vocabulary size (``<s>`` not counted)."""
        return len(self.words) - 1


def arpa_words(itos: dict[int, str]) -> tuple[str, ...]:
    """The ARPA spelling of every token (``</s>`` for the boundary, ``<s>`` last); a token
    ARPA cannot carry is refused."""
    words = [EOS] + [itos[i] for i in range(1, len(itos))]
    for w in words[1:]:
        if w in (BOS, EOS) or not w or re.search(r"\s", w):
            raise InputError(
                f"the token {w!r} cannot be written to an ARPA file (a space, a tab or "
                f"{BOS}/{EOS} inside a token); prepare the dataset without it"
            )
    return (*words, BOS)


def _num(x: float) -> str:
    return repr(float(x)) if x != BOS_LOGP else "-99"


def write(tables: ArpaTables, path: Path) -> None:
    """Write the tables as an ARPA file (probabilities to full float64 precision)."""
    W = np.array(tables.words, dtype=object)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write("\n\\data\\\n")
        f.writelines(f"ngram {k}={g.shape[0]}\n" for k, g in enumerate(tables.grams, 1))
        for k, (g, lp, bo) in enumerate(zip(tables.grams, tables.logp, tables.bo, strict=True), 1):
            f.write(f"\n\\{k}-grams:\n")
            texts = map(" ".join, zip(*(W[g[:, j]] for j in range(k)), strict=True))
            probs = map(_num, lp.tolist())
            if k == tables.order:
                f.writelines(f"{p}\t{t}\n" for p, t in zip(probs, texts, strict=True))
                continue
            backs = (f"\t{b!r}" if b else "" for b in bo.tolist())
            f.writelines(f"{p}\t{t}{b}\n" for p, t, b in zip(probs, texts, backs, strict=True))
        f.write("\n\\end\\\n")


def read(path: Path, words: tuple[str, ...], dataset: str) -> ArpaTables:
    """An ARPA file's tables over a dataset's tokens (``arpa_words``), every rule checked:
    the header's sections all present with the counts it gives, probabilities at most 0,
    every n-gram's context listed one order down, the vocabulary the dataset's."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the ARPA file {path}: {exc}") from None
    r = _Reader(text.splitlines(), path.name, dataset, {w: t for t, w in enumerate(words)})
    counts = _read_header(r)
    sections: list[_Section] = []
    for k, count in enumerate(counts, 1):
        sections.append(_read_section(r, k, len(counts), count, sections[-1] if sections else None))
    r.skip_blank()
    if r.at_end() or r.line() != "\\end\\":
        raise r.error(f"expected \\end\\ after the {len(counts)}-grams")
    missing = [w for w in words if (r.stoi[w],) not in sections[0].index and w != BOS]
    if missing:
        raise InputError(
            f"{r.where}: dataset {dataset}'s token {missing[0]!r} has no 1-gram "
            f"({len(missing)} missing); import a model built on the dataset's own tokens"
        )
    return ArpaTables(
        tuple(words),
        tuple(
            np.asarray(s.grams, dtype=np.int64).reshape(-1, k) for k, s in enumerate(sections, 1)
        ),
        tuple(np.asarray(s.logp, dtype=np.float64) for s in sections),
        tuple(np.asarray(s.bo, dtype=np.float64) for s in sections),
    )


@dataclass
class _Reader:
    """Where ``read`` is in an ARPA file's lines; ``where`` names the file in messages,
    ``stoi`` maps the dataset's ARPA spellings to token ids."""

    lines: list[str]
    where: str
    dataset: str
    stoi: dict[str, int]
    i: int = 0

    def at_end(self) -> bool:
        return self.i == len(self.lines)

    def line(self) -> str:
        return self.lines[self.i].strip()

    def skip_blank(self) -> None:
        while not self.at_end() and not self.line():
            self.i += 1

    def error(self, problem: str) -> InputError:
        """The problem at the current line."""
        return InputError(f"{self.where}:{self.i + 1}: {problem}")


@dataclass
class _Section:
    """One order's entries as read: token ids, log10 probabilities, back-off weights, and
    each n-gram's row (its next order's contexts are looked up here)."""

    grams: list[list[int]] = field(default_factory=list)
    logp: list[float] = field(default_factory=list)
    bo: list[float] = field(default_factory=list)
    index: dict[tuple[int, ...], int] = field(default_factory=dict)


def _read_header(r: _Reader) -> list[int]:
    """The ``\\data\\`` header's n-gram counts, one per order from 1."""
    while not r.at_end() and r.line() != "\\data\\":
        r.i += 1
    if r.at_end():
        raise InputError(f"{r.where}: no \\data\\ section; is it an ARPA file?")
    counts: list[int] = []
    r.i += 1
    while not r.at_end() and r.line():
        m = re.fullmatch(r"ngram\s+(\d+)\s*=\s*(\d+)", r.line())
        if m is None or int(m.group(1)) != len(counts) + 1:
            raise r.error(f"expected 'ngram {len(counts) + 1}=COUNT'")
        counts.append(int(m.group(2)))
        r.i += 1
    if not counts:
        raise InputError(f"{r.where}: the \\data\\ header lists no n-gram counts")
    return counts


def _read_section(r: _Reader, k: int, N: int, count: int, below: _Section | None) -> _Section:
    """The ``\\k-grams:`` section of an order-N file, whose header gives it ``count``
    entries; ``below`` is order k - 1's, where each n-gram's context must be."""
    r.skip_blank()
    if r.at_end() or r.line() != f"\\{k}-grams:":
        raise InputError(
            f"{r.where}: the header lists {N} orders but the \\{k}-grams: section is "
            f"missing (line {r.i + 1})"
        )
    r.i += 1
    section = _Section()
    skipped = 0
    while not r.at_end() and r.line() and not r.lines[r.i].startswith("\\"):
        entry = _read_entry(r, k, N, below)
        if entry is None:
            skipped += 1  # KenLM always writes <unk>; a character dataset has none
        else:
            key, p, back = entry
            section.index[key] = len(section.grams)
            section.grams.append(list(key))
            section.logp.append(p)
            section.bo.append(back)
        r.i += 1
    if len(section.grams) + skipped != count:
        raise InputError(
            f"{r.where}: the header says ngram {k}={count} but the \\{k}-grams: "
            f"section has {len(section.grams) + skipped} entries"
        )
    return section


def _read_entry(
    r: _Reader, k: int, N: int, below: _Section | None
) -> tuple[tuple[int, ...], float, float] | None:
    """The current line's k-gram as token ids, its log10 probability and back-off weight;
    None for an n-gram with ``<unk>`` when the dataset has no such token."""
    fields = r.lines[r.i].split()
    if len(fields) not in (k + 1, k + 2) or (k == N and len(fields) == k + 2):
        raise r.error(
            f"a {k}-gram line is 'LOG10PROB {' '.join(['w'] * k)}"
            f"{'' if k == N else ' [BACKOFF]'}', got {r.line()!r}"
        )
    try:
        p = float(fields[0])
        back = float(fields[k + 1]) if len(fields) == k + 2 else 0.0
    except ValueError:
        raise r.error(f"not a number in {r.line()!r}") from None
    if not (p <= 0) or not math.isfinite(back):
        raise r.error(
            f"log10 probability {fields[0]} is above 0 (or not a number); a probability "
            "is at most 1"
        )
    if UNK not in r.stoi and UNK in fields[1 : k + 1]:
        return None
    row = []
    for w in fields[1 : k + 1]:
        t = r.stoi.get(w)
        if t is None:
            raise r.error(
                f"the word {w!r} is not in dataset {r.dataset}'s vocabulary; import a model "
                "built on the dataset's own tokens"
            )
        row.append(t)
    key = tuple(row)
    if below is not None and key[:-1] not in below.index:
        raise r.error(
            f"the {k}-gram {' '.join(fields[1 : k + 1])!r} has no {k - 1}-gram "
            f"{' '.join(fields[1:k])!r} (its context) in the file"
        )
    return key, p, back
