"""The MLP language model of Bengio, Ducharme, Vincent & Jauvin (2003), "A Neural
Probabilistic Language Model", as built in makemore part 2.

Each of the ``block_size`` previous characters is looked up in an embedding table C
(V x n_embd); the embeddings are concatenated (a view, no copy), passed through
``n_layers`` tanh hidden layers and projected to logits over the V characters. Options
from the paper and the lecture series: part 3's initialisation and batch norm, layer
norm, dropout, and the paper's direct connections from the embeddings to the output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ngramlm.config import ModelConfig

BN_MOMENTUM = 0.001  # makemore part 3's running-statistics momentum (small batches)
NORM_EPS = 1e-5


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig, generator: torch.Generator) -> None:
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

    @property
    def block_size(self) -> int:
        return self.cfg.block_size

    @torch.no_grad()
    def logits(self, contexts: torch.Tensor) -> torch.Tensor:
        """Eval-mode logits of the next token after each context (``lm.LanguageModel``)."""
        was_training = self.training
        self.eval()
        out = self(contexts)[0]
        self.train(was_training)
        return out

    @torch.no_grad()
    def mean_nll(self, X: torch.Tensor, Y: torch.Tensor, chunk: int = 65_536) -> float:
        """Mean cross-entropy (nats per character) of Y after X, in eval mode."""
        total = 0.0
        for i in range(0, X.shape[0], chunk):
            logits = self.logits(X[i : i + chunk])
            total += F.cross_entropy(logits, Y[i : i + chunk], reduction="sum").item()
        return total / max(1, X.shape[0])

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        dropout_generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        cfg = self.cfg
        emb = self.C[idx]  # (B, T, E)
        x = emb.view(emb.shape[0], -1)  # (B, T*E): concatenation as a view
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
                keep = 1.0 - cfg.dropout
                mask = torch.rand(h.shape, generator=dropout_generator).to(h.device) < keep
                h = h * mask / keep
        logits = h @ self.W_out + self.b_out  # (B, V)
        if cfg.direct:
            logits = logits + x @ self.W_direct
        loss = None if targets is None else F.cross_entropy(logits, targets)
        return logits, loss
