"""The output layer and the cross-entropy, computed together: no softmax over B x V logits.

With a word vocabulary (V ~ 14k on Brown) a training step is dominated by the output
layer: the plain path makes the B x V logits, their log-softmax, the softmax's gradient,
each a float32 tensor far beyond cache (29 MB at 512 x 14,115), and goes through them
several times. ``linear_cross_entropy`` computes the loss and every gradient from one
tensor, ``E = exp(logits - shift)`` with each row's shift its target's logit, made in
column chunks that stay in cache while they are exponentiated. The shift rides in the
product itself: the inputs are stacked as ``A = [x_1 .. x_k, 1, -shift]`` against
``Wa = [W_1; ..; W_k; b; 1]``, so ``A @ Wa`` is the shifted logits with the bias added,
and no pass over the logits subtracts anything. Then two products give the rest:

* ``E @ Wa.T``: the inputs' gradients before each row's 1 / sum (``softmax @ W.T`` is
  ``E @ W.T / sum``), and through ``Wa``'s row of ones each row's sum of ``E``, hence its
  log-sum-exp and the loss;
* ``(A * s).T @ E`` with ``s = 1 / (n * sum)``: the matrices' and the bias's gradients.

The one-hot part of ``softmax - onehot`` is subtracted at the targets' columns. The
gradients are made in the forward pass (the loss is the graph's last node, as in
Liger-Kernel's fused linear cross-entropy); the backward pass only scales them. Exact:
the full softmax, no sampling; in float32 it agrees with ``F.cross_entropy(logits)`` to
float rounding. A row with a logit more than ~44 nats above its target's (a model far
from trained) would push its sum toward float32's range: the block is then made again
shifted by each row's maximum. Memory is bounded: ``E`` is kept for ``BLOCK_FLOATS``
logits at most (one row at least), rows beyond that go through block by block; beside it
live a few weight-sized tensors (the stacked weights, their gradient).

``precision="bf16"`` runs the three products and keeps ``E`` in bfloat16, which pays on
CPUs with bfloat16 matrix units (Intel AMX, AVX512-BF16) and on CUDA;
``runtime.resolve_precision("auto", ...)`` takes it only there. The products accumulate in
float32 but hand back bfloat16, so each row's sum (its loss, ~0.004 nats at most) and
each gradient entry carry bfloat16's rounding (8 bits of mantissa, <= 0.4%); the target
logits, the log-sum-exp and the gradients' one-hot parts are float32, and the gradients
are returned in float32. Summing ``E`` in float32 instead would cost ~12% of the step on
AMX for a rounding that the training curves do not show (Brown's table came out the same
to 0.1 perplexity in both precisions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ngramlm.runtime import FUSED_MIN_VOCAB

# Logits per row block, whose exp(logits - shift) are kept (in the step's precision)
# between the products that use them: 2^23 of them, 16 MiB in bfloat16 and 32 MiB in
# float32; a minibatch of 512 over a 14k vocabulary is one block.
BLOCK_FLOATS = 2**23
# Bytes of logits per column chunk while they are made and exponentiated (in cache).
CHUNK_BYTES = 2**23


def chunked(vocab_size: int, precision: str) -> bool:
    """Whether a training step takes ``linear_cross_entropy`` rather than the plain
    logits and ``F.cross_entropy``: a word-sized vocabulary, or bfloat16 asked for.
    ``precision`` may be the asked one (``auto`` is never bf16 below ``FUSED_MIN_VOCAB``)
    or the resolved one: the answer is the same."""
    return vocab_size >= FUSED_MIN_VOCAB or precision == "bf16"


def block_rows(vocab_size: int) -> int:
    """Rows per block: as many as keep a block's logits within ``BLOCK_FLOATS``."""
    return max(1, BLOCK_FLOATS // max(1, vocab_size))


def chunk_columns(rows: int, itemsize: int = 4) -> int:
    """Columns per chunk: as many as keep a chunk within ``CHUNK_BYTES``, 128 at least."""
    return max(128, CHUNK_BYTES // max(1, rows * itemsize))


def _stack(
    inputs: Sequence[torch.Tensor],
    weights: Sequence[torch.Tensor],
    bias: torch.Tensor,
    dt: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``A = [x_1 .. x_k, 1, 0]`` (n, K + 2) and ``Wa = [W_1; ..; W_k; b; 1]`` (K + 2, V)
    in ``dt``: ``A @ Wa`` is the logits; set ``A[:, K + 1]`` to minus a row shift and it
    is the shifted logits, and ``E @ Wa.T``'s last column is each row's sum of ``E``."""
    n, V, K = inputs[0].shape[0], bias.shape[0], sum(x.shape[1] for x in inputs)
    A = torch.empty((n, K + 2), dtype=dt, device=bias.device)
    Wa = torch.empty((K + 2, V), dtype=dt, device=bias.device)
    k = 0
    for x, W in zip(inputs, weights, strict=True):
        A[:, k : k + x.shape[1]] = x
        Wa[k : k + x.shape[1]] = W
        k += x.shape[1]
    A[:, K], A[:, K + 1] = 1.0, 0.0
    Wa[K], Wa[K + 1] = bias, 1.0
    return A, Wa


def _exp_block(
    a: torch.Tensor, Wa: torch.Tensor, shift: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For rows ``a`` of the stacked inputs: ``E = exp(a @ Wa - shift)`` (in ``a``'s
    dtype), ``R = E @ Wa.T`` (float32; its last column is each row's sum of ``E``) and
    the rows' log-sum-exp. ``shift`` (float32) is each row's target logit; where that
    overflows, the rows' maxima are taken instead. ``a``'s last column is overwritten."""
    m, V = a.shape[0], Wa.shape[1]
    E = torch.empty((m, V), dtype=a.dtype, device=a.device)
    c = chunk_columns(m, E.element_size())

    def fill(shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a[:, -1] = -shift
        for lo in range(0, V, c):
            torch.exp(a @ Wa[:, lo : lo + c], out=E[:, lo : lo + c])
        return E, (E @ Wa.t()).float()

    shift = shift.to(a.dtype)  # the shift as the products subtract it
    E, R = fill(shift)
    # A logit far above its row's target: the sums overflow, or come so near it that
    # 1 / (n * sum) underflows to 0 and the row's softmax gradient would be lost. Both
    # are caught by bounding the sums (2^64 leaves room for any batch).
    if not bool((torch.isfinite(R).all() & (R[:, -1].amax() <= 2.0**64)).item()):
        a[:, -1] = 0.0
        shift = torch.stack([(a @ Wa[:, lo : lo + c]).amax(1) for lo in range(0, V, c)]).amax(0)
        E, R = fill(shift)
    return E, R, shift.float() + R[:, -1].log()


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, targets: torch.Tensor, bias: torch.Tensor, bf16: bool, *pairs: torch.Tensor
    ) -> torch.Tensor:
        inputs = [x.float() for x in pairs[0::2]]
        weights = [W.float() for W in pairs[1::2]]
        n, V = targets.shape[0], bias.shape[0]
        K = sum(x.shape[1] for x in inputs)
        dt = torch.bfloat16 if bf16 else torch.float32
        A, Wa = _stack(inputs, weights, bias.float(), dt)
        # Each row's target logit in float32, and its matrices' columns (for the gradient).
        cols = [W[:, targets].t() for W in weights]  # (n, K_i) each
        target = bias.float()[targets]
        for x, col in zip(inputs, cols, strict=True):
            target = target + (x * col).sum(1)
        lse = torch.empty(n, device=bias.device)
        grad_A = torch.empty((n, K), device=bias.device)
        G = torch.zeros((K + 2, V), device=bias.device)  # (A * s).T @ E over the blocks
        rows = block_rows(V)
        for r0 in range(0, n, rows):
            a = A[r0 : r0 + rows]
            E, R, block_lse = _exp_block(a, Wa, target[r0 : r0 + rows])
            lse[r0 : r0 + rows] = block_lse
            s = 1.0 / (n * R[:, -1:])  # softmax / n = E * s
            grad_A[r0 : r0 + rows] = R[:, :K] * s
            G += ((a.float() * s).to(dt).t() @ E).float()
        loss = (lse - target).mean()
        # The one-hot part of (softmax - onehot) / n, at the targets.
        grads_in, grads_w, k = [], [], 0
        for x, col in zip(inputs, cols, strict=True):
            K_i = x.shape[1]
            grads_in.append(grad_A[:, k : k + K_i].sub_(col, alpha=1.0 / n))
            grads_w.append(G[k : k + K_i].index_add_(1, targets, x.t(), alpha=-1.0 / n))
            k += K_i
        grad_b = G[K].index_add_(0, targets, torch.full((n,), -1.0 / n, device=bias.device))
        ctx.save_for_backward(grad_b, *grads_in, *grads_w)
        ctx.k = len(inputs)
        return loss

    @staticmethod
    def backward(ctx: Any, grad_loss: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        grad_b, *rest = ctx.saved_tensors
        k = ctx.k
        grads = [g * grad_loss for g in rest]
        pairs: list[torch.Tensor | None] = []
        for i in range(k):
            pairs += [grads[i], grads[k + i]]
        return (None, grad_b * grad_loss, None, *pairs)


def linear_cross_entropy(
    pairs: Sequence[tuple[torch.Tensor, torch.Tensor]],
    bias: torch.Tensor,
    targets: torch.Tensor,
    precision: str = "fp32",
) -> torch.Tensor:
    """``F.cross_entropy(bias + sum(x @ W for x, W in pairs), targets)`` (mean over the
    rows), with its gradients, from one ``exp(logits - target)`` block per at most
    ``BLOCK_FLOATS`` logits and no softmax pass (module docstring). Each ``x`` is
    (n, K_i), each ``W`` (K_i, V): the MLP's hidden layer and output matrix, and the
    direct connections' embeddings and matrix where the model has them."""
    flat = [t for pair in pairs for t in pair]
    out: torch.Tensor = _LinearCrossEntropy.apply(targets, bias, precision == "bf16", *flat)
    return out
