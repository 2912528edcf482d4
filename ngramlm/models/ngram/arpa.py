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
from dataclasses import dataclass
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
    lines = text.splitlines()
    where = f"{path.name}"
    i = 0
    while i < len(lines) and lines[i].strip() != "\\data\\":
        i += 1
    if i == len(lines):
        raise InputError(f"{where}: no \\data\\ section; is it an ARPA file?")
    counts: list[int] = []
    i += 1
    while i < len(lines) and lines[i].strip():
        m = re.fullmatch(r"ngram\s+(\d+)\s*=\s*(\d+)", lines[i].strip())
        if m is None or int(m.group(1)) != len(counts) + 1:
            raise InputError(f"{where}:{i + 1}: expected 'ngram {len(counts) + 1}=COUNT'")
        counts.append(int(m.group(2)))
        i += 1
    if not counts:
        raise InputError(f"{where}: the \\data\\ header lists no n-gram counts")
    stoi = {w: t for t, w in enumerate(words)}
    grams: list[list[list[int]]] = []
    logp: list[list[float]] = []
    bo: list[list[float]] = []
    seen: list[dict[tuple[int, ...], int]] = []
    N = len(counts)
    for k in range(1, N + 1):
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i == len(lines) or lines[i].strip() != f"\\{k}-grams:":
            raise InputError(
                f"{where}: the header lists {N} orders but the \\{k}-grams: section is "
                f"missing (line {i + 1})"
            )
        i += 1
        g: list[list[int]] = []
        lp: list[float] = []
        b: list[float] = []
        index: dict[tuple[int, ...], int] = {}
        skipped = 0
        while i < len(lines) and lines[i].strip() and not lines[i].startswith("\\"):
            fields = lines[i].split()
            if len(fields) not in (k + 1, k + 2) or (k == N and len(fields) == k + 2):
                raise InputError(
                    f"{where}:{i + 1}: a {k}-gram line is 'LOG10PROB {' '.join(['w'] * k)}"
                    f"{'' if k == N else ' [BACKOFF]'}', got {lines[i].strip()!r}"
                )
            try:
                p = float(fields[0])
                back = float(fields[k + 1]) if len(fields) == k + 2 else 0.0
            except ValueError:
                raise InputError(f"{where}:{i + 1}: not a number in {lines[i].strip()!r}") from None
            if not (p <= 0) or not math.isfinite(back):
                raise InputError(
                    f"{where}:{i + 1}: log10 probability {fields[0]} is above 0 (or not a "
                    "number); a probability is at most 1"
                )
            if UNK not in stoi and UNK in fields[1 : k + 1]:
                skipped += 1  # KenLM always writes <unk>; a character dataset has none
                i += 1
                continue
            row = []
            for w in fields[1 : k + 1]:
                t = stoi.get(w)
                if t is None:
                    raise InputError(
                        f"{where}:{i + 1}: the word {w!r} is not in dataset {dataset}'s "
                        "vocabulary; import a model built on the dataset's own tokens"
                    )
                row.append(t)
            key = tuple(row)
            if k > 1 and key[:-1] not in seen[-1]:
                raise InputError(
                    f"{where}:{i + 1}: the {k}-gram {' '.join(fields[1 : k + 1])!r} has no "
                    f"{k - 1}-gram {' '.join(fields[1:k])!r} (its context) in the file"
                )
            index[key] = len(g)
            g.append(row)
            lp.append(p)
            b.append(back)
            i += 1
        if len(g) + skipped != counts[k - 1]:
            raise InputError(
                f"{where}: the header says ngram {k}={counts[k - 1]} but the \\{k}-grams: "
                f"section has {len(g) + skipped} entries"
            )
        grams.append(g)
        logp.append(lp)
        bo.append(b)
        seen.append(index)
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines) or lines[i].strip() != "\\end\\":
        raise InputError(f"{where}:{i + 1}: expected \\end\\ after the {N}-grams")
    missing = [w for w in words if (stoi[w],) not in seen[0] and w != BOS]
    if missing:
        raise InputError(
            f"{where}: dataset {dataset}'s token {missing[0]!r} has no 1-gram "
            f"({len(missing)} missing); import a model built on the dataset's own tokens"
        )
    return ArpaTables(
        tuple(words),
        tuple(np.asarray(g, dtype=np.int64).reshape(-1, k) for k, g in enumerate(grams, 1)),
        tuple(np.asarray(x, dtype=np.float64) for x in logp),
        tuple(np.asarray(x, dtype=np.float64) for x in bo),
    )
