"""``nox -s bench`` / ``python -m benchmarks``: ngramlm against the lecture's plain loop.

Every arm runs in a fresh process (spawned, one after another, never two at once) with the
same torch thread count, so its peak memory is its own; baseline and ngramlm arms
alternate. Ratios are reported as ngramlm / baseline or baseline / ngramlm as labelled.

  python -m benchmarks                       # (1)-(5), 200,000 steps
  python -m benchmarks --steps 20000 --only 1,4
  python -m benchmarks --only 6 --threads 2 --finalize   # --preset best from scratch
  python -m benchmarks --only 5 --runs 50 --steps 30 --words data/names.txt   # a smoke run

--steps: the steps of every trained arm (default 200,000 for (1)-(4); (6) trains
--preset best for its own 60,000 unless --steps is given).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
from pathlib import Path
from typing import Any

from benchmarks import arms

DEFAULT_WORDS = Path(
    os.environ.get(
        "NGRAMLM_NAMES",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "makemore-names.txt",
    )
)


# The lecture series' printed final losses (train, dev) on the same split.
LECTURE = {
    "MLP (makemore part 2)": (2.1260, 2.1701),
    "WaveNet (part 5)": (1.7690, 1.9937),
}


def in_process(name: str, kwargs: dict[str, Any], source: str | None = None) -> dict[str, Any]:
    """One arm in a fresh process; ``source``: import ngramlm from that checkout instead."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1, initializer=arms.use_source, initargs=(source,)) as pool:
        return pool.apply(arms.run_arm, (name, kwargs))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--words", type=Path, default=DEFAULT_WORDS, help="word list (lecture's names)")
    ap.add_argument("--steps", type=int, default=None, help="default 200,000; (6): the preset's")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for every arm")
    ap.add_argument("--only", default="1,2,3,4,5", help="which benchmarks, e.g. 1,4 (6: models)")
    ap.add_argument("--runs", type=int, default=10_000, help="runs in the report store (5)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument(
        "--against",
        type=Path,
        help="an earlier ngramlm checkout (git worktree add DIR REV): (1), (2) and (4) also run "
        "it, alternating with this one, and print this one's speed as a ratio to it",
    )
    ap.add_argument(
        "--finalize",
        action="store_true",
        help="(6): evaluate each model on the test split (once per run, in a fresh store)",
    )
    args = ap.parse_args(argv)
    if not args.words.exists():
        print(f"error: {args.words}: no such word list; give one with --words", file=sys.stderr)
        return 2
    only = {int(x) for x in args.only.split(",")}
    steps = args.steps if args.steps is not None else 200_000
    common = {"words": str(args.words), "steps": steps, "threads": args.threads}
    results: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.processor() or ''} "
        f"{multiprocessing.cpu_count()} cores, Python {platform.python_version()}",
        "threads": args.threads,
        "steps": steps,
    }
    print(f"# ngramlm benchmarks: {results['machine']}, torch threads {args.threads}, "
          f"{steps:,} steps, {args.words.name}")  # fmt: skip
    baseline: dict[str, Any] | None = None

    def get_baseline() -> dict[str, Any]:
        nonlocal baseline
        if baseline is None:
            baseline = in_process("baseline", common)
            show("baseline (lecture loop, autograd)", baseline)
        return baseline

    against = str(args.against.resolve()) if args.against else None

    def before(name: str, now: dict[str, Any], key: str = "steps_per_s") -> None:
        """The same arm on the earlier checkout, right after this one's."""
        if against is None:
            return
        old = in_process(name, common, against)
        show(f"  the same on {args.against}", old)
        results.setdefault("against", {})[name] = {"before": old, "now": now}
        print(f"  this checkout vs {args.against}: {now[key] / old[key]:.3f}x {key}, "
              f"dev {now['dev_loss']:.6f} vs {old['dev_loss']:.6f}")  # fmt: skip

    if 1 in only:
        b = get_baseline()
        n = in_process("lecture", common)
        show("ngramlm train --preset lecture", n)
        before("lecture", n)
        ratio = n["steps_per_s"] / b["steps_per_s"]
        results["1_lecture"] = {"baseline": b, "ngramlm": n, "speed_ratio": ratio,
                                "dev_diff": n["dev_loss"] - b["dev_loss"]}  # fmt: skip
        print(f"(1) --preset lecture: {ratio:.2f}x the baseline's steps/s (target >= 1.8); "
              f"dev {n['dev_loss']:.4f} vs {b['dev_loss']:.4f} "
              f"(diff {n['dev_loss'] - b['dev_loss']:+.4f}, target within 0.01)\n")  # fmt: skip
    if 2 in only:
        b = get_baseline()
        n = in_process("sweep8", common)
        show("ngramlm sweep --lr-grid (8 points, batched)", n)
        before("sweep8", n)
        ratio = n["wall_seconds"] / b["wall_seconds"]
        results["2_sweep"] = {"baseline": b, "ngramlm": n, "wall_ratio": ratio}
        print(
            f"(2) 8-point lr sweep: {ratio:.2f}x the wall time of ONE baseline run "
            f"(target <= 1.5; {8 / ratio:.1f}x the throughput of the points one by one)\n"
        )
    if 3 in only:
        b = get_baseline()
        n = in_process("default_to_217", common)
        show("ngramlm train --preset default", n)
        reach = n.get("seconds_to_2_17")
        ratio = reach / b["wall_seconds"] if reach is not None else float("nan")
        results["3_default"] = {"baseline": b, "ngramlm": n, "time_ratio": ratio}
        print(
            f"(3) --preset default reaches dev <= 2.17 after {reach}s: {ratio:.2f}x the "
            f"baseline's {b['wall_seconds']:.0f}s (target <= 0.25); final dev {n['dev_loss']:.4f}\n"
        )
    if 4 in only:
        without = in_process("engine_only", common)
        with_store = in_process("lecture", common)
        show("engine without the store", without)
        before("engine_only", without)
        show("engine with the store", with_store)
        overhead = with_store["wall_seconds"] / without["wall_seconds"] - 1
        results["4_store_overhead"] = {"without": without, "with": with_store, "overhead": overhead}
        print(f"(4) store overhead: {overhead:+.2%} of training time (target <= 2%)\n")
    if 5 in only:
        n = in_process("report10k", {"runs": args.runs})
        results["5_report"] = n
        print(
            f"(5) report on {args.runs:,} runs x 20 evaluations: table {n['table_s']:.3f}s, "
            f"--json {n['json_s']:.3f}s in-process; `ngramlm report` command "
            f"{n['command_s']:.2f}s wall including Python start-up (target < 1s)\n"
        )
    if 6 in only:
        n = in_process("models", {"words": str(args.words), "threads": args.threads,
                                  "finalize": args.finalize, "steps": args.steps})  # fmt: skip
        results["6_models"] = n
        print("(6) model quality on the lecture's names (seed-42 split), nats per character:")
        print(f"  {'model':26s} {'train':>7s} {'dev':>7s} {'test':>7s} {'time':>7s}")
        for name, label in (("bigram-2", "bigram add-1 (part 1)"),
                            ("kneser-ney-5", "Kneser-Ney 5-gram"),
                            ("kneser-ney-6", "Kneser-Ney 6-gram"),
                            ("best", "ngramlm --preset best")):  # fmt: skip
            r = n[name]
            test = "—" if r["test_loss"] is None else f"{r['test_loss']:.4f}"
            print(f"  {label:26s} {r['train_loss']:7.4f} {r['dev_loss']:7.4f} {test:>7s} "
                  f"{r['seconds']:6.0f}s")  # fmt: skip
        lectures = n["lectures_split"]  # the lecture's figures: on its names and split alone
        for label, (tr, dv) in LECTURE.items() if lectures else ():
            print(f"  {label:26s} {tr:7.4f} {dv:7.4f} {'—':>7s} {'—':>7s}")
        best, kn = n["best"]["dev_loss"], n["kneser-ney-6"]["dev_loss"]
        wavenet = LECTURE["WaveNet (part 5)"][1]
        print(
            f"(6) --preset best: dev {best:.4f} (target <= 2.00) in "
            f"{n['best']['wall_seconds']:.0f}s (target <= 600s); dev ratio to Kneser-Ney 6-gram "
            f"{best / kn:.4f}"
            + (f", to the lecture's WaveNet {best / wavenet:.4f}" if lectures else
               " (--words is not the lecture's names: no comparison with its figures)")
            + "\n"
        )  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def show(label: str, r: dict[str, Any]) -> None:
    rate = f"{r['steps_per_s']:,.0f} steps/s" if "steps_per_s" in r else ""
    print(f"  {label:45s} {rate:>16s}  wall {r['wall_seconds']:7.1f}s  "
          f"train {r.get('train_loss') or float('nan'):.4f}  "
          f"dev {r.get('dev_loss') or float('nan'):.4f}  "
          f"peak {r['peak_mb']:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
