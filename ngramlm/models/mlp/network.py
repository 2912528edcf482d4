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

import torch
import torch.nn.functional as F
from torch import nn

from ngramlm.models.mlp.config import INITS, NORMS, PRESETS, Init, MLPConfig, Norm
from ngramlm.models.neural import NeuralLM, dropout
from ngramlm.models.output import chunked, linear_cross_entropy

__all__ = ["INITS", "MLP", "NORMS", "PRESETS", "Init", "MLPConfig", "Norm"]

BN_MOMENTUM = 0.001  # makemore part 3's running-statistics momentum (small batches)
NORM_EPS = 1e-5


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
            self.add_batch_norm_stats(cfg.n_layers, H)
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
            x = dropout(x, cfg.embd_dropout, dropout_generator)
        h = x
        for i in range(cfg.n_layers):
            hpre = h @ self.W[i] + self.b[i]  # (B, H)
            if cfg.norm == "batch":
                hpre = self.batch_norm(
                    i, hpre, self.gamma[i], self.beta[i], momentum=BN_MOMENTUM, eps=NORM_EPS
                )
            elif cfg.norm == "layer":
                hpre = F.layer_norm(hpre, (cfg.n_hidden,), self.gamma[i], self.beta[i], NORM_EPS)
            h = torch.tanh(hpre)  # (B, H)
            if self.training and cfg.dropout > 0:
                h = dropout(h, cfg.dropout, dropout_generator)
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
