"""``python -m benchmarks.scaling``: time and peak memory of each step against corpus size.

    python -m benchmarks.scaling --sizes 1e6,1e7,1e8 [--steps 50] [--out docs]

The corpus: N tokens of sentences sampled from a model of Brown (read from NGRAMLM_BROWN,
default ../shared/data/brown.txt relative to the repository), so its vocabulary and
n-gram statistics grow like real text's, unlike Brown repeated. The model: Brown's
bigrams interpolated with its unigrams (weight 0.1, so unseen bigrams occur too), sampled
with numpy, up to 100,000 sentences in parallel. Every occurrence of a rare word (one
Brown has at most twice: 3.5% of its tokens) is replaced by an invented word drawn from
an unbounded Zipf-distributed lexicon (exponent 1.3), so new words keep coming as the
corpus grows (Heaps' law: 32k types at 1M tokens, 80k at 10M), while the common words
keep Brown's frequencies.

Each step runs in a fresh subprocess; its wall time and peak memory (the child's max RSS)
are measured from outside:

* prepare: ``ngramlm prepare FILE --unit word --min-count 2 --split ordered:TRAIN,DEV``
  (train 98% of the tokens, dev 1%, test 1%);
* modified KN-5: ``ngramlm train --model modified-kn --order 5`` (count, dev loss, and
  the train loss over the whole train split);
* words steps: ``--preset words`` for ``--steps`` steps on the corpus (the training loop's
  own stepper on the examples ``ngramlm train`` loads), steps/s after a warm-up, and the
  same on Brown with the same vocabulary size (the step's cost is 96 x V a token: equal V
  isolates what the corpus's size changes, the minibatch gather) and at Brown's own V;
* network dev eval: the words network's evaluation of the dev split (``evaluate_set``).

Printed and written to docs/scaling.md (with the command and the CPU), plotted to
docs/scaling.png (log-log: time and memory against tokens).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BROWN = Path(os.environ.get("NGRAMLM_BROWN", REPO.parent / "shared" / "data" / "brown.txt"))
PARALLEL = 100_000  # sentences sampled at once
UNIGRAM_WEIGHT = 0.1
ZIPF_A = 1.3
DEV_SHARE = 0.002
RARE = 2  # Brown counts at most this: replaced by invented words


# --- the corpus ------------------------------------------------------------------------


class BrownModel:
    """Brown's interpolated bigram model as sorted arrays, for vectorised sampling."""

    def __init__(self, path: Path) -> None:
        lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
        lines = [t for t in lines if t]
        words, ids = np.unique(np.array([w for t in lines for w in t]), return_inverse=True)
        self.words = np.concatenate([["\n"], np.char.add(words.astype(str), " ")]).astype(object)
        ids = ids.astype(np.int64) + 1  # 0: the sentence boundary
        V = len(self.words)
        lens = np.array([len(t) for t in lines])
        seq = np.zeros(lens.sum() + len(lines) + 1, dtype=np.int64)  # 0 w w w 0 w w 0 ...
        ends = np.cumsum(lens + 1)
        mask = np.ones(seq.size, dtype=bool)
        mask[0] = False
        mask[ends] = False
        seq[mask] = ids
        keys, counts = np.unique(seq[:-1] * V + seq[1:], return_counts=True)
        self.V, self.keys, self.cum = V, keys, np.cumsum(counts)
        self.lo = np.searchsorted(keys, np.arange(V) * V)  # each context's first bigram
        self.hi = np.searchsorted(keys, (np.arange(V) + 1) * V)
        uni = np.bincount(seq[1:], minlength=V).astype(np.float64)
        self.uni_cum = np.cumsum(uni / uni.sum())
        self.hapax = np.bincount(ids, minlength=V) <= RARE
        self.hapax[0] = False  # the boundary
        self.brown_tokens = int(lens.sum())

    def sample(self, rng: np.random.Generator, prev: np.ndarray) -> np.ndarray:
        lo, hi = self.lo[prev], self.hi[prev]
        base = np.where(lo > 0, self.cum[np.maximum(lo - 1, 0)], 0)
        r = base + rng.random(prev.size) * (self.cum[hi - 1] - base)
        nxt = self.keys[np.searchsorted(self.cum, r, side="right")] % self.V
        uni = rng.random(prev.size) < UNIGRAM_WEIGHT
        nxt[uni] = np.searchsorted(self.uni_cum, rng.random(int(uni.sum())), side="right")
        nxt[(prev == 0) & (nxt == 0)] = 1  # no empty sentence
        return nxt


def write_corpus(path: Path, n_tokens: int, brown: Path, seed: int = 0) -> dict[str, Any]:
    """Sample about ``n_tokens`` tokens (whole sentences) to ``path``."""
    model = BrownModel(brown)
    rng = np.random.default_rng(seed)
    chains = min(PARALLEL, max(1, n_tokens // 50))
    prev = np.zeros(chains, dtype=np.int64)
    written = 0
    invented: dict[int, str] = {}
    with path.open("w", encoding="utf-8") as f:
        while written < n_tokens:
            block = np.empty((64, chains), dtype=np.int64)
            for i in range(64):
                prev = block[i] = model.sample(rng, prev)
            for row in block.T:  # each chain's sentences, whole ones only
                cut = np.flatnonzero(row == 0)
                if cut.size == 0:
                    continue
                toks = row[: cut[-1] + 1]
                text = model.words[toks]
                new = np.flatnonzero(model.hapax[toks])
                if new.size:
                    for j, k in zip(new, rng.zipf(ZIPF_A, new.size), strict=True):
                        text[j] = invented.get(k) or invented.setdefault(k, f"nw{k:x} ")
                f.write("".join(text.tolist()).replace(" \n", "\n"))
                written += int(toks.size - cut.size)
                if written >= n_tokens:
                    break
            prev[:] = 0  # every chain restarts a sentence: the next block is independent
    return {"tokens": written, "brown_tokens": model.brown_tokens}


# --- measuring a step in a fresh process -----------------------------------------------


def measure(cmd: list[str], *, may_fail: bool = False) -> dict[str, Any]:
    """Run ``cmd`` in a fresh process through ``--child``: wall seconds, peak RSS (GB),
    its last stdout line (a JSON object where the step prints one); ``may_fail``: a
    failure comes back as ``{"error": its last line}``."""
    wrapper = [sys.executable, "-m", "benchmarks.scaling", "--child", "--", *cmd]
    done = subprocess.run(wrapper, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        if may_fail:
            return {"error": (done.stdout.strip().splitlines() or ["?"])[-1]}
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(cmd: list[str]) -> None:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9
    if done.returncode != 0:
        sys.stdout.write(done.stdout + done.stderr)
        raise SystemExit(done.returncode)
    lines = done.stdout.strip().splitlines()
    try:
        extra = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        extra = {}
    print(json.dumps({"wall_s": wall, "peak_gb": peak, **extra}))


def probe(db: str, name: str, what: str, steps: int, vocab_size: int, ref_db: str = "") -> None:
    """In a fresh process: the words preset on a prepared dataset, ``steps`` steps timed
    after 5 warm-up steps (``what`` = steps; with ``ref_db``, alternating with as many on
    Brown there), its dev evaluation (``what`` = eval), or modified KN-5 (``kn``)."""
    import torch

    from ngramlm.evaluation import EvalSet, evaluate_set
    from ngramlm.models import preset_config
    from ngramlm.runtime import resolve_device
    from ngramlm.stages.run import load_examples
    from ngramlm.store import Store
    from ngramlm.training.loop import AutogradStep, build, draw, neural_family

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    store = Store(db)
    ds = store.dataset(name)
    if what == "kn":  # what `ngramlm train --model modified-kn` does, less the store
        from ngramlm import checkpoint
        from ngramlm.models import family_of

        kn = preset_config(None, {"order": 5}, ds.vocab_size, model="modified-kn")
        fam = family_of(kn)
        ex = load_examples(store, ds, 4)
        m = fam.fit(kn.model, ex.Xtr, ex.Ytr)  # type: ignore[attr-defined]
        _, dev = fam.tune_and_score(m, ex.Xdev, ex.Ydev)  # type: ignore[attr-defined]
        train_loss = m.mean_nll(ex.Xtr, ex.Ytr)
        blob = checkpoint.counted_blob(m, kn, ds.vocab)
        print(
            json.dumps(
                {"dev_loss": dev, "train_loss": train_loss, "checkpoint_gb": blob.size / 1e9}
            )
        )
        return
    V = max(vocab_size, ds.vocab_size)
    cfg = preset_config("words", {"steps": 10_000, "epochs": None}, V)  # steps: only timed
    assert cfg.train is not None
    t0 = time.perf_counter()
    ex = load_examples(store, ds, cfg.model.block_size)
    load_s = time.perf_counter() - t0
    device = resolve_device("cpu")
    model, opt, gen = build(cfg, device, neural_family(cfg).precision(cfg, device))
    if what == "eval":
        t0 = time.perf_counter()
        loss = evaluate_set(model, EvalSet.of(ex.Xdev, ex.Ydev, V))
        s = time.perf_counter() - t0
        print(json.dumps({"eval_s": s, "load_s": load_s, "dev_loss": loss, "V": V}))
        return
    step = AutogradStep(model, opt, gen)
    B = cfg.train.batch_size
    ref_store = Store(ref_db) if ref_db else None
    ref = (
        load_examples(ref_store, ref_store.dataset("brown"), cfg.model.block_size)
        if ref_store
        else None
    )
    for _ in range(5):
        step.step_ix(ex.Xtr, ex.Ytr, draw(gen, ex.Xtr.shape[0], B), 1e-3)
    spent = {"corpus": 0.0, "brown": 0.0}
    # Blocks of 5 steps, alternating with Brown's (same model, same V): the machine's load
    # falls on both alike, so their ratio measures the examples, not the neighbours.
    for done in range(0, steps, 5):
        for which, e in (("corpus", ex), ("brown", ref)):
            if e is None:
                continue
            t0 = time.perf_counter()
            for _ in range(min(5, steps - done)):
                step.step_ix(e.Xtr, e.Ytr, draw(gen, e.Xtr.shape[0], B), 1e-3).item()
            spent[which] += time.perf_counter() - t0
    out = {"steps_per_s": steps / spent["corpus"], "load_s": load_s, "V": V}
    out["windows"] = not isinstance(ex.Xtr, torch.Tensor)
    if ref is not None:
        out["brown_steps_per_s"] = steps / spent["brown"]
        out["brown_windows"] = not isinstance(ref.Xtr, torch.Tensor)
    print(json.dumps(out))


# --- the table -------------------------------------------------------------------------


def ngramlm_cmd(db: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "ngramlm", "--db", db, *args]


def prepare_cmd(db: str, corpus: Path, name: str, tokens: int) -> list[str]:
    dev = max(1, int(tokens * DEV_SHARE))
    split = f"ordered:{tokens - 2 * dev},{dev}"
    return ngramlm_cmd(db, "prepare", str(corpus), "--name", name, "--unit", "word",
                       "--min-count", "2", "--split", split)  # fmt: skip


def run_size(
    tmp: Path, tokens: int, brown: Path, steps: int, brown_db: str, brown_v: int
) -> dict[str, Any]:
    corpus = tmp / f"corpus-{tokens}.txt"
    t0 = time.perf_counter()
    info = write_corpus(corpus, tokens, brown)
    gen_s = time.perf_counter() - t0
    db = f"sqlite:///{tmp / f'store-{tokens}.db'}"
    name = f"c{tokens}"
    row: dict[str, Any] = {"tokens": info["tokens"], "generate_s": gen_s}
    row["prepare"] = measure(prepare_cmd(db, corpus, name, info["tokens"]))
    corpus.unlink()
    kn = ngramlm_cmd(db, "train", "--dataset", name, "--model", "modified-kn", "--order", "5",
                     "--quiet")  # fmt: skip
    row["kn5"] = measure(kn, may_fail=True)
    if "error" in row["kn5"]:  # e.g. a checkpoint too long for the store: the same work
        me = [sys.executable, "-m", "benchmarks.scaling", "--probe"]
        row["kn5"] = {**measure([*me, db, name, "kn", "0", "0"]), "error": row["kn5"]["error"]}
    me = [sys.executable, "-m", "benchmarks.scaling", "--probe"]
    # both at V = max(the corpus's, Brown's): the same model, the same cost a step
    row["steps"] = measure([*me, db, name, "steps", str(steps), str(brown_v), brown_db])
    row["brown_same_v"] = {"steps_per_s": row["steps"]["brown_steps_per_s"]}
    row["eval"] = measure([*me, db, name, "eval", "1", "0"])
    return row


def table(rows: list[dict[str, Any]], brown_own: dict[str, Any]) -> list[str]:
    out = [
        "| tokens | V | model V | prepare s | prepare GB | KN-5 s | KN-5 GB | words steps/s "
        "| Brown at same V steps/s | ratio | steps GB | dev eval s | dev eval GB |",
        "|" + "---:|" * 13,
    ]
    for r in rows:
        sps, ref = r["steps"]["steps_per_s"], r["brown_same_v"]["steps_per_s"]
        out.append(
            f"| {r['tokens']:,} | {r['eval']['V']:,} | {r['steps']['V']:,} "
            f"| {r['prepare']['wall_s']:.1f} "
            f"| {r['prepare']['peak_gb']:.2f} | {r['kn5']['wall_s']:.1f} "
            f"| {r['kn5']['peak_gb']:.2f} | {sps:.2f} | {ref:.2f} | {sps / ref:.3f} "
            f"| {r['steps']['peak_gb']:.2f} | {r['eval']['eval_s']:.1f} "
            f"| {r['eval']['peak_gb']:.2f} |"
        )
    out.append("")
    for r in rows:
        if "error" in r["kn5"]:
            out.append(
                f"{r['tokens']:,} tokens: `ngramlm train --model modified-kn --order 5` stopped "
                f'at the store ("{r["kn5"]["error"]}"); the KN-5 columns are the same fit, '
                "dev and train evaluation and checkpoint serialisation without the store write."
            )
    out.append(
        f"Brown itself (V = {brown_own['V']:,}): {brown_own['steps_per_s']:.2f} words steps/s."
    )
    return out


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["tokens"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    series = {
        "prepare": ("prepare", "wall_s", "peak_gb"),
        "modified KN-5 fit + eval": ("kn5", "wall_s", "peak_gb"),
        "network dev eval": ("eval", "eval_s", "peak_gb"),
    }
    for label, (k, t, m) in series.items():
        a.loglog(n, [r[k][t] for r in rows], "o-", label=label)
        b.loglog(n, [r[k][m] for r in rows], "o-", label=label)
    b.loglog(n, [r["steps"]["peak_gb"] for r in rows], "o-", label="words steps")
    lo, hi = min(n), max(n)
    t0 = rows[0]["kn5"]["wall_s"]
    a.loglog([lo, hi], [t0, t0 * hi / lo], "k:", label="linear")
    a.set(xlabel="tokens", ylabel="wall time (s)", title="time")
    b.set(xlabel="tokens", ylabel="peak RSS (GB)", title="memory")
    for ax in (a, b):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def cpu_line() -> str:
    try:
        from benchmarks.brown import cpu

        return cpu()
    except Exception:  # the line is informative only
        import platform

        return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[2:])
    if argv[:1] == ["--probe"]:
        db, name, what, steps, V = argv[1:6]
        return probe(db, name, what, int(steps), int(V), *argv[6:7])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e6,1e7,1e8", help="tokens, comma-separated")
    ap.add_argument("--steps", type=int, default=50, help="words-preset steps timed")
    ap.add_argument("--brown", type=Path, default=DEFAULT_BROWN)
    ap.add_argument("--out", type=Path, default=REPO / "docs", help="scaling.md/.png here")
    ap.add_argument("--tmp", type=Path, default=None, help="where corpora and stores go")
    args = ap.parse_args(argv)
    if not args.brown.exists():
        print(f"skipped: the Brown corpus is not at {args.brown}; set NGRAMLM_BROWN")
        return None
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    print(cpu_line())
    with tempfile.TemporaryDirectory(prefix="ngramlm-scaling-", dir=args.tmp) as t:
        tmp = Path(t)
        brown_db = f"sqlite:///{tmp / 'brown.db'}"
        n_brown = len(args.brown.read_text(encoding="utf-8").split())
        measure(prepare_cmd(brown_db, args.brown, "brown", n_brown))
        me = [sys.executable, "-m", "benchmarks.scaling", "--probe"]
        brown_own = measure([*me, brown_db, "brown", "steps", str(args.steps), "0"])
        rows = []
        for n in sizes:
            rows.append(run_size(tmp, n, args.brown, args.steps, brown_db, brown_own["V"]))
            print(json.dumps(rows[-1]), flush=True)
    lines = table(rows, brown_own)
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    cmd = "python -m benchmarks.scaling " + " ".join(argv)
    (args.out / "scaling.md").write_text(
        "# Scaling: time and memory against corpus size\n\n"
        f"`{cmd.strip()}` on {cpu_line()}, {os.cpu_count()} CPUs.\n\n"
        + "\n".join(lines)
        + "\n\n![scaling](scaling.png)\n"
    )
    plot(rows, args.out / "scaling.png")
    return None


if __name__ == "__main__":
    main()
