"""KenLM against ngramlm on Brown: modified Kneser-Ney 5-gram, exported as ARPA.

    NGRAMLM_BROWN=PATH python -m benchmarks.arpa_brown [--order 5] [--keep FILE.arpa]

The paper's protocol (``--unit word --min-count 4 --split ordered:800000,200000``); the
model is fitted on train, written as ARPA (``ngramlm export``'s conversion), loaded by
the ``kenlm`` module (the dev extra) and both score every dev token, ``</s>`` included:
prints both dev perplexities, their ratio, the largest per-token difference of log10
probabilities, and the time each step took.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.counts import BROWN, SUITES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="Write the ARPA file here (else a temporary one).")
    args = ap.parse_args()
    import kenlm

    from ngramlm.data import build_examples
    from ngramlm.models import ngram
    from ngramlm.models.ngram import arpa
    from ngramlm.stages.prepare import load

    wl = load(BROWN, "brown", 42, **SUITES["brown"][1])
    vocab, N = wl.vocab, args.order
    t0 = time.perf_counter()
    cfg = ngram.ModifiedKneserNeyConfig(vocab_size=vocab.size, order=N)
    model = ngram.fit(cfg, *build_examples(wl.split.train, vocab, N - 1))
    X, Y = build_examples(wl.split.dev, vocab, N - 1)
    ours = model.log_probs_of(X, Y).numpy() / math.log(10)
    t1 = time.perf_counter()
    path = args.keep or Path(tempfile.mkdtemp()) / f"brown-mkn{N}.arpa"
    arpa.write(ngram.arpa_tables_of(model, vocab.itos), path)
    t2 = time.perf_counter()
    lm = kenlm.Model(str(path))
    t3 = time.perf_counter()
    theirs = np.array(
        [s[0] for line in wl.split.dev for s in lm.full_scores(line, bos=True, eos=True)]
    )
    t4 = time.perf_counter()
    ppl_ours, ppl_kenlm = 10 ** -ours.mean(), 10 ** -theirs.mean()
    diff = np.abs(ours - theirs)
    print(f"brown modified-kn {N}: {len(ours):,} dev tokens (</s> included)")
    print(
        f"  dev perplexity: ngramlm {ppl_ours:.4f}, kenlm {ppl_kenlm:.4f}, "
        f"ratio {ppl_kenlm / ppl_ours:.8f}"
    )
    print(f"  per-token |log10 P difference|: max {diff.max():.2e}, mean {diff.mean():.2e}")
    print(f"  ARPA file: {path}, {os.path.getsize(path) / 2**20:.1f} MiB")
    print(
        f"  seconds: fit + dev {t1 - t0:.1f}, export {t2 - t1:.1f}, kenlm load {t3 - t2:.1f}, "
        f"kenlm dev {t4 - t3:.1f}"
    )


if __name__ == "__main__":
    main()
