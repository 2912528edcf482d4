"""The MLP's config, options and presets: what reports, validation and the registry need,
without torch (the network is ``network``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

Init = Literal["lecture", "kaiming"]
Norm = Literal["none", "batch", "layer"]
INITS: tuple[str, ...] = ("lecture", "kaiming")
NORMS: tuple[str, ...] = ("none", "batch", "layer")


@dataclass(frozen=True)
class MLPConfig:
    family: ClassVar[str] = "mlp"
    vocab_size: int = 27  # characters + the boundary token '.', set from the dataset
    block_size: int = 3  # context length: how many tokens predict the next one
    n_embd: int = 10  # embedding dimension per token (the lecture's C is V x 10)
    n_hidden: int = 200  # tanh units per hidden layer
    n_layers: int = 1  # hidden layers (the paper and part 2 use one)
    init: Init = "kaiming"  # "lecture": plain randn (part 2); "kaiming": part-3 scaling
    norm: Norm = "none"  # normalisation before each tanh (part 3: batch norm)
    dropout: float = 0.0  # dropout on hidden activations while training
    direct: bool = False  # Bengio 2003's direct connections embeddings -> logits
    embd_dropout: float = 0.0  # dropout on the concatenated embeddings while training
    # The output layer shares the embedding table (Press & Wolf 2017): the last hidden
    # layer is projected to n_embd and the logits are that projection times C's rows.
    tie: bool = False

    @property
    def n_params(self) -> int:
        V, E, H, T = self.vocab_size, self.n_embd, self.n_hidden, self.block_size
        n = V * E
        fan_in = T * E
        for _ in range(self.n_layers):
            n += fan_in * H + H
            if self.norm != "none":
                n += 2 * H
            fan_in = H
        n += (H * E if self.tie else H * V) + V
        if self.direct:
            n += T * E * V
        return n

    @property
    def plain(self) -> bool:
        """No normalisation, dropout, direct connections or tied output: the hand-written
        steps (``models.mlp.fast``, ``models.mlp.batched``) compute exactly this model."""
        return (
            self.norm == "none"
            and self.dropout == 0
            and self.embd_dropout == 0
            and not self.direct
            and not self.tie
        )


PRESETS: dict[str, dict[str, Any]] = {
    # makemore part 2, exactly: randn init, 200k steps of SGD at 0.1 then 0.01.
    "lecture": {
        "block_size": 3,
        "n_embd": 10,
        "n_hidden": 200,
        "init": "lecture",
        "batch_size": 32,
        "steps": 200_000,
        "optimizer": "sgd",
        "lr": 0.1,
        "lr_schedule": "step",
        "decay_at": 0.5,
        "decay_factor": 0.1,
    },
    # The same model with makemore part 3's initialisation: no wasted "hockey stick"
    # first steps, no saturated tanh units. Starting well, it needs less time at the high
    # rate: decaying at 35% instead of 50% reaches dev 2.17 ~30% sooner (step 70k, not
    # 100k) and ends at the same place (dev 2.109 vs 2.107 on the lecture's names).
    "default": {
        "block_size": 3,
        "n_embd": 10,
        "n_hidden": 200,
        "init": "kaiming",
        "batch_size": 32,
        "steps": 200_000,
        "optimizer": "sgd",
        "lr": 0.1,
        "lr_schedule": "step",
        "decay_at": 0.35,
        "decay_factor": 0.1,
    },
    # The tuned recipe (README "Models on the lecture's names"): an 8-character context,
    # wider embeddings and hidden layer, big minibatches and AdamW with a cosine
    # schedule. On the lecture's names it beats the lecture's WaveNet (dev 1.9937) and the
    # best Kneser-Ney n-gram in a few minutes on a laptop CPU. Dropout slowed learning more
    # than it curbed overfitting at this budget; weight decay stays mild.
    "best": {
        "block_size": 8,
        "n_embd": 24,
        "n_hidden": 512,
        "init": "kaiming",
        "batch_size": 256,
        "steps": 60_000,
        "optimizer": "adamw",
        "lr": 0.002,
        "lr_schedule": "cosine",
        "warmup": 500,
        "decay_factor": 0.01,
        "weight_decay": 0.1,
    },
    # Bengio et al. 2003's MLP1 for word corpora (Table 1: n=5, h=50, m=60, direct
    # connections), trained the way a laptop can afford: 2 epochs of AdamW in minibatches
    # of 512 with a cosine schedule (the paper ran SGD for weeks), one evaluation an epoch.
    # Its 5M parameters, most in the direct connections, overfit Brown from the third
    # epoch on (5 epochs: train perplexity 60, dev 200).
    "bengio": {
        "block_size": 4,
        "n_embd": 60,
        "n_hidden": 50,
        "direct": True,
        "init": "kaiming",
        "batch_size": 512,
        "epochs": 2.0,
        "optimizer": "adamw",
        "lr": 0.002,
        "lr_schedule": "cosine",
        "warmup": 200,
        "decay_factor": 0.05,
        "weight_decay": 0.0,
    },
    # ngramlm's tuned word model (README "Results on the Brown corpus"): 6 words of
    # context, a wide tanh layer (512) projected to the 96-wide embedding space, whose
    # table is the output layer too (--tie): the output products cost 96 x V a token, like
    # a plain MLP with h=96, while the hidden layer is five times wider. Dropout on the
    # hidden units (0.2) and the embeddings (0.1): with 0.1 on the hidden units alone it
    # overfits from the second epoch (dev 146.0 against 137.2 after 3 epochs). AdamW with
    # a cosine schedule, 3 epochs (200 s on a 2-core Xeon with AMX in bfloat16, 11 minutes
    # in float32 on a 2-core EPYC before the fused output layer).
    "words": {
        "block_size": 6,
        "n_embd": 96,
        "n_hidden": 512,
        "tie": True,
        "dropout": 0.2,
        "embd_dropout": 0.1,
        "init": "kaiming",
        "batch_size": 512,
        "epochs": 3.0,
        "optimizer": "adamw",
        "lr": 0.003,
        "lr_schedule": "cosine",
        "warmup": 200,
        "decay_factor": 0.05,
        "weight_decay": 0.0,
    },
}
