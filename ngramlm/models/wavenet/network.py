"""makemore part 5's WaveNet as a torch module (the family's docstring tells its shape)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ngramlm.models.neural import NeuralLM
from ngramlm.models.wavenet.config import WaveNetConfig

BN_MOMENTUM = 0.1  # the lecture's BatchNorm1d
BN_EPS = 1e-5
OUT_SCALE = 0.1  # the lecture: "last layer: make less confident"


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
        self.add_batch_norm_stats(cfg.n_layers, H)
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
            flat = self.batch_norm(
                i, flat, self.gamma[i], self.beta[i], momentum=BN_MOMENTUM, eps=BN_EPS
            )
            x = torch.tanh(flat).view(h.shape)  # (B, T/2, H)
        logits = x.reshape(B, -1) @ self.W_out + self.b_out  # (B, V)
        loss = None if targets is None else F.cross_entropy(logits, targets)
        return logits, loss
