"""The WaveNet's config and presets, without torch (the network is ``network``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class WaveNetConfig:
    family: ClassVar[str] = "wavenet"
    vocab_size: int = 27  # set from the dataset
    block_size: int = 8  # a power of two: each level halves the positions
    n_embd: int = 24  # embedding dimension per token
    n_hidden: int = 128  # units of each level

    @property
    def n_layers(self) -> int:
        """Levels of pairwise fusion: log2(block_size)."""
        return max(1, self.block_size.bit_length() - 1)

    @property
    def n_params(self) -> int:
        V, E, H = self.vocab_size, self.n_embd, self.n_hidden
        n = V * E  # embeddings
        fan_in = 2 * E
        for _ in range(self.n_layers):
            n += fan_in * H + 2 * H  # linear (no bias) + batch norm's gain and bias
            fan_in = 2 * H
        return n + H * V + V


PRESETS: dict[str, dict[str, Any]] = {
    # makemore part 5's final run, exactly.
    "wavenet": {
        "block_size": 8,
        "n_embd": 24,
        "n_hidden": 128,
        "batch_size": 32,
        "steps": 200_000,
        "optimizer": "sgd",
        "lr": 0.1,
        "lr_schedule": "step",
        "decay_at": 0.75,
        "decay_factor": 0.1,
    },
}
