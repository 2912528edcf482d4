"""makemore.py's Transformer (GPT-2's blocks, as nanoGPT writes them): token and learned
position embeddings, ``n_layers`` pre-LayerNorm blocks of causal self-attention and a 4x
GELU MLP on a residual stream, a final layer norm, an output layer without bias.

Attention is ``F.scaled_dot_product_attention(is_causal=True)``: the fused kernel, the
same softmax(QK^T / sqrt(d)) V as makemore.py's explicit mask. ``dropout`` (nanoGPT's;
makemore.py has none) drops the embeddings and each block's two outputs with masks drawn
from the run's generator; attention weights are not dropped (the fused kernel would draw
from torch's global generator). ``tie``: the token embeddings are the output layer too
(GPT-2's, and ``--tie`` of the MLP), which a word vocabulary's size asks for.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ngramlm.models.neural import dropout
from ngramlm.models.sequence.config import TransformerConfig
from ngramlm.models.sequence.network import SequenceLM, embedding, linear


class Block(nn.Module):
    """x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, cfg: TransformerConfig, g: torch.Generator) -> None:
        super().__init__()
        C = cfg.n_embd
        self.n_head = cfg.n_head
        self.ln_1_w, self.ln_1_b = nn.Parameter(torch.ones(C)), nn.Parameter(torch.zeros(C))
        self.W_attn, self.b_attn = linear(g, C, 3 * C)  # q, k, v of every head at once
        self.W_attn_proj, self.b_attn_proj = linear(g, C, C)
        self.ln_2_w, self.ln_2_b = nn.Parameter(torch.ones(C)), nn.Parameter(torch.zeros(C))
        self.W_fc, self.b_fc = linear(g, C, 4 * C)
        self.W_mlp_proj, self.b_mlp_proj = linear(g, 4 * C, C)

    def forward(self, x: torch.Tensor, p: float, g: torch.Generator | None) -> torch.Tensor:
        B, T, C = x.shape
        h = F.layer_norm(x, (C,), self.ln_1_w, self.ln_1_b)
        q, k, v = F.linear(h, self.W_attn, self.b_attn).split(C, dim=2)  # (B, T, C) each
        heads = (B, T, self.n_head, C // self.n_head)
        q, k, v = (t.view(heads).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        y = F.linear(y.transpose(1, 2).reshape(B, T, C), self.W_attn_proj, self.b_attn_proj)
        x = x + (dropout(y, p, g) if p > 0 else y)
        h = F.layer_norm(x, (C,), self.ln_2_w, self.ln_2_b)
        h = F.gelu(F.linear(h, self.W_fc, self.b_fc), approximate="tanh")  # (B, T, 4C)
        y = F.linear(h, self.W_mlp_proj, self.b_mlp_proj)
        return x + (dropout(y, p, g) if p > 0 else y)


class Transformer(SequenceLM):
    def __init__(self, cfg: TransformerConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.cfg = cfg
        g, E = generator, cfg.n_embd
        self.C = embedding(g, cfg.vocab_size, E)  # the token embeddings (makemore.py's wte)
        self.wpe = embedding(g, cfg.block_size, E)
        self.blocks = nn.ModuleList(Block(cfg, g) for _ in range(cfg.n_layers))
        self.ln_f_w, self.ln_f_b = nn.Parameter(torch.ones(E)), nn.Parameter(torch.zeros(E))
        if cfg.tie:
            # C is the output layer too (GPT-2's tying): rows of norm ~1, not ~sqrt(E), so
            # that the first logits of a layer-normed state are near zero; the positions
            # are scaled alike, so that they do not drown the tokens.
            with torch.no_grad():
                self.C.mul_(1 / math.sqrt(E))
                self.wpe.mul_(1 / math.sqrt(E))
        else:
            self.W_out, self.b_out = linear(g, E, cfg.vocab_size, bias=False)

    def head(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return (self.C, None) if self.cfg.tie else (self.W_out, self.b_out)

    def body(self, idx: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        T = idx.shape[1]
        p = self.cfg.dropout if self.training else 0.0
        x = self.C[idx] + self.wpe[:T]  # (B, T, C)
        if p > 0:
            x = dropout(x, p, generator)
        for block in self.blocks:
            x = block(x, p, generator)
        return F.layer_norm(x, (self.cfg.n_embd,), self.ln_f_w, self.ln_f_b)
