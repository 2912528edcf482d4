"""The n-gram families' configs and their smoothing option, without torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ngramlm.errors import InputError

MAX_ORDER = 8
LECTURE_ADD_K = 1.0  # makemore part 1: "+1" fake counts
MAX_ADD_K = 1000.0
AUTO = "auto"
MIN_DISCOUNT = 0.01  # modified Kneser-Ney: keeps every token's probability above 0


@dataclass(frozen=True)
class NgramConfig:
    """An n-gram model: its order and its smoothing (None: chosen on dev)."""

    family: ClassVar[str]
    interpolated: ClassVar[bool]  # Kneser-Ney's lower orders, or add-k on order N alone
    modified: ClassVar[bool] = False  # three discounts per order from counts of counts
    vocab_size: int = 27
    order: int = 0  # n-gram length: the context is order - 1 tokens (0: not given)
    smoothing: float | None = None  # add-k for the bigram, the discount D for Kneser-Ney

    @property
    def block_size(self) -> int:
        return self.order - 1


@dataclass(frozen=True)
class BigramConfig(NgramConfig):
    family: ClassVar[str] = "bigram"
    interpolated: ClassVar[bool] = False
    order: int = 2
    smoothing: float | None = LECTURE_ADD_K


@dataclass(frozen=True)
class KneserNeyConfig(NgramConfig):
    family: ClassVar[str] = "kneser-ney"
    interpolated: ClassVar[bool] = True


@dataclass(frozen=True)
class ModifiedKneserNeyConfig(NgramConfig):
    family: ClassVar[str] = "modified-kn"
    interpolated: ClassVar[bool] = True
    modified: ClassVar[bool] = True


def parse_smoothing(text: str | float | None) -> float | None:
    """``--smoothing``: a number, or ``auto`` (None: choose it on dev)."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    if text.strip().lower() == AUTO:
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"--smoothing must be a number or 'auto', got {text!r}") from None
