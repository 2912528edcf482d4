"""makemore.py's RNN and GRU: one cell stepped over the window from a learned start
state, its state at each position the hidden state there.

The vanilla cell (Elman 1990) is ``h = tanh(W [x, h] + b)``; the GRU's (Cho et al. 2014)
gates it: ``r = sigmoid(W_r [x, h])``, ``hbar = tanh(W_h [x, r * h])``, ``z = sigmoid(W_z
[x, h])``, ``h = (1 - z) h + z hbar``, makemore.py's ``GRUCell``. Each linear map of
``[x, h]`` is split into its input and state halves, and the input halves of every
position are one product before the loop: the same sums, a product a step fewer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ngramlm.models.sequence.config import RNNConfig
from ngramlm.models.sequence.network import SequenceLM, embedding, uniform


class Recurrent(SequenceLM):
    def __init__(self, cfg: RNNConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.cfg = cfg
        g, E, H, G = generator, cfg.n_embd, cfg.n_hidden, cfg.gates
        self.start = nn.Parameter(torch.zeros(H))  # the state before the first token
        self.C = embedding(g, cfg.vocab_size, E)
        # makemore.py's nn.Linear(E + H, H) for each gate (GRU: z, r, hbar), by halves
        bound = 1 / (E + H) ** 0.5
        self.W_x = uniform(g, bound, G * H, E)
        self.W_h = uniform(g, bound, G * H, H)
        self.b = uniform(g, bound, G * H)
        W_out, b_out = (
            uniform(g, 1 / H**0.5, cfg.vocab_size, H),
            uniform(g, 1 / H**0.5, cfg.vocab_size),
        )
        self.W_out, self.b_out = W_out, b_out

    def body(self, idx: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        B, T = idx.shape
        H = self.cfg.n_hidden
        xs = F.linear(self.C[idx], self.W_x, self.b)  # (B, T, G*H): every input half
        h = self.start.expand(B, H)
        out = []
        for t in range(T):
            x = xs[:, t]
            if self.cfg.gates == 1:
                h = torch.tanh(x + h @ self.W_h.t())
            else:
                zr = torch.sigmoid(x[:, : 2 * H] + h @ self.W_h[: 2 * H].t())
                z, r = zr[:, :H], zr[:, H:]
                hbar = torch.tanh(x[:, 2 * H :] + (r * h) @ self.W_h[2 * H :].t())
                h = (1 - z) * h + z * hbar
            out.append(h)
        return torch.stack(out, 1)  # (B, T, H)
