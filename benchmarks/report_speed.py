"""``ngramlm report`` over a large store, as a whole command, against ``ngramlm --help``.

    python -m benchmarks.report_speed [--runs 10000] [--repeat 5] [--store FILE.db]

Writes a store of N finished runs (each with a 20-point curve) through the Store's own
API, then times ``ngramlm --db ... report`` and ``ngramlm --help`` as fresh processes,
alternating, ``--repeat`` times each; prints min and median of each, their ratio (the
target: report within 1.5x of --help, which is the cost of starting the command at all)
and the CPU line. ``--store`` keeps the store in a file and reuses it when it already
holds the N runs. Exits 1 when the ratio of the medians is over ``--max-ratio``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POINTS = 20  # curve points a run (the default 20 evaluations)
TARGET = 1.5  # report's median over --help's


def write_store(url: str, n_runs: int) -> float:
    """A store with one dataset and ``n_runs`` finished runs with curves; seconds taken."""
    from ngramlm.config import RunConfig, TrainConfig
    from ngramlm.models.mlp import FAMILY, MLPConfig
    from ngramlm.stages.prepare import prepare
    from ngramlm.store import Store
    from ngramlm.store.records import MetricRecord, NewRun

    t0 = time.perf_counter()
    with Store(url) as store:
        if store.count_runs() >= n_runs:
            return 0.0
        prepare(store, None, "bench", 42, unit="char")  # the bundled word list
        ds = store.dataset("bench")
        for i in range(n_runs):
            steps = 1000 * (1 + i % 5)
            cfg = RunConfig(
                MLPConfig(vocab_size=len(ds.vocab.tokens), n_hidden=16 + i % 64),
                TrainConfig(steps=steps, lr=0.01 * (1 + i % 30), seed=i),
            )
            run = store.create_run(NewRun(
                dataset_id=ds.id, kind="train", name=None, preset=None, config=cfg.to_dict(),
                config_hash=cfg.config_hash(), columns={**FAMILY.columns(cfg), "precision": "fp32"},
                device="cpu", host="bench", pid=os.getpid(), version="bench",
            ))  # fmt: skip
            curve = [
                MetricRecord(
                    step=steps * (k + 1) // POINTS,
                    elapsed_s=0.01 * k,
                    lr=cfg.train.lr if cfg.train else 0.0,
                    batch_loss=3.0 - 0.05 * k,
                    train_loss=3.0 - 0.05 * k,
                    dev_loss=3.05 - 0.045 * k,
                )
                for k in range(POINTS)
            ]
            store.add_metrics(run.id, curve, steps_done=steps)
            store.end_run(
                run.id,
                status="finished",
                steps_done=steps,
                train_loss=curve[-1].train_loss,
                dev_loss=curve[-1].dev_loss,
                train_seconds=1.0 + i % 7,
                checkpoint_sha256=None,
            )
    return time.perf_counter() - t0


def time_command(args: list[str]) -> float:
    """Wall seconds of ``python -m ngramlm ARGS`` in a fresh process (output discarded)."""
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "ngramlm", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "160"},
        check=False,
    )
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"ngramlm {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
    return took


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--store", type=Path, default=None, help="a SQLite file to keep and reuse")
    ap.add_argument("--max-ratio", type=float, default=None, help="exit 1 above this ratio")
    args = ap.parse_args(argv)
    from benchmarks.brown import cpu

    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or Path(tmp) / "report-speed.db"
        url = f"sqlite:///{path.resolve()}"
        wrote = write_store(url, args.runs)
        print(f"store: {args.runs:,} runs with {POINTS}-point curves at {path}"
              + (f" (written in {wrote:.1f}s)" if wrote else " (reused)"))  # fmt: skip
        report, help_ = [], []
        time_command(["--db", url, "report"])  # warm the file cache and the bytecode
        for _ in range(args.repeat):
            report.append(time_command(["--db", url, "report"]))
            help_.append(time_command(["--help"]))
    ratio = statistics.median(report) / statistics.median(help_)
    print(f"ngramlm report: min {min(report):.3f}s, median {statistics.median(report):.3f}s")
    print(f"ngramlm --help: min {min(help_):.3f}s, median {statistics.median(help_):.3f}s")
    print(f"ratio (medians) {ratio:.2f} (target ≤ {TARGET}); "
          f"ratio (mins) {min(report) / min(help_):.2f}")  # fmt: skip
    print(f"CPU: {cpu()}")
    if args.max_ratio is not None and ratio > args.max_ratio:
        print(f"over --max-ratio {args.max_ratio}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
