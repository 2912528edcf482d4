"""The output layer and the cross-entropy, computed together in vocabulary chunks.

With a word vocabulary (V ~ 14k on Brown) a training step is dominated by the output
layer: the B x V logits, the softmax and its gradient go through memory several times
(a 512 x 14,115 float32 tensor is 29 MB, far beyond cache), and the products with only
~100 columns on the inner side run at a third of the machine's large-GEMM rate because
their output does not stay in cache. ``linear_cross_entropy`` never builds the B x V
tensors: it walks the vocabulary in column chunks whose logits stay in cache, once to get
each row's log-sum-exp (shifted by the row's target logit; an online max and sum, as
flash attention keeps, only where that would overflow) and once more for the
gradients, which it computes in the forward pass (the loss is the graph's last node, as
in Liger-Kernel's fused linear cross-entropy and Apple's Cut Cross-Entropy). The backward
pass only scales them. It stays exact: the full softmax, no sampling; in float32
it agrees with ``F.cross_entropy(logits)`` to float rounding.

``precision="bf16"`` runs the products in bfloat16 (the softmax, the sums and the
gradients' accumulation stay float32), which pays on CPUs with bfloat16 matrix units
(Intel AMX, AVX512-BF16) and on CUDA; ``resolve_precision("auto", ...)`` takes it only
there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

# From this vocabulary size on, the MLP's training step takes the chunked output layer;
# below it (the character models) the logits are small and the plain path, whose results
# the lectures' numbers were measured with, stays.
FUSED_MIN_VOCAB = 1024
# Logits per chunk: 2^18 floats (1 MiB) stay in a core's L2 cache on current CPUs.
CHUNK_FLOATS = 2**18


def cpu_has_bf16_units() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (Intel AMX or AVX512-BF16),
    read from /proc/cpuinfo's flags (False where there is none to read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool({"amx_bf16", "avx512_bf16"} & flags)
    return False


def chunked(vocab_size: int, precision: str) -> bool:
    """Whether a training step takes ``linear_cross_entropy`` rather than the plain
    logits and ``F.cross_entropy``: a word-sized vocabulary, or bfloat16 asked for.
    ``precision`` may be the asked one (``auto`` is never bf16 below ``FUSED_MIN_VOCAB``)
    or the resolved one: the answer is the same."""
    return vocab_size >= FUSED_MIN_VOCAB or precision == "bf16"


def resolve_precision(precision: str, device: torch.device, vocab_size: int) -> str:
    """``auto`` -> ``bf16`` where the products run faster in bfloat16 (CUDA, or a CPU with
    bfloat16 units) and the output layer is large enough to take the chunked path;
    ``fp32`` everywhere else. ``fp32`` and ``bf16`` are kept as asked."""
    if precision != "auto":
        return precision
    if vocab_size < FUSED_MIN_VOCAB:
        return "fp32"
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16_units()):
        return "bf16"
    return "fp32"


def chunk_columns(batch: int) -> int:
    return max(128, min(8192, CHUNK_FLOATS // max(1, batch)))


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, targets: torch.Tensor, bias: torch.Tensor, bf16: bool, *pairs: torch.Tensor
    ) -> torch.Tensor:
        inputs, weights = list(pairs[0::2]), list(pairs[1::2])
        n, V = targets.shape[0], bias.shape[0]
        dt = torch.bfloat16 if bf16 else torch.float32
        a = [x.to(dt) for x in inputs]
        w = [W.to(dt) for W in weights]
        b = bias.to(dt)
        c = chunk_columns(n)
        chunks = [(lo, min(V, lo + c)) for lo in range(0, V, c)]

        def logits(lo: int, hi: int) -> torch.Tensor:
            out = torch.addmm(b[lo:hi], a[0], w[0][:, lo:hi])
            for x, W in zip(a[1:], w[1:], strict=True):
                out.addmm_(x, W[:, lo:hi])
            return out.float()

        # Each row's target logit, and its output-matrix columns (reused for the gradient).
        cols = [W[:, targets].t().float() for W in w]  # (n, K_i) each
        target = b[targets].float()
        for x, col in zip(a, cols, strict=True):
            target = target + (x.float() * col).sum(1)
        # Pass 1: each row's log-sum-exp. Shifted by the target logit, every term is finite
        # and the sum is at least ~1 unless a logit exceeds the target's by ~88 nats; then
        # (a model far from trained) the rows are summed again with an online max.
        shift = target[:, None]
        total = torch.zeros((n, 1), device=bias.device)
        for lo, hi in chunks:
            total += logits(lo, hi).sub_(shift).exp_().sum(1, keepdim=True)
        if not bool(torch.isfinite(total).all()):
            shift = torch.full((n, 1), -float("inf"), device=bias.device)
            total.zero_()
            for lo, hi in chunks:
                lg = logits(lo, hi)
                new = torch.maximum(shift, lg.amax(1, keepdim=True))
                total = total * (shift - new).exp() + (lg - new).exp_().sum(1, keepdim=True)
                shift = new
        lse = shift + total.log()  # (n, 1)
        loss = (lse[:, 0] - target).mean()

        # Pass 2: the gradients of the mean loss: (softmax - one-hot) / n.
        grad_in = [torch.zeros(x.shape, device=x.device, dtype=torch.float32) for x in inputs]
        grad_w = [torch.empty(W.shape, device=W.device, dtype=torch.float32) for W in weights]
        grad_b = torch.empty(V, device=bias.device, dtype=torch.float32)
        scaled = lse + math.log(n)  # exp(logit - lse - log n) = softmax / n
        for lo, hi in chunks:
            p = logits(lo, hi).sub_(scaled).exp_()
            torch.sum(p, 0, out=grad_b[lo:hi])
            pd = p.to(dt)
            for x, W, gx, gW in zip(a, w, grad_in, grad_w, strict=True):
                gW[:, lo:hi] = x.t() @ pd
                if bf16:  # a bfloat16 product, accumulated in float32
                    gx += pd @ W[:, lo:hi].t()
                else:
                    gx.addmm_(pd, W[:, lo:hi].t())
        for x, col, gx, gW in zip(a, cols, grad_in, grad_w, strict=True):
            gx.sub_(col, alpha=1.0 / n)
            gW.index_add_(1, targets, x.t().float(), alpha=-1.0 / n)
        grad_b.index_add_(0, targets, torch.full((n,), -1.0 / n, device=bias.device))
        ctx.save_for_backward(grad_b, *grad_in, *grad_w)
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
    rows), without materialising the logits. Each ``x`` is (n, K_i), each ``W`` (K_i, V):
    the MLP's hidden layer and output matrix, and the direct connections' embeddings and
    matrix where the model has them."""
    flat = [t for pair in pairs for t in pair]
    out: torch.Tensor = _LinearCrossEntropy.apply(targets, bias, precision == "bf16", *flat)
    return out
