"""A short GPU check: ``--device cuda`` against the CPU on a few steps, then steps/s.

Needs only torch (no store): ``PYTHONPATH=. python benchmarks/gpu_check.py``. Uses the
bundled word list. Prints one line per check and exits non-zero if CUDA disagrees with
the CPU beyond float tolerance.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ngramlm.data import Vocab, build_examples, read_words, split_words
from ngramlm.models import preset_config
from ngramlm.training.batched import train_batched
from ngramlm.training.loop import Examples, Hooks, train

WORDS = Path(__file__).resolve().parents[1] / "data" / "names.txt"


def max_diff(a: Sequence[Any], b: Sequence[Any]) -> float:
    return max(abs((x.dev_loss or 0) - (y.dev_loss or 0)) for x, y in zip(a, b, strict=True))


def verdict(diff: float) -> str:
    return "(ok)" if diff < 1e-3 else "(MISMATCH)"


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device here; nothing to check")
        return 0
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}")
    words = read_words(WORDS)
    split = split_words(words, 42)
    vocab = Vocab.from_words(words)
    ex = Examples(*build_examples(split.train, vocab, 3), *build_examples(split.dev, vocab, 3))
    ok = True
    for preset, opts in (("lecture", {}), ("default", {"optimizer": "adamw", "lr": 0.003})):
        cfg = preset_config(preset, {"steps": 300, "eval_every": 100, **opts}, vocab.size)
        cpu = train(cfg, ex, torch.device("cpu"))
        gpu = train(cfg, ex, torch.device("cuda"))
        diff = max_diff(cpu.points, gpu.points)
        ok &= diff < 1e-3
        assert cfg.train is not None
        print(f"{preset} {cfg.train.optimizer}: cpu dev {cpu.dev_loss:.5f}, cuda dev "
              f"{gpu.dev_loss:.5f}, max curve diff {diff:.2e} {verdict(diff)}")  # fmt: skip
    lrs = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0]
    # The lecture's randn init at lr up to 1 is chaotic: float rounding alone moves it
    # by 0.1 within 300 steps. Compare the batched members with part 3's init instead.
    cfgs = [preset_config("default", {"steps": 300, "lr": lr}, vocab.size) for lr in lrs]
    cpu_b = train_batched(cfgs, ex, torch.device("cpu"), [Hooks() for _ in cfgs])
    gpu_b = train_batched(cfgs, ex, torch.device("cuda"), [Hooks() for _ in cfgs])
    diff = max_diff(cpu_b, gpu_b)
    ok &= diff < 1e-3
    print(f"batched 8 members: max dev diff cpu vs cuda {diff:.2e} {verdict(diff)}")
    for device in ("cpu", "cuda"):
        cfg = preset_config("lecture", {"steps": 20_000}, vocab.size)
        t0 = time.perf_counter()
        train(cfg, ex, torch.device(device))
        dt = time.perf_counter() - t0
        cfgs = [preset_config("lecture", {"steps": 5_000, "lr": lr}, vocab.size) for lr in lrs]
        t1 = time.perf_counter()
        train_batched(cfgs, ex, torch.device(device), [Hooks() for _ in cfgs])
        db = time.perf_counter() - t1
        print(f"{device}: single run {20_000 / dt:,.0f} steps/s; batched 8 members "
              f"{8 * 5_000 / db:,.0f} member-steps/s")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
