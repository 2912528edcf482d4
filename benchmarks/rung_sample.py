"""Does the dev sample that a search's rung decisions use change the ranking?

    python -m benchmarks.rung_sample --corpus brown.txt --threads 2 [--trials 8] [--steps 300]
    python -m benchmarks.rung_sample --task names --threads 2 [--steps 500]
    python -m benchmarks.rung_sample --smoke       # a tiny corpus, seconds: does it run

Successive halving (``sweep --search ... --prune halving``) compares trials by the dev loss
the training loop records at its evaluations. On a costly word corpus the loop evaluates
dev before the end on a fixed sample (``training/evaluating.py``'s ``sample_of``: at most
``SAMPLE`` = 65,536 evenly spaced examples; on Brown with the paper's split, 65,536 of
211,711); a character dataset's dev (the names) is always evaluated whole.

brown (the paper's protocol: ``--unit word --min-count 4 --split ordered:800000,200000``):
``--trials`` points drawn at random (seeded) from the word default search space
(``Family.search_space("word")``, trials from ``--preset words``) are each trained for
``--steps`` steps of their own schedule (as a trial at a rung: the loop evaluates there,
on the sample where dev is costly), then evaluated on the whole dev split. Prints the
CPU, both rankings, Kendall's tau between them, and the trials successive halving would
keep at a rung of these trials (its rule, the best third) by each. names: the same with
the character space (``--preset best``) on the lecture's names, whose dev is whole:
the two rankings agree by construction (and the run takes a minute or two).

Timing: brown's defaults (8 trials of 300 steps) are sized to take at most about 8
minutes on 2 cores, from the README's ``--preset words`` times (0.04 to 0.13 s a step on
2 cores, 3 epochs being ~4,950 steps), plus an evaluation of the whole dev split and
one of the train and dev samples a trial; it prints each trial's time and the total.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.brown import DEFAULT_CORPUS as BROWN
from benchmarks.brown import SPLIT, cpu

NAMES = Path(
    os.environ.get(
        "NGRAMLM_NAMES",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "makemore-names.txt",
    )
)
SMOKE_WORDS = ["the", "cat", "dog", "sat", "on", "a", "mat", "and", "ran", "to", "big", "red"]


@dataclass(frozen=True)
class Row:
    params: dict[str, Any]
    sample: float  # dev at the rung, as the loop measured it (on the sample where costly)
    sampled: bool
    whole: float  # dev on the whole split, the same weights
    n_sample: int
    n_dev: int
    seconds: float


def kendall_tau(a: list[float], b: list[float]) -> float:
    """Kendall's tau-a of two scorings of the same items (ties count as neither)."""
    n = len(a)
    s = 0
    for i in range(n):
        for j in range(i + 1, n):
            x, y = a[i] - a[j], b[i] - b[j]
            s += (x * y > 0) - (x * y < 0)
    return s / (n * (n - 1) / 2) if n > 1 else 1.0


def kept(values: list[float]) -> set[int]:
    """The trials successive halving keeps at a rung of just these trials."""
    from ngramlm.stages.halving import promoted

    return {i for i, v in enumerate(values) if promoted(v, values[:i] + values[i + 1 :])}


def ranks(values: list[float]) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0] * len(values)
    for r, i in enumerate(order):
        out[i] = r + 1
    return out


def smoke_corpus(path: Path, n: int = 400) -> Path:
    rng = random.Random(0)
    weights = [1 / (i + 1) for i in range(len(SMOKE_WORDS))]
    lines = [" ".join(rng.choices(SMOKE_WORDS, weights, k=rng.randint(2, 7))) for _ in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(args: argparse.Namespace, tmp: Path) -> int:
    import optuna
    import torch

    import ngramlm
    from ngramlm.evaluation import EvalSet, evaluate_set
    from ngramlm.models import family
    from ngramlm.stages.hooks import load_examples
    from ngramlm.stages.plan import plan_run
    from ngramlm.stages.space import parse_space
    from ngramlm.training import evaluating
    from ngramlm.training.loop import EvalPoint, Hooks, build, train

    if args.threads:
        torch.set_num_threads(args.threads)
    word = args.task == "brown"
    exp = ngramlm.open_store(f"sqlite:///{tmp / 'rungs.db'}")
    t0 = time.perf_counter()
    if args.smoke:
        corpus = smoke_corpus(tmp / "tiny.txt")
        ds = exp.prepare(corpus, "tiny", unit="word", min_count=2, split="ordered:1200,300").dataset
    elif word:
        ds = exp.prepare(
            args.corpus or BROWN, "brown", unit="word", min_count=4, split=SPLIT
        ).dataset
    else:
        ds = exp.prepare(args.corpus or (NAMES if NAMES.exists() else None), "names").dataset
    if args.smoke:  # a dev split of ~360 examples, sampled as Brown's is (96 of them)
        evaluating.SAMPLE, evaluating.COSTLY_LOGITS = 96, 96 * ds.vocab_size
    preset, space = family("mlp").search_space(ds.unit)
    # the smoke's trials: 10 times its steps, in small minibatches (the corpus is tiny)
    short = {"steps": 10 * args.steps, "batch_size": 32} if args.smoke else {}
    plan = plan_run(exp.store, ds, preset=preset, overrides=short)
    base = plan.config
    assert base.train is not None
    if args.steps >= base.train.steps:
        print(f"error: --steps must be below the trials' {base.train.steps:,}", file=sys.stderr)
        return 2
    print(
        f"# rung sample, {args.task}{' (smoke)' if args.smoke else ''}: {cpu()}, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads; |V| = {ds.vocab_size:,}, "
        f"prepared in {time.perf_counter() - t0:.0f} s"
    )
    dims = parse_space([f"{k}={v}" for k, v in space.items()], base)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=args.seed))
    dists = {k: d.distribution() for k, d in dims.items()}
    points = [dict(study.ask(dists).params) for _ in range(args.trials)]
    steps = args.steps
    print(f"{args.trials} trials from --preset {preset} and the default space "
          f"({', '.join(f'{k}={v}' for k, v in space.items())}), each {steps:,} steps of its "
          f"{base.train.steps:,} (the first rung, 1/9, would be step "
          f"{-(-base.train.steps // 9):,})")  # fmt: skip

    class Rung(Hooks):
        """Stops the trial once the loop has evaluated it at ``steps``."""

        point: EvalPoint | None = None

        def on_eval(self, point: EvalPoint) -> None:
            if point.step == steps:
                self.point = point

        def should_stop(self) -> bool:
            return self.point is not None

    examples: dict[int, tuple[Any, EvalSet]] = {}  # by block size: examples, whole dev
    rows: list[Row] = []
    for i, params in enumerate(points):
        cfg = base.with_values({**params, "eval_every": steps})
        bs = cfg.model.block_size
        if bs not in examples:
            ex = load_examples(exp.store, ds, bs)
            examples[bs] = ex, EvalSet.of(ex.Xdev, ex.Ydev, ds.vocab_size)
        ex, whole_set = examples[bs]
        t = time.perf_counter()
        hooks = Rung()
        result = train(cfg, ex, plan.device, hooks, precision=plan.precision)
        p = hooks.point
        assert p is not None and p.dev_loss is not None and plan.precision is not None
        model, _, _ = build(cfg, plan.device, plan.precision)
        model.load_state_dict(result.state.model)
        whole = evaluate_set(model, whole_set)
        sample = evaluating.sample_of(whole_set, ex.Xdev, ex.Ydev)
        n_dev, seconds = int(ex.Ydev.shape[0]), time.perf_counter() - t
        rows.append(
            Row(params, p.dev_loss, p.sampled, whole, int(sample.Y.shape[0]), n_dev, seconds)
        )
        print(f"  trial {i}: dev {p.dev_loss:.4f} on the rung's sample, {whole:.4f} whole, "
              f"{seconds:.0f} s", flush=True)  # fmt: skip
    first = rows[0]
    what = (
        f"a fixed sample of {first.n_sample:,} of its {first.n_dev:,} examples"
        if first.sampled
        else f"the whole split ({first.n_dev:,} examples): the rankings agree by construction"
    )
    print(f"\nthe rungs' dev: {what}")
    a, b = [r.sample for r in rows], [r.whole for r in rows]
    ra, rb = ranks(a), ranks(b)
    print("| trial | " + " | ".join(dims) + " | dev, rung sample | rank | dev, whole | rank |")
    print("|---|" + "---|" * (len(dims) + 4))
    for i, r in enumerate(rows):
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in r.params.values()]
        print(f"| {i} | " + " | ".join(cells) + f" | {r.sample:.4f} | {ra[i]} | "
              f"{r.whole:.4f} | {rb[i]} |")  # fmt: skip
    ka, kb = kept(a), kept(b)
    print(f"\nKendall's tau (rung sample vs whole dev): {kendall_tau(a, b):.3f}")
    print(f"halving keeps (the best third): by the sample {sorted(ka)}, by the whole split "
          f"{sorted(kb)}: {'the same' if ka == kb else 'DIFFERENT'}")  # fmt: skip
    print(f"the whole benchmark: {time.perf_counter() - t0:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--task", choices=["brown", "names"], default="brown")
    ap.add_argument("--corpus", type=Path, help="Brown (brown) or a word list (names)")
    ap.add_argument("--threads", type=int, help="torch threads (default torch's)")
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--steps", type=int, help="steps a trial (default 300 brown, 500 names)")
    ap.add_argument("--seed", type=int, default=0, help="the draw of the trials")
    ap.add_argument("--smoke", action="store_true", help="a tiny corpus, 4 trials of 20 steps")
    args = ap.parse_args(argv)
    if args.smoke:
        args.task, args.trials, args.steps = "brown", 4, args.steps or 20
    args.steps = args.steps or (300 if args.task == "brown" else 500)
    if args.corpus is not None and not args.corpus.exists():
        print(f"error: {args.corpus}: no such file; give one with --corpus", file=sys.stderr)
        return 2
    if args.task == "brown" and not args.smoke and args.corpus is None and not BROWN.exists():
        print(f"error: {BROWN}: no Brown corpus; give it with --corpus", file=sys.stderr)
        return 2
    if args.trials < 2 or args.steps < 1:
        print("error: --trials must be at least 2 and --steps at least 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ngramlm-rungs-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
