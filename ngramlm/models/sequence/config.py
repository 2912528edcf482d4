"""The sequence families' configs and presets, without torch (the networks are
``transformer``, ``recurrent`` and ``bow``).

Each preset is makemore.py's defaults for its ``--type``: n_embd 64 (and n_embd2 64, here
``n_hidden``), the Transformer's 4 layers of 4 heads, AdamW at a constant 5e-4 with
weight decay 0.01, minibatches of 32 words, the block the longest name and its start
(16 on names.txt). makemore.py trains until it is stopped; the presets stop at 10,000
steps, about where its Transformer's dev loss bottoms out on the lecture's split before
it overfits (issue 31). One difference remains: torch's AdamW here has betas (0.9, 0.999)
where makemore.py takes (0.9, 0.99).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class TransformerConfig:
    family: ClassVar[str] = "transformer"
    vocab_size: int = 27  # set from the dataset
    block_size: int = 16  # window length: the longest name and its start
    n_layers: int = 4  # transformer blocks (makemore.py's n_layer)
    n_head: int = 4  # attention heads; n_embd must divide among them
    n_embd: int = 64  # the residual stream's width
    dropout: float = 0.0  # on the embeddings and each block's two outputs (nanoGPT)
    tie: bool = False  # the token embeddings are the output layer too (GPT-2)

    @property
    def n_hidden(self) -> int:
        """The blocks' MLP width: 4 x n_embd, as in GPT-2."""
        return 4 * self.n_embd

    @property
    def n_params(self) -> int:
        V, T, C = self.vocab_size, self.block_size, self.n_embd
        block = 2 * 2 * C + (3 * C * C + 3 * C) + (C * C + C) + 2 * (4 * C * C) + 4 * C + C
        head = 0 if self.tie else C * V  # lm_head, no bias; tied: the embeddings are it
        return V * C + T * C + self.n_layers * block + 2 * C + head


@dataclass(frozen=True)
class RNNConfig:
    family: ClassVar[str] = "rnn"
    gates: ClassVar[int] = 1  # a tanh cell's one linear map of [x, h]
    vocab_size: int = 27
    block_size: int = 16
    n_embd: int = 64  # embedding dimension per token
    n_hidden: int = 64  # the state's width (makemore.py's n_embd2)

    @property
    def n_layers(self) -> int:
        return 1

    @property
    def n_params(self) -> int:
        V, E, H = self.vocab_size, self.n_embd, self.n_hidden
        # embeddings, the learned start state, the cell, the output layer
        return V * E + H + self.gates * ((E + H) * H + H) + H * V + V


@dataclass(frozen=True)
class GRUConfig(RNNConfig):
    family: ClassVar[str] = "gru"
    gates: ClassVar[int] = 3  # update, reset and candidate


@dataclass(frozen=True)
class BoWConfig:
    family: ClassVar[str] = "bow"
    vocab_size: int = 27
    block_size: int = 16
    n_embd: int = 64  # token and position embeddings
    n_hidden: int = 64  # the tanh MLP after the causal average (makemore.py's n_embd2)

    @property
    def n_layers(self) -> int:
        return 1

    @property
    def n_params(self) -> int:
        V, T, E, H = self.vocab_size, self.block_size, self.n_embd, self.n_hidden
        return V * E + T * E + (E * H + H) + (H * E + E) + E * V + V


# makemore.py's training: its TrainConfig and argparse defaults.
MAKEMORE_TRAIN: dict[str, Any] = {
    "batch_size": 32,
    "steps": 10_000,
    "optimizer": "adamw",
    "lr": 5e-4,
    "lr_schedule": "constant",
    "warmup": 0,
    "weight_decay": 0.01,
}

# The transformer tuned on the lecture's names (issue 31; docs/results.md): makemore.py's
# model with dropout 0.2, minibatches of 64 and AdamW at 2e-3 on a cosine schedule after
# 500 warm-up steps, 20,000 steps. Its default search starts here.
TRANSFORMER_BEST: dict[str, Any] = {
    "block_size": 16, "n_layers": 4, "n_head": 4, "n_embd": 64, "dropout": 0.2,
    **MAKEMORE_TRAIN,
    "batch_size": 64, "steps": 20_000, "lr": 2e-3, "lr_schedule": "cosine", "warmup": 500,
}  # fmt: skip

# A word corpus (the search's starting point there): sentences in windows of 32 tokens,
# the token embeddings tied to the output layer (a word vocabulary's V x n_embd is most
# of the model), dropout 0.25, AdamW at 1.5e-3 on a cosine schedule, 4 epochs.
TRANSFORMER_WORDS: dict[str, Any] = {
    "block_size": 32, "n_layers": 3, "n_head": 4, "n_embd": 96, "dropout": 0.25, "tie": True,
    **MAKEMORE_TRAIN,
    "epochs": 4.0, "lr": 1.5e-3, "lr_schedule": "cosine", "warmup": 200,
    "weight_decay": 0.1,
}  # fmt: skip

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "transformer": {
        "transformer": {"block_size": 16, "n_layers": 4, "n_head": 4, "n_embd": 64}
        | MAKEMORE_TRAIN,
        "transformer-best": TRANSFORMER_BEST,
        "transformer-words": TRANSFORMER_WORDS,
    },
    "gru": {"gru": {"block_size": 16, "n_embd": 64, "n_hidden": 64} | MAKEMORE_TRAIN},
    "rnn": {"rnn": {"block_size": 16, "n_embd": 64, "n_hidden": 64} | MAKEMORE_TRAIN},
    "bow": {"bow": {"block_size": 16, "n_embd": 64, "n_hidden": 64} | MAKEMORE_TRAIN},
}
