"""The MLP family: the language model of Bengio, Ducharme, Vincent & Jauvin (2003), "A
Neural Probabilistic Language Model", as built in makemore part 2.

Each of the ``block_size`` previous characters is looked up in an embedding table C
(V x n_embd); the embeddings are concatenated (a view, no copy), passed through
``n_layers`` tanh hidden layers and projected to logits over the V characters. Options
from the paper and the lecture series: part 3's initialisation and batch norm, layer
norm, dropout, and the paper's direct connections from the embeddings to the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ngramlm.models.neural import NeuralLM
from ngramlm.models.output import chunked, linear_cross_entropy

Init = Literal["lecture", "kaiming"]
Norm = Literal["none", "batch", "layer"]
INITS: tuple[str, ...] = ("lecture", "kaiming")
NORMS: tuple[str, ...] = ("none", "batch", "layer")

BN_MOMENTUM = 0.001  # makemore part 3's running-statistics momentum (small batches)
NORM_EPS = 1e-5


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
        steps (``models.mlp.fast``, ``training.batched``) compute exactly this model."""
        return (
            self.norm == "none"
            and self.dropout == 0
            and self.embd_dropout == 0
            and not self.direct
            and not self.tie
        )


class MLP(NeuralLM):
    def __init__(self, cfg: MLPConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.cfg = cfg
        V, E, H, T = cfg.vocab_size, cfg.n_embd, cfg.n_hidden, cfg.block_size
        g = generator

        def randn(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=g)

        # The lecture draws C, W1, b1, W2, b2 in this order: keep it, so the lecture
        # preset starts from the very weights makemore part 2 would draw.
        self.C = nn.Parameter(randn(V, E))
        self.W = nn.ParameterList()
        self.b = nn.ParameterList()
        fan_in = T * E
        for _ in range(cfg.n_layers):
            W, b = randn(fan_in, H), randn(H)
            if cfg.init == "kaiming":
                # Part 3: keep tanh out of saturation (gain 5/3 over sqrt(fan_in)).
                W = W * (5 / 3) / math.sqrt(fan_in)
                b = b * 0.01
            self.W.append(nn.Parameter(W))
            self.b.append(nn.Parameter(b))
            fan_in = H
        if cfg.tie:
            # C is the output embedding too: rows of norm ~1 (not ~sqrt(E)), so that the
            # output geometry is not a random one to be unlearnt; logits = (h @ W_proj)
            # @ C.T with a projection small enough that the first logits are near zero,
            # as part 3's small last layer makes them.
            with torch.no_grad():
                self.C.mul_(1 / math.sqrt(E))
            self.W_proj = nn.Parameter(randn(H, E) * (0.1 / math.sqrt(H)))
            self.b_out = nn.Parameter(torch.zeros(V))
        else:
            W_out, b_out = randn(H, V), randn(V)
            if cfg.init == "kaiming":
                # Part 3: a small last layer, so the first loss is near -log(1/V), not ~27.
                W_out, b_out = W_out * 0.01, b_out * 0.0
            self.W_out = nn.Parameter(W_out)
            self.b_out = nn.Parameter(b_out)
        if cfg.norm != "none":
            self.gamma = nn.ParameterList(nn.Parameter(torch.ones(H)) for _ in range(cfg.n_layers))
            self.beta = nn.ParameterList(nn.Parameter(torch.zeros(H)) for _ in range(cfg.n_layers))
        if cfg.norm == "batch":
            for i in range(cfg.n_layers):
                self.register_buffer(f"running_mean_{i}", torch.zeros(H))
                self.register_buffer(f"running_var_{i}", torch.ones(H))
        if cfg.direct:
            # Bengio 2003's optional direct connections: start at zero, learnt.
            self.W_direct = nn.Parameter(torch.zeros(T * E, V))

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        dropout_generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(logits, loss); the logits are None where the fused output layer computed
        the loss without them (training on a word vocabulary)."""
        cfg = self.cfg
        emb = self.C[idx]  # (B, T, E)
        x = emb.view(emb.shape[0], -1)  # (B, T*E): concatenation as a view
        if self.training and cfg.embd_dropout > 0:
            x = _dropout(x, cfg.embd_dropout, dropout_generator)
        h = x
        for i in range(cfg.n_layers):
            hpre = h @ self.W[i] + self.b[i]  # (B, H)
            if cfg.norm == "batch":
                hpre = F.batch_norm(
                    hpre,
                    getattr(self, f"running_mean_{i}"),
                    getattr(self, f"running_var_{i}"),
                    self.gamma[i],
                    self.beta[i],
                    training=self.training,
                    momentum=BN_MOMENTUM,
                    eps=NORM_EPS,
                )
            elif cfg.norm == "layer":
                hpre = F.layer_norm(hpre, (cfg.n_hidden,), self.gamma[i], self.beta[i], NORM_EPS)
            h = torch.tanh(hpre)  # (B, H)
            if self.training and cfg.dropout > 0:
                h = _dropout(h, cfg.dropout, dropout_generator)
        # The output layer: (input, matrix) pairs whose products sum to the logits.
        pairs = [(h @ self.W_proj, self.C.t())] if cfg.tie else [(h, self.W_out)]
        if cfg.direct:
            pairs.append((x, self.W_direct))
        if targets is not None and self.training and self.chunked_output:
            # Word vocabularies: the fused loss and gradients (ngramlm.models.output).
            return None, linear_cross_entropy(pairs, self.b_out, targets, self.precision)
        logits = pairs[0][0] @ pairs[0][1] + self.b_out  # (B, V)
        for a, W in pairs[1:]:
            logits = logits + a @ W
        loss = None if targets is None else F.cross_entropy(logits, targets)
        return logits, loss

    @property
    def chunked_output(self) -> bool:
        return chunked(self.cfg.vocab_size, self.precision)


def _dropout(x: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """Inverted dropout with masks drawn from the run's generator (on the CPU, so a run
    draws the same masks on any device)."""
    keep = 1.0 - p
    mask = torch.rand(x.shape, generator=generator).to(x.device) < keep
    return x * mask / keep


# --- the family ------------------------------------------------------------------------

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
