"""makemore.py's causal bag of words: token and learned position embeddings, each
position given the average of the embeddings so far (a causal attention whose weights
are all equal), then a tanh MLP, both on a residual stream, and the output layer."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ngramlm.models.sequence.config import BoWConfig
from ngramlm.models.sequence.network import SequenceLM, embedding, linear


class BoW(SequenceLM):
    def __init__(self, cfg: BoWConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.cfg = cfg
        g, E, H = generator, cfg.n_embd, cfg.n_hidden
        self.C = embedding(g, cfg.vocab_size, E)
        self.wpe = embedding(g, cfg.block_size, E)
        self.W_fc, self.b_fc = linear(g, E, H)
        self.W_proj, self.b_proj = linear(g, H, E)
        self.W_out, self.b_out = linear(g, E, cfg.vocab_size)

    def body(self, idx: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        T = idx.shape[1]
        x = self.C[idx] + self.wpe[:T]  # (B, T, E)
        seen = torch.arange(1, T + 1, device=x.device, dtype=x.dtype).unsqueeze(1)  # (T, 1)
        x = x + x.cumsum(1) / seen  # the mean of positions 0..t
        return x + F.linear(torch.tanh(F.linear(x, self.W_fc, self.b_fc)), self.W_proj, self.b_proj)
