"""What a loss is shown as: the field's own figure for the dataset's token unit.

Every run records its losses as the mean negative log-likelihood per token in nats
(``--json``, ``--csv`` and the API keep them so). The lecture speaks of characters in
nats; every paper on words, KenLM and the Brown table speak perplexity, the exp of the
same figure. Tables, lines and plots therefore show a word dataset's losses as
perplexity and a character dataset's as nats, unless asked for nats (``--nats``).
A leaf: the CLI, the API and the plots take the one rule from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Measure:
    """How losses of one dataset are shown: nats (``perplexity`` False) or perplexity."""

    perplexity: bool

    @property
    def name(self) -> str:
        """A column's or an axis's word for it: "ppl" or "loss"."""
        return "ppl" if self.perplexity else "loss"

    @property
    def long(self) -> str:
        return "perplexity" if self.perplexity else "loss"

    def value(self, loss: float | None) -> float | None:
        """``loss`` (nats) as shown: its exp for perplexity (inf past exp's range)."""
        if loss is None or not self.perplexity:
            return loss
        return math.exp(loss) if loss < 700 else math.inf

    def fmt(self, loss: float | None) -> str:
        """A loss for a table or a line: "—" when there is none; perplexity to one decimal
        (thousands separated), nats to four."""
        v = self.value(loss)
        if v is None:
            return "—"
        return f"{v:,.1f}" if self.perplexity else f"{v:.4f}"

    def line(self, loss: float | None) -> str:
        """A loss in a line of text: nats always (what every line has said), its perplexity
        beside them for words: "4.9216 (ppl 137.2)"."""
        if loss is None:
            return "—"
        return f"{loss:.4f} (ppl {self.fmt(loss)})" if self.perplexity else f"{loss:.4f}"

    def gap(self, train: float | None, dev: float | None) -> str:
        """dev minus train as shown: a ratio of perplexities (dev ÷ train), a difference
        of nats."""
        if train is None or dev is None:
            return "—"
        if self.perplexity:
            return f"x{math.exp(min(dev - train, 700)):.2f}"
        return f"{dev - train:+.3f}"


NATS = Measure(perplexity=False)
PERPLEXITY = Measure(perplexity=True)


def measure(unit: str, nats: bool = False) -> Measure:
    """The measure a dataset of ``unit`` ("char" or "word") is shown in: perplexity for
    words (unless ``nats``), nats for characters."""
    return PERPLEXITY if unit == "word" and not nats else NATS
