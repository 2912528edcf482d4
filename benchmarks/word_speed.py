"""Training speed on a word vocabulary, side by side in one run: ngramlm against a plain
float32 PyTorch loop of the same model, at equal dev perplexity.

    python -m benchmarks.word_speed [--corpus PATH] [--epochs 1] [--threads N] [--repeat 1]
                                    [--split ordered:800000,200000] [--min-count 4]

The data: Brown as Bengio et al. 2003 split it (``--unit word --min-count 4 --split
ordered:800000,200000``; |V| = 14,115). The model: n=5 (4 words of context), m=60, h=100,
tanh, minibatches of 512, AdamW at 2e-3 with 200 warm-up steps and a cosine decay to
5%, ``--epochs`` passes. The plain loop is what a PyTorch user writes: ``nn.Embedding``,
``nn.Linear``, ``F.cross_entropy`` over the B x V logits, ``torch.optim.AdamW``. ngramlm's
arm is its training loop (``ngramlm.training.loop.train``) with ``--precision auto``; where that
resolves to bfloat16 (a CPU with bfloat16 units), a third arm runs ngramlm in float32, the
figure for a CPU without them. Every arm evaluates the dev split once, at the end,
outside the timed steps; they alternate (``--repeat``), one at a time, with the same
torch thread count.

Printed: steps/s of each and their ratio, dev perplexities (equal within 1%?), the
FLOP/s each achieves as a fraction of this machine's large-GEMM rate in the precision it
ran (measured in the same run), the CPU model and flags.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.brown import DEFAULT_CORPUS, SPLIT, cpu

if TYPE_CHECKING:
    from ngramlm.config import Precision
    from ngramlm.models.base import NeuralFamily

N, M, H, BATCH, LR, WARMUP, FLOOR = 5, 60, 100, 512, 2e-3, 200, 0.05


def examples(
    corpus: Path, split: str = SPLIT, min_count: int = 4
) -> tuple[int, tuple[torch.Tensor, ...]]:
    from ngramlm.data import build_examples
    from ngramlm.stages.prepare import load

    wl = load(corpus, "brown", 42, unit="word", min_count=min_count, split=split)
    parts = wl.parts()
    Xtr, Ytr = build_examples(parts["train"], wl.vocab, N - 1)
    Xdev, Ydev = build_examples(parts["dev"], wl.vocab, N - 1)
    return wl.vocab.size, (Xtr, Ytr, Xdev, Ydev)


def gemm_rate(dtype: torch.dtype, size: int = 2048, reps: int = 10) -> float:
    """This machine's large-GEMM rate (FLOP/s), best of ``reps`` products."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b
    best = math.inf
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def flops_per_step(V: int) -> float:
    """Multiply-adds of the products, forward and backward (3x forward), times 2."""
    return 3 * 2 * BATCH * ((N - 1) * M * H + H * V)


def lr_at(step: int, steps: int) -> float:
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    p = (step - WARMUP) / max(1, steps - WARMUP)
    return LR * FLOOR + 0.5 * LR * (1 - FLOOR) * (1 + math.cos(math.pi * p))


class Plain(nn.Module):
    def __init__(self, V: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(V, M)
        self.hidden = nn.Linear((N - 1) * M, H)
        self.out = nn.Linear(H, V)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.hidden(self.emb(x).view(x.shape[0], -1)))
        return self.out(h)


def config(V: int, steps: int, precision: Precision = "auto") -> Any:
    from ngramlm.config import RunConfig, TrainConfig
    from ngramlm.models.mlp import MLPConfig

    return RunConfig(
        MLPConfig(vocab_size=V, block_size=N - 1, n_embd=M, n_hidden=H, init="kaiming"),
        TrainConfig(batch_size=BATCH, steps=steps, optimizer="adamw", lr=LR,
                    lr_schedule="cosine", warmup=WARMUP, decay_factor=FLOOR,
                    eval_every=steps, device="cpu", precision=precision),
    )  # fmt: skip


def mlp_family() -> NeuralFamily:
    from ngramlm.models import family
    from ngramlm.models.base import NeuralFamily

    fam = family("mlp")
    assert isinstance(fam, NeuralFamily)
    return fam


def resolved(V: int, steps: int) -> str:
    return str(mlp_family().precision(config(V, steps), torch.device("cpu")))


def arm_plain(V: int, data: tuple[torch.Tensor, ...], steps: int) -> dict[str, Any]:
    Xtr, Ytr, Xdev, Ydev = data
    model = Plain(V)
    # The same initial weights as ngramlm's arm (its seed's draws), so that the two arms
    # differ only in how the steps are computed.
    from ngramlm.models.mlp import MLP

    init = mlp_family().build(config(V, steps).model, torch.Generator().manual_seed(42))
    assert isinstance(init, MLP)
    with torch.no_grad():
        model.emb.weight.copy_(init.C)
        model.hidden.weight.copy_(init.W[0].t())
        model.hidden.bias.copy_(init.b[0])
        model.out.weight.copy_(init.W_out.t())
        model.out.bias.copy_(init.b_out)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    g = torch.Generator().manual_seed(42)
    t0 = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps)
        ix = torch.randint(0, Xtr.shape[0], (BATCH,), generator=g)
        loss = F.cross_entropy(model(Xtr[ix]), Ytr[ix])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        total = sum(
            F.cross_entropy(model(Xdev[i : i + 4096]), Ydev[i : i + 4096], reduction="sum").item()
            for i in range(0, Xdev.shape[0], 4096)
        )
    return {"seconds": seconds, "dev_loss": total / Xdev.shape[0], "precision": "fp32"}


def arm_ngramlm(
    V: int, data: tuple[torch.Tensor, ...], steps: int, precision: Precision = "auto"
) -> dict[str, Any]:
    from ngramlm.training.loop import Examples, train

    cfg = config(V, steps, precision)
    mlp_family().validate(cfg)
    used = mlp_family().precision(cfg, torch.device("cpu"))
    Xtr, Ytr, Xdev, Ydev = data
    result = train(cfg, Examples(Xtr, Ytr, Xdev, Ydev), torch.device("cpu"))
    seconds = result.points[-1].elapsed_s  # the steps, before the final evaluation
    return {"seconds": seconds, "dev_loss": result.dev_loss, "precision": used}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default torch's)")
    ap.add_argument("--repeat", type=int, default=1, help="alternations of the two arms")
    ap.add_argument("--split", default=SPLIT, help=f"prepare's --split (default {SPLIT})")
    ap.add_argument("--min-count", type=int, default=4, help="prepare's --min-count (default 4)")
    args = ap.parse_args(argv)
    if not args.corpus.exists():
        print(f"error: {args.corpus}: no such corpus; give one with --corpus", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    V, data = examples(args.corpus, args.split, args.min_count)
    steps = max(WARMUP + 1, math.ceil(args.epochs * data[0].shape[0] / BATCH))
    print(f"# word speed: {cpu()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"# Brown |V| = {V:,}, n={N} m={M} h={H}, batch {BATCH}, {steps:,} steps "
          f"({args.epochs:g} epochs), AdamW")  # fmt: skip
    rates = {"fp32": gemm_rate(torch.float32)}
    arms: dict[str, Callable[[int, tuple[torch.Tensor, ...], int], dict[str, Any]]] = {
        "plain": arm_plain,
        "ngramlm": arm_ngramlm,
    }
    if resolved(V, steps) == "bf16":
        # Where `auto` takes bfloat16, ngramlm in float32 too: the "any CPU" figure.
        arms["ngramlm fp32"] = lambda V, data, steps: arm_ngramlm(V, data, steps, "fp32")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in arms}
    for _ in range(args.repeat):
        for name, arm in arms.items():
            r = arm(V, data, steps)
            runs[name].append(r)
            print(f"  {name:12s} {steps / r['seconds']:6.2f} steps/s  dev ppl "
                  f"{math.exp(r['dev_loss']):7.1f}  ({r['precision']})", flush=True)  # fmt: skip
    if "bf16" in {r["precision"] for rs in runs.values() for r in rs}:
        rates["bf16"] = gemm_rate(torch.bfloat16)
    per_step = flops_per_step(V)
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items()}
    print("\n| arm | precision | steps/s | dev ppl | GFLOP/s | of GEMM rate |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in best.items():
        rate = per_step * steps / r["seconds"]
        print(f"| {name} | {r['precision']} | {steps / r['seconds']:.2f} | "
              f"{math.exp(r['dev_loss']):.1f} | {rate / 1e9:.0f} | "
              f"{rate / rates[r['precision']]:.0%} |")  # fmt: skip
    print(
        "\nlarge-GEMM rate here: "
        + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in rates.items())
    )
    for name in list(best)[1:]:
        speed = best["plain"]["seconds"] / best[name]["seconds"]
        dev = math.exp(best[name]["dev_loss"] - best["plain"]["dev_loss"])
        print(f"{name} ({best[name]['precision']}) / plain: {speed:.2f}x steps/s at "
              f"{dev:.3f}x the dev perplexity "
              f"({'within' if abs(dev - 1) <= 0.01 else 'outside'} 1%)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
