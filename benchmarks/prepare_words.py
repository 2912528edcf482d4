"""``python -m benchmarks.prepare_words``: ``ngramlm prepare --unit word`` of a 10M-token
corpus (the Brown corpus repeated, written to a temporary directory, never to the repo)
in a fresh process: wall time, peak memory (max RSS) and the store's size.

  python -m benchmarks.prepare_words                    # Brown x 9 (10.4M tokens)
  python -m benchmarks.prepare_words --repeat 2 --brown /path/to/brown.txt

The target (issue 13): at most 60 s and 2 GB for 10M tokens.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_BROWN = Path(
    os.environ.get(
        "NGRAMLM_BROWN", Path(__file__).resolve().parents[2] / "shared" / "data" / "brown.txt"
    )
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brown", type=Path, default=DEFAULT_BROWN)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--min-count", type=int, default=4)
    args = ap.parse_args(argv)
    if not args.brown.exists():
        sys.exit(f"the Brown corpus is not at {args.brown}; give --brown or NGRAMLM_BROWN")
    text = args.brown.read_bytes()
    with tempfile.TemporaryDirectory(prefix="ngramlm-bench-") as tmp:
        corpus = Path(tmp) / "brown-x.txt"
        with corpus.open("wb") as f:
            for _ in range(args.repeat):
                f.write(text)
        n_tokens = len(text.split()) * args.repeat
        db = Path(tmp) / "store.db"
        cmd = [
            sys.executable, "-m", "ngramlm", "--db", f"sqlite:///{db}", "prepare", str(corpus),
            "--unit", "word", "--min-count", str(args.min_count), "--split", "shuffled",
        ]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if proc.returncode != 0:
            sys.exit(f"prepare failed ({proc.returncode}): {proc.stderr.strip()}")
        print(proc.stdout.rstrip())
        print(
            f"\nprepare --unit word of {n_tokens:,} tokens ({corpus.stat().st_size / 1e6:.1f} MB, "
            f"Brown x {args.repeat}): {wall:.1f} s wall, peak RSS {peak_kb / 1024:.0f} MiB, "
            f"store {db.stat().st_size / 1e6:.1f} MB"
        )
        print(
            f"CPU: {cpu_model()} ({os.cpu_count()} cores), Python "
            f"{platform.python_version()}; target: <= 60 s, <= 2 GB"
        )


if __name__ == "__main__":
    main()
