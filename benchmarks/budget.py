"""A search keeps its budget, and a second search on the same dataset trains no
configuration twice.

    python -m benchmarks.budget [--budget 2m] [--second 30s] [--workers 1] [--threads 1]
    python -m benchmarks.budget --smoke --budget 6s --second 4s     # does it run

Prepares the bundled names (``ngramlm prepare``'s default) in a fresh store, then runs
``ngramlm sweep --search tpe --budget 2m --dataset names`` as a user types it (the
family's default space), in a process of its own, timed from its start to its exit;
then a second search on the same dataset with ``--second``'s budget and the same seed.
Prints, for each, the command's wall time against its budget (the ratio), the time from
the search's creation to its last trial's end, its trials (finished, pruned, stopped by
the budget), and how many configurations the two searches trained twice. Targets: the
first command ends within 2 min 15 s of a 2 min budget (ratio <= 1.125), and no
configuration is trained twice (the same seed proposes the same points: the second
search starts from the first's trials instead).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.brown import cpu

SMOKE = ("--steps", "600", "--n-embd", "8", "--batch-size", "32")  # trials of seconds


def seconds_of(text: str) -> float:
    from ngramlm.stages.space import parse_budget

    return parse_budget(text)


def run_cli(url: str, *args: str, threads: int) -> tuple[float, subprocess.CompletedProcess[str]]:
    """``python -m ngramlm --db URL ARGS`` in a process of its own: its wall time (from
    before the process starts to its exit) and what it printed."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "ngramlm", "--db", url, *args],
                          env=env, capture_output=True, text=True)  # fmt: skip
    wall = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"ngramlm {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return wall, done


def search(url: str, budget: str, args: argparse.Namespace) -> tuple[float, int, str]:
    """One search as a user types it: its wall time, its sweep id, its progress lines."""
    cmd = ["sweep", "--search", "tpe", "--budget", budget, "--dataset", "names",
           "--workers", str(args.workers), "--threads", str(args.threads)]  # fmt: skip
    extra = SMOKE if args.smoke else ("--steps", str(args.steps)) if args.steps else ()
    wall, done = run_cli(url, *cmd, *extra, threads=args.threads)
    found = re.search(r"^search (\d+) on names", done.stdout, re.M)
    if found is None:
        sys.exit(f"no search header in what it printed:\n{done.stdout}")
    return wall, int(found.group(1)), done.stderr


def row(exp: Any, sweep_id: int, budget: str, wall: float) -> str:
    """A search's row: its budget, the command's wall time and its ratio, the search's
    own time (creation to its last trial's end) and its trials."""
    runs = exp.runs(sweep=sweep_id)
    sw = exp.sweep_status(sweep_id).sweep
    ends = [r.ended_at for r in runs if r.ended_at is not None]
    own = (max(ends) - sw.created_at).total_seconds() if ends else 0.0
    n = {st: sum(r.status == st for r in runs) for st in ("finished", "pruned", "killed")}
    b = seconds_of(budget)
    return (
        f"| {sweep_id} | {budget} | {wall:.1f} s | **{wall / b:.3f}** | {own:.1f} s "
        f"({own / b:.3f}) | {n['finished']} finished, {n['pruned']} pruned, "
        f"{n['killed']} stopped by the budget |"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.budget", description=__doc__)
    ap.add_argument("--budget", default="2m", help="the first search's (default 2m)")
    ap.add_argument("--second", default="30s", help="the second search's budget")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=None, help="each trial's (default: the space's)")
    ap.add_argument("--smoke", action="store_true", help="tiny trials: does it run")
    args = ap.parse_args(argv)

    import ngramlm

    print(f"cpu: {cpu()}; load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="ngramlm-budget-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'store.db'}"
        run_cli(url, "prepare", threads=args.threads)  # the bundled names, untimed
        first = search(url, args.budget, args)
        second = search(url, args.second, args)
        with ngramlm.open_store(url) as exp:
            print(
                "\n| search | --budget | the command's wall time | ÷ budget | creation to "
                "its last trial's end (÷ budget) | trials |"
            )
            print("| --- | --- | --- | --- | --- | --- |")
            print(row(exp, first[1], args.budget, first[0]))
            print(row(exp, second[1], args.second, second[0]))
            runs = exp.runs(sweep=first[1]) + exp.runs(sweep=second[1])
            twice = len(runs) - len({r.config_hash for r in runs})
            print()
            for r in sorted(runs, key=lambda r: r.id):  # how each trial ended
                why = f": {r.error.partition(';')[0]}" if r.status == "killed" and r.error else ""
                print(f"- search {r.sweep_id}, run {r.id}: {r.status} at step "
                      f"{r.steps_done:,} of {r.steps:,}{why}")  # fmt: skip
    lines = sum(line.startswith("trial ") for line in first[2].splitlines())
    print(f"\nthe first search's progress lines (stderr, not a terminal): {lines} trial lines")
    print(f"configurations trained twice across the two searches: {twice}")
    ok = first[0] <= seconds_of(args.budget) * 1.125
    print(f"target (wall time <= 1.125 x the budget): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
