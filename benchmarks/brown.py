"""Bengio et al. 2003's Table 1 on the Brown corpus, end to end in one fresh store.

    python -m benchmarks.brown [--corpus PATH] [--threads N] [--precision auto|fp32|bf16]
                               [--store URL] [--skip-mlp]
    python -m benchmarks.brown --corpus tiny.txt --split ordered:2000,500 --min-count 1 \
        --steps 20                       # a smoke run on a tiny corpus (the tests do this)

(``nox -s brown`` runs it.)

The paper's protocol as ``../shared/data/README.md`` describes it (``--unit word
--min-count 4 --split ordered:800000,200000``), then the count models (interpolated and
modified Kneser-Ney, orders 3 to 5), the paper's MLP1 (``--preset bengio``), ngramlm's
tuned word model (``--preset words``) and the paper's mixture of the best network with
the best count model (weight chosen on dev). Every model is finalized once: each test
figure comes from one ``finalize``. Prints the table (per-token perplexities, the ratio
of each test perplexity to the best count model's, the networks' training precision,
time) beside the paper's rows as printed, with the CPU model and flags, since these
machines differ. ``--precision`` is the networks' (``auto``: bfloat16 on a CPU with
bfloat16 units or CUDA, float32 elsewhere; ``fp32`` reproduces a float32 machine's table).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_CORPUS = Path(
    os.environ.get(
        "NGRAMLM_BROWN", Path(__file__).resolve().parents[2] / "shared" / "data" / "brown.txt"
    )
)

SPLIT = "ordered:800000,200000"  # the paper's: 800,000 tokens train, 200,000 dev

# Bengio et al. 2003, Table 1 (Brown), test perplexity as printed.
PAPER = [
    ("Kneser-Ney back-off, n=5 (paper)", 321),
    ("MLP1: n=5, h=50, m=60, direct (paper)", 268),
    ("MLP1 mixed with the trigram (paper)", 252),
]


def cpu() -> str:
    """The CPU model and the flags that decide these benchmarks' speed (the flags as
    ngramlm reads them to choose ``--precision auto``)."""
    from ngramlm.runtime import cpu_flags

    model = platform.processor() or "?"
    if model == "?":
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    have = cpu_flags()
    flags = " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in have)
    return f"{model} ({os.cpu_count()} cores; {flags or 'no avx2/avx512/amx'})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default torch's)")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                    help="the networks' training precision (default auto)")  # fmt: skip
    ap.add_argument("--store", help="store URL (default: a fresh SQLite file in a temp dir)")
    ap.add_argument("--skip-mlp", action="store_true", help="count models only")
    ap.add_argument("--split", default=SPLIT, help=f"prepare's --split (default {SPLIT})")
    ap.add_argument("--min-count", type=int, default=4, help="prepare's --min-count (default 4)")
    ap.add_argument("--steps", type=int, help="train the networks this many steps (smoke runs)")
    args = ap.parse_args(argv)
    if not args.corpus.exists():
        print(f"error: {args.corpus}: no such corpus; give one with --corpus", file=sys.stderr)
        return 2
    import torch

    import ngramlm
    from ngramlm.models import FAMILIES

    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = tempfile.mkdtemp(prefix="ngramlm-brown-")
    url = args.store or f"sqlite:///{tmp}/brown.db"
    print(f"# Brown, Bengio et al. 2003 Table 1: {cpu()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, store {url}")  # fmt: skip
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    with ngramlm.open_store(url) as exp:
        t0 = time.perf_counter()
        ds = exp.prepare(args.corpus, "brown", unit="word", min_count=args.min_count,
                         split=args.split).dataset  # fmt: skip
        print(f"prepared in {time.perf_counter() - t0:.1f}s: |V| = {ds.vocab_size:,}")

        def run(label: str, **kw: Any) -> None:
            t = time.perf_counter()
            r = exp.train(ds, **kw).run
            wall = time.perf_counter() - t
            ev = exp.finalize(r).evaluation
            rows.append({"label": label, "run": r.id, "train": r.train_loss, "dev": r.dev_loss,
                         "test": ev.test_loss, "seconds": wall,
                         "precision": r.precision or ""})  # fmt: skip
            print(f"  {label:40s} dev ppl {math.exp(r.dev_loss or 0):8.1f}  test ppl "
                  f"{math.exp(ev.test_loss):8.1f}  {wall:6.0f}s", flush=True)  # fmt: skip

        for order in (3, 4, 5):
            run(f"Kneser-Ney (interpolated), n={order}", model="kneser-ney", order=order)
        for order in (3, 4, 5):
            run(f"modified Kneser-Ney, n={order}", model="modified-kn", order=order)
        if not args.skip_mlp:
            short: dict[str, Any] = (
                {} if args.steps is None else {"steps": args.steps, "warmup": args.steps // 10}
            )
            run("MLP1 --preset bengio (n=5 h=50 m=60 direct)", preset="bengio",
                precision=args.precision, **short)  # fmt: skip
            run("MLP --preset words (ngramlm's tuned)", preset="words", precision=args.precision,
                **short)  # fmt: skip
            if "mixture" in FAMILIES:
                count = min((r for r in rows if "Kneser" in r["label"]), key=lambda r: r["dev"])
                net = min((r for r in rows if "MLP" in r["label"]), key=lambda r: r["dev"])
                run(f"mixture of runs {net['run']} and {count['run']}", model="mixture",
                    mix=f"{net['run']},{count['run']}")  # fmt: skip
    print(f"\nthe whole table: {time.perf_counter() - start:.0f} s (prepare, fit or train, "
          "and finalize every model)")  # fmt: skip
    best_count = min((r for r in rows if "Kneser" in r["label"]), key=lambda r: r["dev"])
    base = math.exp(best_count["test"])
    print(f"\nbest count model (on dev): {best_count['label']}")
    print("| model | run | train ppl | dev ppl | test ppl | test ÷ best count | precision "
          "| time |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, ppl in PAPER:
        print(f"| {label} | | | | {ppl} | | | |")
    for r in rows:
        tr, dv, te = (math.exp(r[k]) for k in ("train", "dev", "test"))
        print(f"| {r['label']} | {r['run']} | {tr:.1f} | {dv:.1f} | {te:.1f} | "
              f"{te / base:.3f} | {r['precision']} | {r['seconds']:.0f} s |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
