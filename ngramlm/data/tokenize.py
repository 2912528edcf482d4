"""Raw text to sentences of tokens (``prepare --unit word --tokenize``), and the hint for
raw text read without it.

The work is syntok's (``syntok.segmenter.analyze``, segtok's successor): a rule-based
sentence segmenter and tokenizer in pure Python, with no model or data to download (NLTK's
punkt needs one; pysbd splits sentences but not words; sacremoses tokenizes words but
splits no sentence). It splits punctuation from words (``people,`` becomes ``people ,``),
keeps numbers whole (``3.5``, ``1,000``), knows abbreviations (``Mr.`` does not end a
sentence), and keeps the text's own spelling (``don't`` is ``do n't``, never ``do not``).

A file is read as syntok reads a document: paragraphs are separated by blank lines, and
the line breaks inside a paragraph are spaces (hard-wrapped text); each sentence becomes
one line, its tokens joined by single spaces. The dataset records ``TOKENIZER`` and its
version (``tokenizer_id``), and text scored under its runs is read the same way.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata

TOKENIZER = "syntok"
# Distinct tokens with punctuation glued on, as a share of all distinct tokens, from which
# prepare suggests --tokenize. Tokenized text keeps a few (abbreviations and initials: "Mr.",
# "U.S.", "J."): 1.5% of Brown's (865 of 56,057); raw text has many: 28% of the GPL-3's
# (442 of 1,559), 37% of issue 30's speeches (5,524 of 14,993).
GLUED_HINT = 0.05


def tokenizer_id() -> str:
    """What a tokenized dataset records: the tokenizer and its installed version."""
    return f"{TOKENIZER} {metadata.version(TOKENIZER)}"


def version_warning(recorded: str) -> str | None:
    """A line when the installed tokenizer is not the one that made the dataset (its
    sentences may then be cut or split otherwise), else None."""
    here = tokenizer_id()
    if here == recorded:
        return None
    return (
        f"the dataset was tokenized by {recorded}, this is {here}: the text is tokenized by "
        "the one installed, and may be split otherwise than the dataset was"
    )


def sentences(paragraph: str) -> list[str]:
    """Each sentence of ``paragraph`` (text without blank lines) as its tokens joined by
    single spaces: syntok's ``analyze`` of it, token values as they stand in the text."""
    from syntok import segmenter

    return [
        " ".join(token.value for token in sentence)
        for para in segmenter.analyze(paragraph)
        for sentence in para
    ]


def paragraphs(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """The paragraphs of a file's lines (1-based line numbers): runs of lines that are not
    blank, joined by newlines, with the number of their first line."""
    block: list[str] = []
    first = 0
    for lineno, line in enumerate(lines, start=1):
        if line.strip():
            if not block:
                first = lineno
            block.append(line)
        elif block:
            yield first, "\n".join(block)
            block = []
    if block:
        yield first, "\n".join(block)


def tokenized(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """``(line, sentence)``: each sentence of the text, with the line its paragraph
    starts on (where a refusal points)."""
    for lineno, paragraph in paragraphs(lines):
        for sentence in sentences(paragraph):
            yield lineno, sentence


# --- the hint: raw text read as tokens ----------------------------------------------------

_OPENING = {"Ps", "Pi"}  # ( [ { and the opening quotes (U+201C, U+2018, U+00AB)


def glued(token: str) -> bool:
    """Whether ``token`` is a word with punctuation attached: ``people,``, ``week.``,
    ``(the``, ``“Really``; not punctuation alone, nor a word with it inside (``U.S``,
    ``3.5``, ``don't``)."""
    if len(token) < 2:
        return False
    last, first = token[-1], token[0]
    if unicodedata.category(last).startswith("P") and token[-2].isalnum():
        return True
    return (unicodedata.category(first) in _OPENING or first == '"') and token[1].isalnum()


@dataclass(frozen=True)
class Glued:
    """How many of a corpus's distinct tokens carry punctuation (``glued``)."""

    n: int
    distinct: int
    examples: tuple[str, ...]  # the commonest few

    @property
    def share(self) -> float:
        return self.n / self.distinct if self.distinct else 0.0

    def hint(self) -> str | None:
        """prepare's one line when the share passes ``GLUED_HINT``, else None."""
        if self.share < GLUED_HINT:
            return None
        shown = ", ".join(f"'{t}'" for t in self.examples)
        return (
            f"{self.share:.0%} of the distinct tokens carry punctuation ({shown}, "
            f"{self.n:,} of {self.distinct:,}): raw text? --tokenize splits it from words "
            "and paragraphs into sentences"
        )


def glued_tokens(counts: dict[str, int], shown: int = 3) -> Glued:
    """``Glued`` of a corpus's token counts."""
    hits = sorted((t for t in counts if glued(t)), key=lambda t: (-counts[t], t))
    return Glued(len(hits), len(counts), tuple(hits[:shown]))
