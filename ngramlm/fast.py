"""A hand-written training step for the plain MLP: forward, backward and SGD, no autograd.

For the lecture's model (block_size 3, n_embd 10, n_hidden 200, 27 characters, batch 32)
every tensor is tiny, so a training step through autograd spends most of its time on
per-operation overhead: building the graph, allocating activations and gradients, one
Python call per parameter to clear and to update. ``FastSGD`` does the same math with
the gradients written out by hand, as in makemore part 4 ("becoming a backprop ninja"):

* cross-entropy: ``dlogits = (softmax(logits) - onehot(Y)) / B``;
* a linear layer ``h = x @ W + b``: ``dx = dh @ W.T``, ``dW = x.T @ dh``,
  ``db = dh.sum(0)``;
* tanh: ``dhpre = (1 - h**2) * dh``;
* the embedding lookup ``emb = C[X]``: ``dC`` is ``demb`` added back row by row at the
  looked-up indices (``index_add_``).

Every activation buffer is allocated once. The SGD update is fused into the gradient
computation: ``W.addmm_(x.T, dh, alpha=-lr)`` computes ``W - lr * x.T @ dh`` in one BLAS
call, ``b.addmv_(dh.T, ones, alpha=-lr)`` the bias update and ``C.index_add_(...,
alpha=-lr)`` the embedding update, so a step is about 16 tensor operations instead of
well over 40. Each parameter's gradient is used before that parameter is updated, so the
result is plain SGD up to float rounding.

The step works in place on the model's own parameter tensors (through detached aliases
of the same storage), so evaluation, ``model.state_dict()`` and checkpoints see the
trained weights without any copying. Build it after the model is on its device and
after any ``load_state_dict`` that replaces rather than copies tensors.
"""

from __future__ import annotations

import torch

from ngramlm.config import ModelConfig, TrainConfig
from ngramlm.model import MLP

_tanh_backward = torch.ops.aten.tanh_backward.grad_input


def supports(cfg: ModelConfig, tcfg: TrainConfig) -> bool:
    """Whether ``FastSGD`` computes exactly this configuration's training step.

    It covers the plain model (no normalisation, no dropout, no direct connections), any
    number of hidden layers, trained by SGD with optional L2 weight decay.
    """
    return (
        cfg.norm == "none"
        and cfg.dropout == 0
        and not cfg.direct
        and cfg.n_layers >= 1
        and tcfg.optimizer == "sgd"
    )


class FastSGD:
    """Forward, hand-written backward and in-place SGD for a plain ``MLP``.

    ``step(xb, yb, lr)`` is one step of ``torch.optim.SGD(model.parameters(), lr=lr,
    weight_decay=weight_decay)`` on the minibatch ``xb`` (B, block_size) int64 with
    targets ``yb`` (B,), and returns the minibatch's mean cross-entropy before the update
    as a 0-d tensor (no synchronisation). ``grads(xb, yb)`` computes the loss and the
    gradients without updating anything, for checking against autograd.
    """

    def __init__(self, model: MLP, batch_size: int, weight_decay: float = 0.0) -> None:
        cfg = model.cfg
        if cfg.norm != "none" or cfg.dropout != 0 or cfg.direct:
            raise ValueError("FastSGD covers the plain MLP: no norm, no dropout, no direct")
        self.model = model
        self.weight_decay = float(weight_decay)
        # Detached aliases: the same storage as the parameters, outside autograd, so the
        # in-place updates need no torch.no_grad() and build no graph.
        self.C = model.C.detach()
        self.W = [w.detach() for w in model.W]
        self.b = [b.detach() for b in model.b]
        self.W_out = model.W_out.detach()
        self.b_out = model.b_out.detach()
        self.WT = [w.t() for w in self.W]
        self.W_outT = self.W_out.t()
        self._grads: dict[str, torch.Tensor] | None = None
        self._allocate(batch_size)

    def _allocate(self, B: int) -> None:
        cfg = self.model.cfg
        T, E, H, V = cfg.block_size, cfg.n_embd, cfg.n_hidden, cfg.vocab_size
        dt, dev = self.C.dtype, self.C.device

        def empty(*shape: int) -> torch.Tensor:
            return torch.empty(*shape, dtype=dt, device=dev)

        self.B = B
        self.emb = empty(B * T, E)  # the looked-up embeddings, one row per character
        self.x = self.emb.view(B, T * E)  # their concatenation (a view)
        self.h = [empty(B, H) for _ in range(cfg.n_layers)]  # tanh outputs
        self.hT = [h.t() for h in self.h]
        self.inT = [self.x.t(), *self.hT[:-1]]  # each hidden layer's input, transposed
        self.logits = empty(B, V)
        self.logp = empty(B, V)
        self.dlogits = empty(B, V)  # softmax - onehot: still to be divided by B
        self.dlogitsT = self.dlogits.t()
        self.dh = [empty(B, H) for _ in range(cfg.n_layers)]  # d loss / d (pre-)activation
        self.dhT = [d.t() for d in self.dh]
        self.dx = empty(B, T * E)
        self.demb = self.dx.view(B * T, E)
        self.ones = torch.ones(B, dtype=dt, device=dev)
        self.minus_ones = torch.full((B, 1), -1.0, dtype=dt, device=dev)

    def _forward(self, flat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Logits into ``self.logits``, ``softmax - onehot`` into ``self.dlogits``; the loss."""
        torch.index_select(self.C, 0, flat, out=self.emb)
        inp = self.x
        for W, b, h in zip(self.W, self.b, self.h):
            torch.addmm(b, inp, W, out=h)
            h.tanh_()
            inp = h
        torch.addmm(self.b_out, inp, self.W_out, out=self.logits)
        # log_softmax subtracts each row's max before exponentiating: stable.
        torch.log_softmax(self.logits, 1, out=self.logp)
        loss = torch.nn.functional.nll_loss(self.logp, y)
        torch.exp(self.logp, out=self.dlogits)
        self.dlogits.scatter_add_(1, y.view(-1, 1), self.minus_ones)
        return loss

    def step(self, xb: torch.Tensor, yb: torch.Tensor, lr: float) -> torch.Tensor:
        """One SGD step on the minibatch; returns its loss (before the update), 0-d."""
        B = xb.shape[0]
        if B != self.B:
            self._allocate(B)
        flat = xb.reshape(-1)
        loss = self._forward(flat, yb)
        keep = 1.0 - lr * self.weight_decay  # L2 decay: p - lr * (g + wd * p)
        # Output layer. dh (already divided by B) is taken before W_out moves.
        n = len(self.W)
        dh = self.dh[n - 1]
        torch.addmm(dh, self.dlogits, self.W_outT, beta=0, alpha=1.0 / B, out=dh)
        self.W_out.addmm_(self.hT[n - 1], self.dlogits, beta=keep, alpha=-lr / B)
        self.b_out.addmv_(self.dlogitsT, self.ones, beta=keep, alpha=-lr / B)
        for i in range(n - 1, -1, -1):
            dh = self.dh[i]
            _tanh_backward(dh, self.h[i], grad_input=dh)
            torch.mm(dh, self.WT[i], out=self.dh[i - 1] if i else self.dx)
            self.W[i].addmm_(self.inT[i], dh, beta=keep, alpha=-lr)
            self.b[i].addmv_(self.dhT[i], self.ones, beta=keep, alpha=-lr)
        if keep != 1.0:
            self.C.mul_(keep)
        self.C.index_add_(0, flat, self.demb, alpha=-lr)
        return loss
