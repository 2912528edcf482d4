"""Training several sweep points at once as one batched model.

Points of a sweep that share an architecture and a schedule (they differ in learning rate
and seed only) are stacked along a leading member axis M: every weight becomes (M, ...),
every matmul a batched matmul, and each member keeps its own generator, minibatches and
learning rate. One step of the batch is a handful of larger operations instead of M
rounds of tiny ones, which is what a small MLP on a CPU is starved of.

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
``1 - lr * weight_decay`` before its update.

Each member is initialised from its own seed exactly as a solo run would be, draws its
minibatches from its own generator in the same order, and is evaluated on the same
splits, so it ends with the losses of the same point trained alone (tests check 1e-4).
Checkpoints are written per member under the solo model's parameter names, so any
member can be resumed on its own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ngramlm.config import RunConfig, config_hash
from ngramlm.evaluation import EvalSet, nll_sums
from ngramlm.models import family_of
from ngramlm.models.mlp import MLP
from ngramlm.models.mlp.fast import below_autograd, tanh_backward
from ngramlm.training.loop import (
    EvalPoint,
    Examples,
    Hooks,
    TrainResult,
    TrainState,
    draw,
    schedule,
)


def group_key(cfg: RunConfig) -> str:
    """Points that differ only in learning rate and seed share a shape and a schedule:
    they can be trained together as one batched model."""
    return config_hash(cfg.to_dict(), ignore=("lr", "seed", "device"))


def supports(cfgs: Sequence[RunConfig]) -> bool:
    """Two or more members that share everything but lr and seed, of a config the family
    says trains batched (the plain MLP under SGD, any number of hidden layers)."""
    if len(cfgs) < 2:
        return False
    key = group_key(cfgs[0])
    return family_of(cfgs[0]).batchable(cfgs[0]) and all(group_key(c) == key for c in cfgs)


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

    def evaluate(self, es: EvalSet) -> list[float]:
        """Each member's mean cross-entropy over every example of the split."""

        def logits_of(U: torch.Tensor) -> torch.Tensor:
            return self.forward(U.unsqueeze(0).expand(self.M, -1, -1))  # (M, n, V)

        nll = nll_sums(logits_of, es, members=self.M)  # (M,)
        return (nll / max(1, es.Y.shape[0])).tolist()


class BatchedFastSGD:
    """``models.mlp.fast.FastSGD`` for a ``BatchedMLP``: one SGD step of every member at once.

    ``step_ix(X, Y, ix, lr)`` gathers member m's minibatch ``X[ix[m]], Y[ix[m]]``
    (``ix`` (M, B) int64) into preallocated buffers, runs the forward pass, the
    hand-written backward pass and the update with member m's learning rate ``lr[m]``
    (``lr`` an (M, 1, 1) tensor; ``lr / B`` is cached while the same tensor object comes
    back, so pass a new tensor when the rates change), and returns each member's *summed* minibatch
    log-likelihood (M,) before the update: the mean cross-entropy is ``-out / B``.
    ``grads(xb, yb)`` (xb (M, B, T), yb (M, B)) computes the mean losses and each
    member's gradients (``MLP`` names, no weight decay) without updating anything.
    """

    def __init__(self, net: BatchedMLP, batch_size: int, weight_decay: float = 0.0) -> None:
        self.net = net
        self.weight_decay = float(weight_decay)
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
                self._keep = (1.0 - lr * wd).view(-1, 1, 1) if wd else None
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


def train_batched(
    cfgs: Sequence[RunConfig],
    examples: Examples,
    device: torch.device,
    hooks: Sequence[Hooks],
) -> list[TrainResult]:
    """Train every member from scratch; one ``Hooks`` per member."""
    assert supports(cfgs) and len(hooks) == len(cfgs)
    M = len(cfgs)
    t0 = time.perf_counter()
    generators = [torch.Generator().manual_seed(c.train.seed) for c in cfgs if c.train]
    models = [MLP(c.model, g) for c, g in zip(cfgs, generators, strict=True)]
    net = BatchedMLP(models, device)
    ex = examples.to(device)
    V = net.cfg.vocab_size
    train_set, dev_set = EvalSet.of(ex.Xtr, ex.Ytr, V), EvalSet.of(ex.Xdev, ex.Ydev, V)
    member_cfgs = [c.train for c in cfgs if c.train]
    t = member_cfgs[0]
    n, B = ex.Xtr.shape[0], t.batch_size
    stepper = BatchedFastSGD(net, B, t.weight_decay)
    acc = torch.zeros(M, dtype=torch.float64, device=device)  # -(summed log-likelihoods)
    count = 0
    points: list[list[EvalPoint]] = [[] for _ in range(M)]
    lr_vec = torch.zeros(M, 1, 1, device=device)
    # The minibatch indices are drawn on the CPU, from each member's own generator, in
    # the solo loop's order (one draw per member and step) straight into one buffer.
    ix_cpu = torch.zeros(M, B, dtype=torch.long)
    ix_rows = list(ix_cpu)
    on_cpu = device.type == "cpu"
    ix_dev = ix_cpu if on_cpu else torch.zeros(M, B, dtype=torch.long, device=device)
    # Members share the schedule's shape; each has its own peak rate.
    schedules = [schedule(c) for c in member_cfgs]

    def elapsed() -> float:
        return time.perf_counter() - t0

    def snapshot(i: int, step: int, loss_sum: float, n_losses: int) -> TrainState:
        return TrainState(
            step=step,
            model=net.member_state(i),
            optimizer={},
            rng=generators[i].get_state(),
            batch_loss_sum=loss_sum,
            batch_loss_count=n_losses,
            elapsed_s=elapsed(),
        )

    lrs: tuple[float, ...] = ()
    for ticks in zip(*schedules, strict=True):
        tick = ticks[0]
        if any(h.should_stop() for h in hooks):
            sums = acc.tolist()
            return [
                TrainResult(snapshot(i, tick.step, sums[i], count), stopped=True, points=points[i])
                for i in range(M)
            ]
        if tuple(k.lr for k in ticks) != lrs:  # a new tensor only when the rates change
            lrs = tuple(k.lr for k in ticks)
            lr_vec = torch.tensor(lrs, device=device).view(M, 1, 1)
        for g, row in zip(generators, ix_rows, strict=True):
            draw(g, n, B, out=row)
        if not on_cpu:
            ix_dev.copy_(ix_cpu)
        loglik = stepper.step_ix(ex.Xtr, ex.Ytr, ix_dev, lr_vec)
        acc.sub_(loglik, alpha=1.0 / B)
        count += 1
        done = tick.done
        if tick.progress:
            last = (loglik / -B).tolist()
            for i, h in enumerate(hooks):
                h.on_progress(done, last[i], elapsed())
        if tick.evaluate:
            sums = acc.tolist()
            acc.zero_()
            tr, dv = net.evaluate(train_set), net.evaluate(dev_set)
            for i, h in enumerate(hooks):
                point = EvalPoint(done, elapsed(), lrs[i], sums[i] / count, tr[i], dv[i])
                points[i].append(point)
                h.on_eval(point)
            count = 0
        if tick.checkpoint:
            sums = acc.tolist()
            for i, h in enumerate(hooks):
                h.on_checkpoint(snapshot(i, done, sums[i], count))
    sums = acc.tolist()
    return [
        TrainResult(
            snapshot(i, t.steps, sums[i], count),
            stopped=False,
            train_loss=points[i][-1].train_loss if points[i] else None,
            dev_loss=points[i][-1].dev_loss if points[i] else None,
            points=points[i],
        )
        for i in range(M)
    ]
