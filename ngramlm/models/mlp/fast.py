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
  looked-up indices, repeated rows accumulating.

Every activation buffer is allocated once. The SGD update is fused into the gradient
computation: ``W.addmm_(x.T, dh, alpha=-lr)`` computes ``W - lr * x.T @ dh`` in one BLAS
call, ``b.addmv_(dh.T, ones, alpha=-lr)`` the bias update, and the embedding gradient
comes out of its matmul already scaled by ``-lr`` and is accumulated straight into ``C``
(``index_put_(..., accumulate=True)``, as autograd's own indexing backward does). The
``1 / B`` of the mean is folded into the matmuls' ``alpha`` the same way. A step is 16
tensor operations (plus the minibatch gathers) where autograd and ``torch.optim.SGD``
need well over 40. Each parameter's gradient is used before that parameter moves, so
the result is plain SGD up to float rounding (L2 weight decay as ``torch.optim.SGD``
applies it included).

The step works in place on the model's own parameter tensors (through detached aliases
of the same storage), so evaluation, ``model.state_dict()`` and checkpoints see the
trained weights without any copying. Build it after the model is on its device and
after any ``load_state_dict`` that replaces rather than copies tensors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from ngramlm.config import TrainConfig
from ngramlm.models.mlp.network import MLP, MLPConfig
from ngramlm.models.output import chunked

# tanh's backward written into a buffer: d loss / d pre-activation = (1 - h**2) * dh.
# Shared with the batched step (``models.mlp.batched``), as is ``below_autograd``.
tanh_backward = torch.ops.aten.tanh_backward.grad_input

# No tensor in a step takes part in autograd, so the dispatcher's autograd and
# view/version-tracking layers can be skipped for all of its operations: about 1 us of
# the ~5 us each tiny operation costs (the guard torch's own custom-op machinery uses;
# like ``p.data += ...``, the updates then leave the parameters' version counters alone).
below_autograd: Callable[[], contextlib.AbstractContextManager[object]] = getattr(
    torch._C, "_AutoDispatchBelowADInplaceOrView", contextlib.nullcontext
)


def supports(cfg: MLPConfig, tcfg: TrainConfig) -> bool:
    """Whether ``FastSGD`` (and ``BatchedFastSGD``) compute exactly this configuration's
    training step: the plain model (no normalisation, dropout or direct connections),
    any number of hidden layers, trained by SGD with optional L2 weight decay, with a
    character-sized vocabulary (word vocabularies take the fused output layer of
    ``ngramlm.models.output``) in float32."""
    return (
        cfg.plain
        and cfg.n_layers >= 1
        and tcfg.optimizer == "sgd"
        and not chunked(cfg.vocab_size, tcfg.precision)
    )


class FastSGD:
    """Forward, hand-written backward and in-place SGD for a plain ``MLP``.

    ``step(xb, yb, lr)`` is one step of ``torch.optim.SGD(model.parameters(), lr=lr,
    weight_decay=weight_decay)`` on the minibatch ``xb`` (B, block_size) int64 with
    targets ``yb`` (B,), and returns the minibatch's mean cross-entropy before the update
    as a 0-d tensor (no synchronisation). ``step_ix(X, Y, ix, lr)`` gathers the minibatch
    ``X[ix], Y[ix]`` into its own buffers first (cheaper than indexing). ``grads(xb, yb)``
    computes the loss and the gradients without updating anything, for checking against
    autograd.
    """

    def __init__(self, model: MLP, batch_size: int, weight_decay: float = 0.0) -> None:
        if not model.cfg.plain:
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
        self._allocate(batch_size)

    def _allocate(self, B: int) -> None:
        cfg = self.model.cfg
        T, E, H, V = cfg.block_size, cfg.n_embd, cfg.n_hidden, cfg.vocab_size
        dev = self.C.device

        def zeros(*shape: int) -> torch.Tensor:
            return torch.zeros(*shape, dtype=self.C.dtype, device=dev)

        self.B = B
        self.xb = torch.zeros(B, T, dtype=torch.long, device=dev)  # step_ix's minibatch
        self.xflat = self.xb.view(-1)
        self.yb = torch.zeros(B, dtype=torch.long, device=dev)
        self.yb2 = self.yb.view(B, 1)
        self.emb = zeros(B * T, E)  # the looked-up embeddings, one row per character
        self.x = self.emb.view(B, T * E)  # their concatenation (a view)
        self.h = [zeros(B, H) for _ in range(cfg.n_layers)]  # tanh outputs
        self.hT = [h.t() for h in self.h]
        self.inT = [self.x.t(), *self.hT[:-1]]  # each hidden layer's input, transposed
        self.logits = zeros(B, V)
        self.logp = zeros(B, V)
        self.dlogits = zeros(B, V)  # softmax - onehot, still to be divided by B
        self.dlogitsT = self.dlogits.t()
        # d loss / d h, turned in place into d loss / d pre-activation by tanh's backward.
        self.dh = [zeros(B, H) for _ in range(cfg.n_layers)]
        self.dhT = [d.t() for d in self.dh]
        self.dx = zeros(B, T * E)  # d loss / d emb (times -lr when stepping)
        self.demb = self.dx.view(B * T, E)
        self.ones = torch.ones(B, dtype=self.C.dtype, device=dev)
        self.minus_ones = torch.full((B, 1), -1.0, dtype=self.C.dtype, device=dev)

    # --- the step -------------------------------------------------------------------------

    def step(self, xb: torch.Tensor, yb: torch.Tensor, lr: float) -> torch.Tensor:
        """One SGD step on the minibatch; returns its loss (before the update), 0-d."""
        if xb.shape[0] != self.B:
            self._allocate(xb.shape[0])
        with below_autograd():
            flat = xb.reshape(-1)
            loss = self._forward(flat, yb, yb.view(-1, 1))
            self._backward(flat, lr, None)
        return loss

    def step_ix(
        self, X: torch.Tensor, Y: torch.Tensor, ix: torch.Tensor, lr: float
    ) -> torch.Tensor:
        """``step(X[ix], Y[ix], lr)``, gathering the minibatch into preallocated buffers."""
        if ix.shape[0] != self.B:
            self._allocate(ix.shape[0])
        with below_autograd():
            if isinstance(X, torch.Tensor):
                torch.index_select(X, 0, ix, out=self.xb)
                torch.index_select(Y, 0, ix, out=self.yb)
            else:  # views of a token stream (data.Windows): they gather the rows
                self.xb.copy_(X[ix])
                self.yb.copy_(Y[ix])
            loss = self._forward(self.xflat, self.yb, self.yb2)
            self._backward(self.xflat, lr, None)
        return loss

    def grads(
        self, xb: torch.Tensor, yb: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss and the gradient of every parameter (named as in ``model``), no update.

        These are the gradients autograd leaves in ``p.grad`` after ``loss.backward()``,
        without weight decay (torch.optim.SGD adds ``weight_decay * p`` itself).
        """
        if xb.shape[0] != self.B:
            self._allocate(xb.shape[0])
        out = {name: torch.zeros_like(p.detach()) for name, p in self.model.named_parameters()}
        with below_autograd():
            flat = xb.reshape(-1)
            loss = self._forward(flat, yb, yb.view(-1, 1))
            self._backward(flat, 0.0, out)
        return loss, out

    def _forward(self, flat: torch.Tensor, y: torch.Tensor, y2: torch.Tensor) -> torch.Tensor:
        """Activations into the buffers, ``softmax - onehot`` into ``dlogits``; the loss."""
        torch.index_select(self.C, 0, flat, out=self.emb)
        inp = self.x
        for W, b, h in zip(self.W, self.b, self.h, strict=True):
            torch.addmm(b, inp, W, out=h)
            h.tanh_()
            inp = h
        torch.addmm(self.b_out, inp, self.W_out, out=self.logits)
        # log_softmax subtracts each row's max before exponentiating: stable.
        torch.log_softmax(self.logits, 1, out=self.logp)
        loss = torch.nn.functional.nll_loss(self.logp, y)
        torch.exp(self.logp, out=self.dlogits)
        self.dlogits.scatter_add_(1, y2, self.minus_ones)
        return loss

    def _backward(
        self, flat: torch.Tensor, lr: float, grads: dict[str, torch.Tensor] | None
    ) -> None:
        """Backpropagate ``dlogits / B``; update the parameters, or write into ``grads``.

        Each layer's input gradient is computed before that layer's weights move.
        """
        B, n = self.B, len(self.W)
        keep = 1.0 - lr * self.weight_decay  # L2 decay: p - lr * (g + wd * p)
        dh = self.dh[n - 1]
        torch.addmm(dh, self.dlogits, self.W_outT, beta=0, alpha=1.0 / B, out=dh)
        if grads is None:
            self.W_out.addmm_(self.hT[n - 1], self.dlogits, beta=keep, alpha=-lr / B)
            self.b_out.addmv_(self.dlogitsT, self.ones, beta=keep, alpha=-lr / B)
        else:
            g = grads["W_out"]
            torch.addmm(g, self.hT[n - 1], self.dlogits, beta=0, alpha=1.0 / B, out=g)
            g = grads["b_out"]
            torch.addmv(g, self.dlogitsT, self.ones, beta=0, alpha=1.0 / B, out=g)
        for i in range(n - 1, -1, -1):
            dh = self.dh[i]
            tanh_backward(dh, self.h[i], grad_input=dh)
            below = self.dh[i - 1] if i else self.dx
            if grads is None:
                # The embedding rows' gradient comes out already scaled by -lr.
                alpha = -lr if i == 0 else 1.0
                torch.addmm(below, dh, self.WT[i], beta=0, alpha=alpha, out=below)
                self.W[i].addmm_(self.inT[i], dh, beta=keep, alpha=-lr)
                self.b[i].addmv_(self.dhT[i], self.ones, beta=keep, alpha=-lr)
            else:
                torch.mm(dh, self.WT[i], out=below)
                torch.mm(self.inT[i], dh, out=grads[f"W.{i}"])
                torch.mv(self.dhT[i], self.ones, out=grads[f"b.{i}"])
        if grads is None:
            if keep != 1.0:
                self.C.mul_(keep)
            self.C.index_put_((flat,), self.demb, accumulate=True)
        else:
            grads["C"].index_put_((flat,), self.demb, accumulate=True)
