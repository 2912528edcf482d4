"""``nox -s threads`` / ``python -m benchmarks.threads``: the default thread choice
against fixed ones, on an idle machine and on one with a busy-loop on every core.

Two workloads, each command in a fresh process (``python -m ngramlm``):

- ``train --preset best --steps N``: the default (no ``--threads``) against
  ``--threads 1`` and ``--threads 2``; steps/s is steps / the run's train_seconds.
- an 8-point ``sweep --preset default`` (small steps): the default against one worker of
  1 and of 2 threads (the old default was one worker of every core's thread) and two
  workers of 1 thread; the figure is the command's wall time.

"loaded": one busy-loop process per usable core, started before and stopped after each
command. Ratios are each arm's speed over the best arm's in its row (1.00: the best);
the target is the default within 10% of the best on both machines.

  python -m benchmarks.threads                       # best for 3000 steps, sweeps of 300
  python -m benchmarks.threads --steps 500 --sweep-steps 50 --loads idle
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.brown import cpu

DEFAULT_WORDS = Path(
    os.environ.get(
        "NGRAMLM_NAMES",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "makemore-names.txt",
    )
)
TRAIN_ARMS = {"default": [], "1 thread": ["--threads", "1"], "2 threads": ["--threads", "2"]}
SWEEP_ARMS = {
    "default": [],
    "1 worker, 1 thread": ["--workers", "1", "--threads", "1"],
    "1 worker, 2 threads": ["--workers", "1", "--threads", "2"],
    "2 workers, 1 thread": ["--workers", "2", "--threads", "1"],
}


@contextmanager
def busy_loops(n: int) -> Iterator[None]:
    """``n`` processes that spin on a core each, for the block."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.5)  # let them reach the cores before the command measures anything
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def ngramlm(db: str, *args: str) -> tuple[float, dict[str, Any]]:
    """Run ``ngramlm --db DB ARGS --json``: (wall seconds, its JSON)."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = path
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "ngramlm", "--db", db, *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"ngramlm {' '.join(args)} failed: {r.stderr.strip()}")
    return wall, json.loads(r.stdout)


def measure(args: argparse.Namespace, db: str, cores: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    lrs = ",".join(f"{0.05 * (i + 1):g}" for i in range(args.points))
    # the preset warms up for 500 steps: a shorter run warms up for a tenth of it
    warmup = [] if args.steps > 500 else ["--warmup", str(args.steps // 10)]
    for load in args.loads.split(","):
        for _ in range(args.repeats):
            for arm, extra in TRAIN_ARMS.items():
                with busy_loops(cores if load == "loaded" else 0):
                    wall, out = ngramlm(
                        db, "train", "--dataset", "bench", "--preset", "best",
                        "--steps", str(args.steps), *warmup, "--quiet", *extra,
                    )  # fmt: skip
                speed = out["steps_done"] / max(out["train_seconds"], 1e-9)
                rows.append(dict(load=load, work="train best", arm=arm, wall=wall, speed=speed))
            for arm, extra in SWEEP_ARMS.items():
                with busy_loops(cores if load == "loaded" else 0):
                    wall, out = ngramlm(
                        db, "sweep", "--dataset", "bench", "--preset", "default",
                        "--lr-grid", lrs, "--steps", str(args.sweep_steps), "--quiet", *extra,
                    )  # fmt: skip
                assert out["finished"] == args.points, out
                speed = args.points * args.sweep_steps / wall
                rows.append(dict(load=load, work="sweep", arm=arm, wall=wall, speed=speed))
    return rows


def table(rows: list[dict[str, Any]]) -> tuple[str, bool]:
    """The mean of each (load, work, arm), its ratio to the best arm, and whether the
    default is within 10% of the best everywhere."""
    groups: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for r in rows:
        groups.setdefault((r["load"], r["work"]), {}).setdefault(r["arm"], []).append(r)
    lines = [f"{'machine':7}  {'workload':10}  {'arm':21}  {'wall s':>7}  {'steps/s':>8}  ratio"]
    ok = True
    for (load, work), arms in groups.items():
        mean = {
            a: (sum(x["wall"] for x in xs) / len(xs), sum(x["speed"] for x in xs) / len(xs))
            for a, xs in arms.items()
        }
        best = max(s for _, s in mean.values())
        for a, (wall, speed) in mean.items():
            lines.append(
                f"{load:7}  {work:10}  {a:21}  {wall:7.1f}  {speed:8.0f}  {speed / best:.2f}"
            )
        ok = ok and mean["default"][1] >= 0.9 * best
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--words", type=Path, default=DEFAULT_WORDS, help="word list (lecture's names)")
    ap.add_argument("--steps", type=int, default=3000, help="steps of train --preset best")
    ap.add_argument("--sweep-steps", type=int, default=300, help="steps of each sweep point")
    ap.add_argument("--points", type=int, default=8, help="points of the sweep")
    ap.add_argument("--loads", default="idle,loaded", help="idle, loaded or both")
    ap.add_argument("--repeats", type=int, default=1, help="rounds of every arm (averaged)")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    args = ap.parse_args(argv)
    if not args.words.exists():
        print(f"error: {args.words}: no such word list; give one with --words", file=sys.stderr)
        return 2
    if not set(args.loads.split(",")) <= {"idle", "loaded"}:
        print(f"error: --loads {args.loads!r}: give idle, loaded or idle,loaded", file=sys.stderr)
        return 2
    from ngramlm.runtime import machine

    m = machine(measure_load=True)
    print(f"CPU: {cpu()}")
    print(f"this process: {m.describe()}")
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'threads.db'}"
        ngramlm(db, "prepare", str(args.words), "--name", "bench")
        rows = measure(args, db, m.usable)
    text, ok = table(rows)
    print(text)
    print(f"default within 10% of the best arm everywhere: {'yes' if ok else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu(), "rows": rows, "ok": ok}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
