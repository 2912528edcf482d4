"""A corpus from text to the best model: KN-5, ``--preset words``, the search's best
network and the search's closing mixture, dev and test (one finalize each).

    python -m benchmarks.mixture --task brown-small   [--minutes 30] [--workers 2]
    python -m benchmarks.mixture --task brown-fiction [--minutes 30]
    python -m benchmarks.mixture --corpus FILE [--tokenize] [--minutes 30]
    python -m benchmarks.mixture --smoke              # tiny trials, a minute: does it run

brown-small: Brown's first 300k tokens (press, religion, skills: the corpus the default
word space was tuned on). brown-fiction: Brown's last 300k tokens (its fiction genres,
K to R: general fiction, mystery, science fiction, adventure, romance, humour), which
nothing was tuned on. Either: min-count 2, ``--split ordered:240000,30000`` (80/10/10,
in order). ``--corpus FILE``: any text, one sentence a line, or raw paragraphs with
``--tokenize``; split 80/10/10 in order.

The search is what a user types: ``sweep --search tpe --budget 30m`` over the default
word space, which ends in the mixture of its best trial with the dataset's best count
model (modified Kneser-Ney at the order dev prefers, fitted by the search). Prints the
CPU and one table: each model's dev and test perplexity and its ratio to modified KN-5's.
Target: the mixture >= 10% under KN-5 on both corpora (moonshot 20%).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.brown import DEFAULT_CORPUS as BROWN
from benchmarks.brown import cpu

TOKENS = 300_000
SMOKE = {"steps": 300, "n_embd": 8, "n_hidden": 32, "batch_size": 32}


def slice_tokens(corpus: Path, out: Path, *, last: bool, tokens: int = TOKENS) -> Path:
    """The first (or last) ``tokens`` tokens of ``corpus``, whole lines, in order."""
    lines = corpus.read_text(encoding="utf-8").splitlines()
    kept, n = [], 0
    for line in reversed(lines) if last else lines:
        kept.append(line)
        n += len(line.split()) + 1
        if n >= tokens:
            break
    out.write_text("\n".join(reversed(kept) if last else kept) + "\n", encoding="utf-8")
    return out


def ppl(loss: float | None) -> float:
    return math.exp(loss) if loss is not None else math.inf


def run(args: argparse.Namespace, tmp: Path) -> int:
    import ngramlm

    if args.corpus is not None:
        path = args.corpus
        n = sum(len(line.split()) for line in path.read_text(encoding="utf-8").splitlines())
        split = f"ordered:{n * 8 // 10},{n // 10}"  # 80/10/10 in order
    else:
        if not BROWN.exists():
            print(f"error: {BROWN}: no Brown corpus; set NGRAMLM_BROWN", file=sys.stderr)
            return 2
        last = args.task == "brown-fiction"
        n = 6_000 if args.smoke else TOKENS
        path = slice_tokens(BROWN, tmp / f"{args.task}.txt", last=last, tokens=n)
        split = f"ordered:{n * 8 // 10},{n // 10}"
    exp = ngramlm.open_store(f"sqlite:///{tmp / 'mix.db'}")
    prep: dict[str, Any] = {"unit": "word", "min_count": 2, "split": split}
    if args.tokenize:
        prep["tokenize"] = True
    ds = exp.prepare(path, name="data", **prep).dataset
    small: dict[str, Any] = SMOKE if args.smoke else {}
    t0 = time.monotonic()
    sw = exp.search(ds, search="tpe", budget=f"{args.minutes * 60:.0f}s", workers=args.workers,
                    **small)  # fmt: skip
    search_s = time.monotonic() - t0
    found = exp.search_models(sw)
    trials = exp.search_trials(sw)
    t0 = time.monotonic()
    words = exp.train(ds, preset="words", **small).run
    words_s = time.monotonic() - t0
    kn5 = (
        next(
            (r for r in exp.runs(ds) if r.model == "modified-kn" and r.order == 5),
            None,
        )
        or exp.train(ds, model="modified-kn", order=5).run
    )
    n_trials = sum(r["status"] == "finished" for r in trials)
    count = found.count.name if found.count else "?"
    rows = [
        ("modified KN-5", kn5, ""),
        ("`--preset words`", words, f"{words_s:.0f} s"),
        (f"the search's best network ({n_trials} trials in {args.minutes:g} min)",
         found.network, f"{search_s:.0f} s"),
        (f"**the search's mixture** (best network + {count})", found.mixture, ""),
    ]  # fmt: skip
    kn_dev, kn_test = ppl(kn5.dev_loss), None
    print(f"\ncorpus: {path.name}, V = {ds.vocab_size:,}; {args.workers} workers")
    print("\n| model | run | dev ppl | test ppl | dev ÷ KN-5 | test ÷ KN-5 | time |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, r, took in rows:
        if r is None:
            print(f"| {label} | — | — | — | — | — | {took} |")
            continue
        test = ppl(exp.finalize(r).evaluation.test_loss)
        kn_test = kn_test or test
        dev = ppl(r.dev_loss)
        print(f"| {label} | {r.id} | {dev:.1f} | {test:.1f} | {dev / kn_dev:.3f} | "
              f"{test / kn_test:.3f} | {took} |")  # fmt: skip
    if found.mixture is not None:
        under = 1 - ppl(found.mixture.dev_loss) / kn_dev
        print(f"\nthe mixture is {under:.1%} under KN-5's dev perplexity (target >= 10%, "
              "moonshot >= 20%)")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--task", choices=["brown-small", "brown-fiction"], default="brown-small")
    ap.add_argument("--corpus", type=Path, default=None, help="any text instead of Brown's")
    ap.add_argument("--tokenize", action="store_true", help="--corpus is raw text")
    ap.add_argument("--minutes", type=float, default=None, help="the search's budget (30)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--smoke", action="store_true", help="a minute, tiny trials")
    args = ap.parse_args(argv)
    if args.minutes is None:
        args.minutes = 1.0 if args.smoke else 30.0
    print(f"CPU: {cpu()}; the search's budget {args.minutes:g} min")
    with tempfile.TemporaryDirectory() as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    threading.current_thread().name = "benchmark"
    sys.exit(main())
