"""The mixture's config and its ``--mix`` option, without torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ngramlm.errors import InputError

PARTS = ("a", "b")  # checkpoint prefixes, in --mix order


@dataclass(frozen=True)
class MixtureConfig:
    family: ClassVar[str] = "mixture"
    vocab_size: int = 27
    mix: tuple[int, int] = (0, 0)  # the two runs, as --mix gave them ((0, 0): not given)
    weight: float | None = None  # λ, the network's share; None: chosen on dev
    block_size: int = 0  # the larger of the components' (set from them: ``bind``)


def parse_mix(text: Any) -> tuple[int, int]:
    """``--mix A,B``: two run ids."""
    if isinstance(text, (tuple, list)):
        parts = list(text)
    else:
        parts = [p.strip() for p in str(text).split(",")]
    try:
        if len(parts) != 2 or any(isinstance(p, bool) for p in parts):
            raise ValueError
        a, b = (int(p) for p in parts)
    except (TypeError, ValueError):
        raise InputError(
            f"--mix must be two run ids separated by a comma, e.g. --mix 4,2; got {text!r}"
        ) from None
    return a, b
