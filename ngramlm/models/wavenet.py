"""The WaveNet family: makemore part 5's hierarchical model (after van den Oord et al.
2016, "WaveNet: A Generative Model for Raw Audio").

Instead of squashing the whole context into one hidden layer as the MLP does, the
context's embeddings are fused two at a time, level by level, like a dilated causal
convolution evaluated at one position: ``FlattenConsecutive(2)`` concatenates each pair
of neighbours, then ``Linear -> BatchNorm -> tanh``; three such levels take a block of 8
tokens down to one vector, and a linear layer gives the logits::

    (B, 8, E) -> (B, 4, 2E) -> (B, 4, H) -> (B, 2, 2H) -> (B, 2, H) -> (B, 1, 2H)
              -> (B, H) -> (B, V)

Weights are drawn as the lecture draws them: embeddings ``randn``, linear weights
``randn / sqrt(fan_in)`` without bias (batch norm follows), the output layer's weights
scaled by 0.1 so the first loss is near ``-log(1/V)``. Batch norm normalises over the
batch and the positions (dims 0 and 1, as the lecture's fix in part 5), momentum 0.1.
``--preset wavenet`` is the lecture's final run: block 8, n_embd 24, n_hidden 128
(76,579 parameters), batch 32, 200k SGD steps at 0.1 then 0.01 from step 150k; the
lecture printed train 1.7690, dev 1.9937.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ngramlm.config import MAX_BLOCK_SIZE, MAX_WIDTH, RunConfig, check_size, positive_int
from ngramlm.errors import InputError
from ngramlm.models.base import Description, NeuralFamily
from ngramlm.models.neural import NeuralLM

BN_MOMENTUM = 0.1  # the lecture's BatchNorm1d
BN_EPS = 1e-5
OUT_SCALE = 0.1  # the lecture: "last layer: make less confident"


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


class WaveNet(NeuralLM):
    def __init__(self, cfg: WaveNetConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.cfg = cfg
        V, E, H = cfg.vocab_size, cfg.n_embd, cfg.n_hidden

        def randn(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator)

        self.C = nn.Parameter(randn(V, E))
        self.W = nn.ParameterList()
        fan_in = 2 * E
        for _ in range(cfg.n_layers):
            self.W.append(nn.Parameter(randn(fan_in, H) / fan_in**0.5))
            fan_in = 2 * H
        self.gamma = nn.ParameterList(nn.Parameter(torch.ones(H)) for _ in range(cfg.n_layers))
        self.beta = nn.ParameterList(nn.Parameter(torch.zeros(H)) for _ in range(cfg.n_layers))
        for i in range(cfg.n_layers):
            self.register_buffer(f"running_mean_{i}", torch.zeros(H))
            self.register_buffer(f"running_var_{i}", torch.ones(H))
        self.W_out = nn.Parameter(randn(H, V) / H**0.5 * OUT_SCALE)
        self.b_out = nn.Parameter(torch.zeros(V))

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        dropout_generator: torch.Generator | None = None,  # the interface's; no dropout here
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B = idx.shape[0]
        x = self.C[idx]  # (B, T, E)
        for i, W in enumerate(self.W):
            x = x.reshape(B, x.shape[1] // 2, 2 * x.shape[2])  # FlattenConsecutive(2): (B, T/2, 2C)
            h = x @ W  # (B, T/2, H)
            flat = h.reshape(-1, h.shape[2])  # batch norm over batch and positions
            flat = F.batch_norm(
                flat,
                getattr(self, f"running_mean_{i}"),
                getattr(self, f"running_var_{i}"),
                self.gamma[i],
                self.beta[i],
                training=self.training,
                momentum=BN_MOMENTUM,
                eps=BN_EPS,
            )
            x = torch.tanh(flat).view(h.shape)  # (B, T/2, H)
        logits = x.reshape(B, -1) @ self.W_out + self.b_out  # (B, V)
        loss = None if targets is None else F.cross_entropy(logits, targets)
        return logits, loss


# --- the family ------------------------------------------------------------------------

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


class WaveNetFamily(NeuralFamily):
    name = "wavenet"
    config_cls = WaveNetConfig
    presets = PRESETS
    default_preset = "wavenet"
    printed: ClassVar[dict[str, tuple[str, float, float]]] = {
        "wavenet": ("makemore part 5", 1.7690, 1.9937)
    }
    help = "makemore part 5's hierarchical WaveNet (--block-size a power of two)"

    def validate(self, cfg: RunConfig) -> None:
        super().validate(cfg)
        m: WaveNetConfig = cfg.model
        assert cfg.train is not None
        positive_int("block_size", m.block_size, MAX_BLOCK_SIZE)
        if m.block_size < 2 or m.block_size & (m.block_size - 1):
            raise InputError(
                f"--block-size {m.block_size}: the WaveNet fuses neighbours in pairs, so the "
                "context must be a power of two (2, 4, 8, 16, ...)"
            )
        positive_int("n_embd", m.n_embd, MAX_WIDTH)
        positive_int("n_hidden", m.n_hidden, MAX_WIDTH)
        positive_int("vocab_size", m.vocab_size, 1_000_000)
        per_example = m.block_size * m.n_embd + 3 * m.block_size * m.n_hidden + 2 * m.vocab_size
        check_size(m.n_params, per_example, cfg.train.batch_size)

    def build(self, cfg: WaveNetConfig, generator: torch.Generator) -> WaveNet:
        return WaveNet(cfg, generator)

    def search_space(self, unit: str) -> tuple[str | None, dict[str, str]]:
        # makemore part 5's network; its context stays a power of two (a choice).
        return "wavenet", {
            "lr": "0.02:0.3:log",
            "block_size": "4,8,16",
            "n_embd": "12:48",
            "n_hidden": "64:256:log",
        }

    def describe(self, cfg: RunConfig, extra: Any) -> Description:
        m: WaveNetConfig = cfg.model
        size = f"{m.block_size}/{m.n_embd}/{m.n_hidden}"
        return Description(
            label=f"wavenet {size}",
            short=f"wn {size}",
            n=m.block_size + 1,
            h=m.n_hidden,
            m=m.n_embd,
            layers=m.n_layers,
            direct=False,
            params=m.n_params,
        )


FAMILY = WaveNetFamily()
