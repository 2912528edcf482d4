"""The count models, old against new: the same losses, and the time and memory they take.

    python -m benchmarks.counts [--suite names|makemore|brown|all] [--baseline REV]
                                [--arm both|old|new] [--only MODEL-ORDER] [--json]

Each arm runs in its own process (so its peak RSS is its own): ``old`` is
``ngramlm/models/ngram.py`` as it was at ``--baseline`` (default ``e5045db``, the last
commit with the dict-of-strings count models; read with ``git show``), ``new`` is the
installed ``ngramlm.models.ngram``. Every model of a suite is fitted on train, tuned on
dev (the discount of ``kneser-ney`` chosen there), and scored on train, dev and test; the
two arms' losses are compared digit for digit and the wall time of fit + tune + dev loss
and each process's peak RSS are printed side by side with their ratios.

Suites: ``names`` (the bundled data/names.txt), ``makemore`` (the lecture's names,
``NGRAMLM_NAMES``): bigram, kneser-ney 3-8, modified-kn 3-5; ``brown`` (``NGRAMLM_BROWN``,
``--unit word --min-count 4 --split ordered:800000,200000``): kneser-ney and modified-kn 3-5.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parents[1] / "shared" / "data"
NAMES = Path(os.environ.get("NGRAMLM_NAMES", SHARED / "makemore-names.txt"))
BROWN = Path(os.environ.get("NGRAMLM_BROWN", SHARED / "brown.txt"))
BASELINE = "e5045db"

WORDS_MODELS = [("bigram", 2)] + [("kneser-ney", n) for n in range(3, 9)]
WORDS_MODELS += [("modified-kn", n) for n in range(3, 6)]
SUITES: dict[str, tuple[Path | None, dict[str, Any], list[tuple[str, int]]]] = {
    "names": (None, {"unit": "char"}, WORDS_MODELS),
    "makemore": (NAMES, {"unit": "char"}, WORDS_MODELS),
    "brown": (
        BROWN,
        {"unit": "word", "min_count": 4, "split": "ordered:800000,200000"},
        [(m, n) for m in ("kneser-ney", "modified-kn") for n in (3, 4, 5)],
    ),
}


def ngram_module(arm: str, baseline: str) -> Any:
    """The count models' module: the checkout's, or the baseline's from git."""
    if arm == "new":
        from ngramlm.models import ngram

        return ngram
    src = subprocess.run(
        ["git", "show", f"{baseline}:ngramlm/models/ngram.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "ngram_baseline.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("ngram_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ngram_baseline"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_arm(arm: str, suite: str, baseline: str, only: str | None = None) -> dict[str, Any]:
    """Fit, tune and score every model of a suite with one arm's module."""
    from ngramlm.data import build_examples
    from ngramlm.stages.prepare import load

    ngram = ngram_module(arm, baseline)
    path, options, models = SUITES[suite]
    wl = load(path, suite, 42, **options)
    families = {
        "bigram": ngram.BIGRAM,
        "kneser-ney": ngram.KNESER_NEY,
        "modified-kn": ngram.MODIFIED_KNESER_NEY,
    }
    configs = {
        "bigram": ngram.BigramConfig,
        "kneser-ney": ngram.KneserNeyConfig,
        "modified-kn": ngram.ModifiedKneserNeyConfig,
    }
    out: dict[str, Any] = {}
    seconds = 0.0
    for name, order in models:
        if only is not None and f"{name}-{order}" != only:
            continue
        parts = {p: build_examples(lines, wl.vocab, order - 1) for p, lines in wl.parts().items()}
        cfg = configs[name](vocab_size=wl.vocab.size, order=order)
        if name == "kneser-ney":
            cfg = configs[name](vocab_size=wl.vocab.size, order=order, smoothing=None)
        t0 = time.perf_counter()
        fam = families[name]
        model = fam.fit(cfg, *parts["train"])
        extra, dev = fam.tune_and_score(model, *parts["dev"])
        took = time.perf_counter() - t0
        seconds += took
        out[f"{name}-{order}"] = {
            "train": model.mean_nll(*parts["train"]),
            "dev": dev,
            "test": model.mean_nll(*parts["test"]),
            "smoothing": extra.get("smoothing"),
            "seconds": took,
        }
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"arm": arm, "suite": suite, "models": out, "seconds": seconds, "peak_rss_mib": rss}


def spawn(arm: str, suite: str, baseline: str, only: str | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.counts", "--arm", arm, "--suite", suite]
    cmd += ["--baseline", baseline, "--json"] + (["--only", only] if only else [])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = [f"{old['suite']}: model, split: old loss / new loss (same: to the last digit)"]
    worst = 0.0
    for key, o in old["models"].items():
        n = new["models"][key]
        for split in ("train", "dev", "test"):
            rel = abs(o[split] - n[split]) / abs(o[split])
            worst = max(worst, rel)
            same = "same" if o[split] == n[split] else f"rel {rel:.1e}"
            lines.append(f"  {key:14} {split:5} {o[split]:.12f} {n[split]:.12f} {same}")
        if o["smoothing"] != n["smoothing"]:
            lines.append(f"  {key:14} D     {o['smoothing']!r} {n['smoothing']!r}")
        lines.append(
            f"  {key:14} fit+tune+dev {o['seconds']:.2f}s -> {n['seconds']:.2f}s "
            f"({o['seconds'] / max(n['seconds'], 1e-9):.1f}x)"
        )
    lines.append(f"  worst relative difference: {worst:.1e}")
    lines.append(
        f"  total fit+tune+dev: old {old['seconds']:.1f}s, new {new['seconds']:.1f}s "
        f"({old['seconds'] / max(new['seconds'], 1e-9):.1f}x); peak RSS old "
        f"{old['peak_rss_mib']:.0f} MiB, new {new['peak_rss_mib']:.0f} MiB "
        f"({old['peak_rss_mib'] / new['peak_rss_mib']:.2f}x)"
    )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", default="names", choices=[*SUITES, "all"])
    ap.add_argument("--arm", default="both", choices=["both", "old", "new"])
    ap.add_argument("--baseline", default=BASELINE)
    ap.add_argument("--only", help="One model of the suite, e.g. modified-kn-5.")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    if args.arm != "both":
        results = [run_arm(args.arm, s, args.baseline, args.only) for s in suites]
        print(json.dumps(results[0] if len(results) == 1 else results))
        return
    for suite in suites:
        path = SUITES[suite][0]
        if path is not None and not path.exists():
            print(f"{suite}: skipped, {path} not found")
            continue
        old = spawn("old", suite, args.baseline, args.only)
        new = spawn("new", suite, args.baseline, args.only)
        print("\n".join(compare(old, new)), flush=True)


if __name__ == "__main__":
    main()
