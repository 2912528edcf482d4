"""The MLP as a batched model: M plain MLPs of one shape stacked along a member axis
(``BatchedMLP``), its step written out by hand (``BatchedFastSGD``), and the two as the
family offers them to the batched engine (``Group``, ``MLPFamily.batched_stepper``), so
that ``ngramlm.training.batched`` never names the MLP.

The step is ``BatchedFastSGD``: ``ngramlm.models.mlp.fast``'s hand-written forward, backward and SGD
update (the gradients of makemore part 4, "becoming a backprop ninja") with a member axis
in front of every tensor:

* cross-entropy: ``dlogits = (softmax(logits) - onehot(Y)) / B`` per member;
* a linear layer ``h = x @ W + b`` (``baddbmm``): ``dx = dh @ W.T``, ``dW = x.T @ dh``,
  ``db = dh.sum(over the batch)``, all as batched matmuls;
* tanh: ``dhpre = (1 - h**2) * dh`` (``aten.tanh_backward``);
* the embedding lookup ``emb = C[X]``: the M tables are one (M*V, E) table, member m's
  characters are looked up at ``m*V + X``, and ``demb`` is added back at those rows.

Members differ in learning rate, so the learning rate cannot be a matmul's scalar
``alpha``. Every gradient is linear in ``dlogits``, so ``dlogits`` is multiplied once by
each member's ``lr / B`` (an (M, 1, 1) vector) and everything below it comes out already
scaled: each update is then ``p -= (scaled gradient)``, fused into the matmul that
computes it (``W.baddbmm_(x.T, dh, alpha=-1)``). Each layer's input gradient is computed
before that layer's weights move, so the result is plain SGD up to float rounding; L2
weight decay, as ``torch.optim.SGD`` applies it, is a multiplication of each parameter by
``1 - lr * weight_decay`` before its update (members may differ in weight decay too).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ngramlm.evaluation import EvalSet, OnChunk, nll_sums
from ngramlm.models.mlp.fast import below_autograd, tanh_backward
from ngramlm.models.mlp.network import MLP


class BatchedMLP:
    """M plain MLPs with stacked weights; parameters named as in ``MLP`` per member.

    The weights are plain tensors outside autograd (``BatchedFastSGD`` updates them in
    place): C (M, V, E), W[i] (M, fan_in, H), b[i] (M, 1, H), W_out (M, H, V),
    b_out (M, 1, V).
    """

    def __init__(self, models: Sequence[MLP], device: torch.device) -> None:
        self.cfg = models[0].cfg
        self.M = len(models)
        states = [m.state_dict() for m in models]

        def stack(name: str) -> torch.Tensor:
            return torch.stack([s[name].detach() for s in states]).to(device).contiguous()

        L = self.cfg.n_layers
        self.C = stack("C")  # (M, V, E)
        self.W = [stack(f"W.{i}") for i in range(L)]  # (M, fan_in, H)
        self.b = [stack(f"b.{i}").unsqueeze(1) for i in range(L)]  # (M, 1, H)
        self.W_out = stack("W_out")  # (M, H, V)
        self.b_out = stack("b_out").unsqueeze(1)  # (M, 1, V)
        self.offsets = (torch.arange(self.M, device=device) * self.cfg.vocab_size).view(
            self.M, 1, 1
        )

    def parameters(self) -> list[torch.Tensor]:
        return [self.C, *self.W, *self.b, self.W_out, self.b_out]

    def keep(self, members: Sequence[int]) -> None:
        """Keep only ``members`` (positions along the member axis, in order): the others'
        weights are dropped. A stepper built on the old tensors must be built again."""
        ix = torch.tensor(list(members), dtype=torch.long, device=self.C.device)

        def take(t: torch.Tensor) -> torch.Tensor:
            return t.index_select(0, ix).contiguous()

        self.C = take(self.C)
        self.W = [take(w) for w in self.W]
        self.b = [take(b) for b in self.b]
        self.W_out, self.b_out = take(self.W_out), take(self.b_out)
        self.M = len(members)
        self.offsets = self.offsets[: self.M].contiguous()

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X (M, B, T) int64 -> logits (M, B, V)."""
        M, B, T = X.shape
        E = self.cfg.n_embd
        emb = F.embedding(X + self.offsets, self.C.view(-1, E))  # (M, B, T, E)
        h = emb.view(M, B, T * E)
        for W, b in zip(self.W, self.b, strict=True):
            h = torch.tanh(torch.baddbmm(b, h, W))  # (M, B, H)
        return torch.baddbmm(self.b_out, h, self.W_out)  # (M, B, V)

    def member_state(self, i: int) -> dict[str, torch.Tensor]:
        """Member ``i``'s weights as ``MLP.state_dict()`` names them (1-D biases)."""
        out = {"C": self.C[i].cpu().clone()}
        for j, (W, b) in enumerate(zip(self.W, self.b, strict=True)):
            out[f"W.{j}"] = W[i].cpu().clone()
            out[f"b.{j}"] = b[i, 0].cpu().clone()
        out["W_out"] = self.W_out[i].cpu().clone()
        out["b_out"] = self.b_out[i, 0].cpu().clone()
        return out

    def evaluate(self, es: EvalSet, on_chunk: OnChunk | None = None) -> list[float]:
        """Each member's mean cross-entropy over every example of the split."""

        def logits_of(U: torch.Tensor) -> torch.Tensor:
            return self.forward(U.unsqueeze(0).expand(self.M, -1, -1))  # (M, n, V)

        nll = nll_sums(logits_of, es, members=self.M, on_chunk=on_chunk)  # (M,)
        return (nll / max(1, es.Y.shape[0])).tolist()


class BatchedFastSGD:
    """``models.mlp.fast.FastSGD`` for a ``BatchedMLP``: one SGD step of every member at once.

    ``step_ix(X, Y, ix, lr)`` gathers member m's minibatch ``X[ix[m]], Y[ix[m]]``
    (``ix`` (M, B) int64) into preallocated buffers, runs the forward pass, the
    hand-written backward pass and the update with member m's learning rate ``lr[m]``
    (``lr`` an (M, 1, 1) tensor; ``lr / B`` is cached while the same tensor object comes
    back, so pass a new tensor when the rates change) and weight decay (``weight_decay``:
    one for every member or one a member), and returns each member's *summed* minibatch
    log-likelihood (M,) before the update: the mean cross-entropy is ``-out / B``.
    ``grads(xb, yb)`` (xb (M, B, T), yb (M, B)) computes the mean losses and each
    member's gradients (``MLP`` names, no weight decay) without updating anything.
    """

    def __init__(
        self, net: BatchedMLP, batch_size: int, weight_decay: float | Sequence[float] = 0.0
    ) -> None:
        self.net = net
        wd = [float(weight_decay)] if isinstance(weight_decay, (int, float)) else weight_decay
        # (1, 1, 1) or (M, 1, 1); None: no decay at all (no multiplication by 1)
        self.weight_decay: torch.Tensor | None = (
            torch.tensor(list(wd), dtype=net.C.dtype, device=net.C.device).view(-1, 1, 1)
            if any(wd)
            else None
        )
        self.WT = [w.transpose(1, 2) for w in net.W]
        self.W_outT = net.W_out.transpose(1, 2)
        self.Cflat = net.C.view(-1, net.cfg.n_embd)  # (M*V, E), shares net.C's storage
        self._lr: torch.Tensor | None = None
        self._lr_over_B = torch.ones(())
        self._keep: torch.Tensor | None = None
        self._allocate(batch_size)

    def _allocate(self, B: int) -> None:
        net, cfg = self.net, self.net.cfg
        M, T, E, H, V = net.M, cfg.block_size, cfg.n_embd, cfg.n_hidden, cfg.vocab_size
        dev, dtype = net.C.device, net.C.dtype

        def zeros(*shape: int) -> torch.Tensor:
            return torch.zeros(*shape, dtype=dtype, device=dev)

        self.B = B
        self._lr = None  # lr / B depends on B
        self.xb = torch.zeros(M, B, T, dtype=torch.long, device=dev)  # the minibatches
        self.xb2 = self.xb.view(M * B, T)
        self.idx = torch.zeros(M, B, T, dtype=torch.long, device=dev)  # rows of Cflat
        self.idx_flat = self.idx.view(-1)
        self.yb = torch.zeros(M, B, dtype=torch.long, device=dev)
        self.yb_flat = self.yb.view(-1)
        self.yb3 = self.yb.view(M, B, 1)
        self.emb = zeros(M * B * T, E)  # the looked-up embeddings, one row per character
        self.x = self.emb.view(M, B, T * E)  # their concatenation (a view)
        self.h = [zeros(M, B, H) for _ in range(cfg.n_layers)]  # tanh outputs
        self.hT = [h.transpose(1, 2) for h in self.h]
        self.inT = [self.x.transpose(1, 2), *self.hT[:-1]]  # each layer's input, transposed
        self.logits = zeros(M, B, V)
        self.logp = zeros(M, B, V)
        self.picked = zeros(M, B, 1)  # log p(target)
        self.loglik = zeros(M)  # its sum over the minibatch, per member
        self.dlogits = zeros(M, B, V)  # softmax - onehot, then times lr / B
        # d loss / d h, turned in place into d loss / d pre-activation by tanh's backward.
        self.dh = [zeros(M, B, H) for _ in range(cfg.n_layers)]
        self.dx = zeros(M, B, T * E)  # d loss / d emb (times -lr when stepping: lr is in dh)
        self.demb = self.dx.view(M * B * T, E)
        self.ones = torch.ones(M, 1, B, dtype=dtype, device=dev)  # bias grads: sum over B
        self.minus_ones = torch.full((M, B, 1), -1.0, dtype=dtype, device=dev)

    # --- the step -------------------------------------------------------------------------

    def step_ix(
        self, X: torch.Tensor, Y: torch.Tensor, ix: torch.Tensor, lr: torch.Tensor
    ) -> torch.Tensor:
        """One SGD step of every member on ``X[ix[m]], Y[ix[m]]``; returns the (M,)
        summed log-likelihoods of the minibatches before the update (a buffer: read it
        before the next step)."""
        if ix.shape[1] != self.B:
            self._allocate(ix.shape[1])
        with below_autograd():
            if lr is not self._lr:  # a new schedule value: rescale once, not every step
                self._lr = lr
                self._lr_over_B = (lr / self.B).view(-1, 1, 1)
                # L2 decay as torch.optim.SGD applies it: p - lr * (g + wd * p).
                wd = self.weight_decay
                self._keep = None if wd is None else (1.0 - lr.view(-1, 1, 1) * wd)
            flat = ix.reshape(-1)
            if isinstance(X, torch.Tensor):
                torch.index_select(X, 0, flat, out=self.xb2)
                torch.index_select(Y, 0, flat, out=self.yb_flat)
            else:  # views of a token stream (data.Windows): they gather the rows
                self.xb2.copy_(X[flat])
                self.yb_flat.copy_(Y[flat])
            self._forward()
            self.dlogits.mul_(self._lr_over_B)  # every gradient below is now scaled
            self._backward(self._keep, None)
        return self.loglik

    def grads(
        self, xb: torch.Tensor, yb: torch.Tensor
    ) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """Each member's mean loss (M,) and gradients (``MLP`` names), no update."""
        if xb.shape[1] != self.B:
            self._allocate(xb.shape[1])
        net = self.net
        out = [
            {name: torch.zeros_like(p) for name, p in net.member_state(0).items()}
            for _ in range(net.M)
        ]
        stacked = {
            "C": torch.zeros_like(net.C),
            **{f"W.{i}": torch.zeros_like(w) for i, w in enumerate(net.W)},
            **{f"b.{i}": torch.zeros_like(b) for i, b in enumerate(net.b)},
            "W_out": torch.zeros_like(net.W_out),
            "b_out": torch.zeros_like(net.b_out),
        }
        with below_autograd():
            self.xb.copy_(xb)
            self.yb.copy_(yb)
            self._forward()
            self.dlogits.mul_(1.0 / self.B)
            self._backward(None, stacked)
        for name, g in stacked.items():
            for m in range(net.M):
                out[m][name].copy_(g[m].reshape(out[m][name].shape))
        return -self.loglik / self.B, out

    # ``_forward`` and ``_backward`` are ``FastSGD``'s with a member axis (bmm for mm), kept
    # twins: one body over both would add a view or a branch to every operation of a step
    # whose tiny tensors make per-operation overhead the cost.
    def _forward(self) -> None:
        """Activations into the buffers, ``softmax - onehot`` into ``dlogits``, and the
        minibatch log-likelihoods into ``loglik``."""
        net = self.net
        torch.add(self.xb, net.offsets, out=self.idx)
        torch.index_select(self.Cflat, 0, self.idx_flat, out=self.emb)
        inp = self.x
        for W, b, h in zip(net.W, net.b, self.h, strict=True):
            torch.baddbmm(b, inp, W, out=h)
            h.tanh_()
            inp = h
        torch.baddbmm(net.b_out, inp, net.W_out, out=self.logits)
        # log_softmax subtracts each row's max before exponentiating: stable.
        torch.log_softmax(self.logits, 2, out=self.logp)
        torch.gather(self.logp, 2, self.yb3, out=self.picked)
        torch.sum(self.picked.view(self.picked.shape[0], -1), 1, out=self.loglik)
        torch.exp(self.logp, out=self.dlogits)
        self.dlogits.scatter_add_(2, self.yb3, self.minus_ones)

    def _backward(self, keep: torch.Tensor | None, grads: dict[str, torch.Tensor] | None) -> None:
        """Backpropagate the (already scaled) ``dlogits``; update the parameters, or write
        the stacked gradients into ``grads``. Each layer's input gradient is computed
        before that layer's weights move."""
        net, n = self.net, len(self.net.W)
        dh = self.dh[n - 1]
        torch.bmm(self.dlogits, self.W_outT, out=dh)
        if grads is None:
            if keep is not None:
                net.W_out.mul_(keep)
                net.b_out.mul_(keep)
            net.W_out.baddbmm_(self.hT[n - 1], self.dlogits, alpha=-1)
            net.b_out.baddbmm_(self.ones, self.dlogits, alpha=-1)
        else:
            torch.bmm(self.hT[n - 1], self.dlogits, out=grads["W_out"])
            torch.bmm(self.ones, self.dlogits, out=grads["b_out"])
        for i in range(n - 1, -1, -1):
            dh = self.dh[i]
            tanh_backward(dh, self.h[i], grad_input=dh)
            below = self.dh[i - 1] if i else self.dx
            if grads is None:
                # The embedding rows' gradient comes out already negated.
                if i == 0:
                    torch.baddbmm(below, dh, self.WT[i], beta=0, alpha=-1, out=below)
                else:
                    torch.bmm(dh, self.WT[i], out=below)
                if keep is not None:
                    net.W[i].mul_(keep)
                    net.b[i].mul_(keep)
                net.W[i].baddbmm_(self.inT[i], dh, alpha=-1)
                net.b[i].baddbmm_(self.ones, dh, alpha=-1)
            else:
                torch.bmm(dh, self.WT[i], out=below)
                torch.bmm(self.inT[i], dh, out=grads[f"W.{i}"])
                torch.bmm(self.ones, dh, out=grads[f"b.{i}"])
        if grads is None:
            if keep is not None:
                net.C.mul_(keep)
            self.Cflat.index_put_((self.idx_flat,), self.demb, accumulate=True)
        else:
            gflat = grads["C"].view(-1, net.cfg.n_embd)
            gflat.index_put_((self.idx_flat,), self.demb, accumulate=True)


class Group:
    """A ``BatchedMLP`` and its ``BatchedFastSGD`` as the batched engine asks for them
    (``ngramlm.models.base.BatchedStepper``); the step is built again when members leave."""

    def __init__(
        self,
        models: Sequence[MLP],
        device: torch.device,
        batch_size: int,
        weight_decay: Sequence[float],
    ) -> None:
        self.net = BatchedMLP(models, device)
        self.batch_size, self.weight_decay = batch_size, list(weight_decay)
        self.stepper = BatchedFastSGD(self.net, batch_size, self.weight_decay)

    def step_ix(
        self, X: torch.Tensor, Y: torch.Tensor, ix: torch.Tensor, lr: torch.Tensor
    ) -> torch.Tensor:
        return self.stepper.step_ix(X, Y, ix, lr)

    def keep(self, members: Sequence[int]) -> None:
        self.net.keep(members)
        self.weight_decay = [self.weight_decay[p] for p in members]
        self.stepper = BatchedFastSGD(self.net, self.batch_size, self.weight_decay)

    def member_state(self, p: int) -> dict[str, torch.Tensor]:
        return self.net.member_state(p)

    def evaluate(self, es: EvalSet, on_chunk: OnChunk | None = None) -> list[float]:
        return self.net.evaluate(es, on_chunk)
