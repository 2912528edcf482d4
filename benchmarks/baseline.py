"""The baseline: makemore part 2's recipe as a plain PyTorch autograd loop.

randn init (C, W1, b1, W2, b2 drawn in that order from one seeded generator),
``loss.backward()``, a manual SGD update, lr 0.1 then 0.01 from the halfway step,
block_size 3, n_embd 10, n_hidden 200, batch 32; the final loss on the whole train and dev
splits, as the lecture evaluates it (once, at the end).
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F


def run(
    Xtr: torch.Tensor,
    Ytr: torch.Tensor,
    Xdev: torch.Tensor,
    Ydev: torch.Tensor,
    steps: int,
    seed: int = 42,
    lr: float = 0.1,
) -> dict[str, float]:
    g = torch.Generator().manual_seed(seed)
    C = torch.randn((27, 10), generator=g)
    W1 = torch.randn((30, 200), generator=g)
    b1 = torch.randn(200, generator=g)
    W2 = torch.randn((200, 27), generator=g)
    b2 = torch.randn(27, generator=g)
    parameters = [C, W1, b1, W2, b2]
    for p in parameters:
        p.requires_grad = True
    t0 = time.perf_counter()
    for i in range(steps):
        ix = torch.randint(0, Xtr.shape[0], (32,), generator=g)
        emb = C[Xtr[ix]]  # (32, 3, 10)
        h = torch.tanh(emb.view(-1, 30) @ W1 + b1)  # (32, 200)
        logits = h @ W2 + b2  # (32, 27)
        loss = F.cross_entropy(logits, Ytr[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        step_lr = lr if i < steps // 2 else lr / 10
        for p in parameters:
            grad = p.grad
            assert grad is not None
            p.data += -step_lr * grad
    train_s = time.perf_counter() - t0

    @torch.no_grad()
    def split_loss(X: torch.Tensor, Y: torch.Tensor) -> float:
        h = torch.tanh(C[X].view(-1, 30) @ W1 + b1)
        return F.cross_entropy(h @ W2 + b2, Y).item()

    train_loss, dev_loss = split_loss(Xtr, Ytr), split_loss(Xdev, Ydev)
    return {
        "steps": steps,
        "train_seconds": train_s,
        "wall_seconds": time.perf_counter() - t0,
        "train_loss": train_loss,
        "dev_loss": dev_loss,
    }
