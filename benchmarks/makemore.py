"""makemore.py's own training loop against ngramlm's, on the same model, batch, split
and machine: steps per second, and dev loss after the same wall time.

    python -m benchmarks.makemore --makemore PATH/TO/makemore.py [--models transformer,gru,rnn,bow]
                                  [--names names.txt] [--threads 2] [--steps 10000]

``PATH/TO/makemore.py`` is karpathy/makemore's file as it is (a clone of that repository;
it is not part of ngramlm and nothing of it is copied here): its classes are imported
(``GPT``, ``RNN``, ``BoW``, ``ModelConfig``/``GPTConfig``, ``CharDataset``) and its
training loop is followed line for line: ``RandomSampler(replacement=True)`` batches of
32, AdamW at 5e-4, betas 0.9/0.99, weight decay 0.01 (the GPT-only file's
``configure_optimizers``, and its gradient clipping at 1.0). Its module imports
TensorBoard's ``SummaryWriter`` at the top, which only its ``__main__`` uses; where
TensorBoard is not installed, a stand-in module is registered so that the import
succeeds.

Both train on the lecture's names with the lecture's split (``prepare names.txt``: the
seed-42 80/10/10 split), on one machine, one after the other. For each model: ngramlm's
preset (``--preset transformer`` etc.: makemore.py's defaults) trains ``--steps`` steps and
records its dev loss; makemore.py's loop then trains for the same wall time, and its dev
loss is scored over exactly ngramlm's dev targets (every character of every dev word and
its end token, a sum over targets, not a mean of batch means). Prints the CPU, then per
model: steps/s of each, the ratio, and both dev losses. Targets (issue 31): every
family at least makemore.py's dev loss in the same time; the transformer's steps/s at
least 1.5x makemore.py's.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import threading
import time
import types
from pathlib import Path
from typing import Any

from benchmarks.brown import cpu
from benchmarks.search import NAMES

MAKEMORE_TYPES = {"transformer": "transformer", "gru": "gru", "rnn": "rnn", "bow": "bow"}


def load_makemore(path: Path) -> Any:
    """makemore.py imported as a module, as it is."""
    if "torch.utils.tensorboard" not in sys.modules:
        try:
            import torch.utils.tensorboard  # noqa: F401
        except ImportError:  # its __main__ alone writes to TensorBoard
            stub = types.ModuleType("torch.utils.tensorboard")
            stub.SummaryWriter = object  # type: ignore[attr-defined]
            sys.modules["torch.utils.tensorboard"] = stub
    spec = importlib.util.spec_from_file_location("makemore", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def makemore_model(mm: Any, kind: str, vocab_size: int, block_size: int) -> Any:
    """makemore.py's model of ``kind`` with its defaults (its ``__main__``'s choices)."""
    if hasattr(mm, "ModelConfig"):  # the repository's makemore.py: every --type
        cfg = mm.ModelConfig(vocab_size=vocab_size, block_size=block_size, n_layer=4,
                             n_head=4, n_embd=64, n_embd2=64)  # fmt: skip
        build = {"transformer": lambda: mm.Transformer(cfg), "bow": lambda: mm.BoW(cfg),
                 "rnn": lambda: mm.RNN(cfg, cell_type="rnn"),
                 "gru": lambda: mm.RNN(cfg, cell_type="gru")}  # fmt: skip
        return build[kind]()
    if kind != "transformer":
        raise SystemExit(f"this makemore.py has only the GPT; drop {kind} from --models")
    return mm.GPT(mm.GPTConfig(vocab_size=vocab_size, block_size=block_size))


def makemore_loop(mm: Any, kind: str, train: list[str], dev: list[str], seconds: float) -> dict:
    """makemore.py's training loop for ``seconds`` of wall time; its dev loss over every
    target (each character and the end token of each dev word)."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, RandomSampler

    torch.manual_seed(3407)  # its default seed
    chars = sorted(set("".join(train + dev)))
    longest = max(len(w) for w in train + dev)
    train_ds = mm.CharDataset(train, chars, longest)
    dev_ds = mm.CharDataset(dev, chars, longest)
    model = makemore_model(mm, kind, train_ds.get_vocab_size(), train_ds.get_output_length())
    tc = (
        mm.TrainConfig(learning_rate=5e-4, weight_decay=0.01)
        if hasattr(mm, "TrainConfig")
        else None
    )
    if tc is not None and hasattr(model, "configure_optimizers"):
        optimizer = model.configure_optimizers(tc)
    else:  # the repository's loop builds AdamW itself, with these settings
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01,
                                      betas=(0.9, 0.99), eps=1e-8)  # fmt: skip
    sampler = RandomSampler(train_ds, replacement=True, num_samples=int(1e10))
    batches = iter(DataLoader(train_ds, batch_size=32, sampler=sampler, num_workers=0))
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        X, Y = next(batches)
        _, loss = model(X, Y)
        model.zero_grad(set_to_none=True)
        loss.backward()
        if tc is not None:  # the GPT-only file clips (minGPT's trainer); the later does not
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        steps += 1
    took = time.perf_counter() - t0
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(dev_ds), 500):
            X, Y = zip(*(dev_ds[j] for j in range(i, min(i + 500, len(dev_ds)))), strict=True)
            logits, _ = model(torch.stack(X))
            y = torch.stack(Y)
            total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=-1,
                                     reduction="sum").item()  # fmt: skip
            n += int((y != -1).sum())
    return {"steps": steps, "seconds": took, "dev": total / n, "targets": n}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--makemore", type=Path, required=True, help="karpathy/makemore's makemore.py")
    ap.add_argument("--names", type=Path, default=NAMES)
    ap.add_argument("--models", default="transformer,gru,rnn,bow")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None, help="ngramlm's steps (the preset's)")
    args = ap.parse_args(argv)
    for path, what in ((args.makemore, "--makemore"), (args.names, "--names")):
        if not path.is_file():
            print(f"error: {path}: no such file; give {what} PATH", file=sys.stderr)
            return 2
    import torch

    import ngramlm

    torch.set_num_threads(args.threads)
    mm = load_makemore(args.makemore)
    print(f"CPU: {cpu()}; {args.threads} threads; names: {args.names}")
    print("\n| model | ngramlm steps/s | makemore.py steps/s | ratio | ngramlm dev | "
          "makemore.py dev (same wall time) | time |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp, ngramlm.open_store(f"sqlite:///{tmp}/mm.db") as exp:
        ds = exp.prepare(args.names, name="makemore").dataset
        train, dev = exp.words(ds, "train"), exp.words(ds, "dev")
        for kind in args.models.split(","):
            steps = {} if args.steps is None else {"steps": args.steps}
            run = exp.train(ds, preset=kind, threads=args.threads, **steps).run
            seconds = float(run.train_seconds or 0.0)
            theirs = makemore_loop(mm, kind, list(train), list(dev), seconds)
            ours_sps = run.steps_done / seconds
            their_sps = theirs["steps"] / theirs["seconds"]
            print(f"| {kind} | {ours_sps:.1f} | {their_sps:.1f} | {ours_sps / their_sps:.2f}x | "
                  f"{run.dev_loss:.4f} | {theirs['dev']:.4f} | {seconds:.0f} s |",
                  flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    sys.exit(main())
