"""Every benchmark runs: each arm of ``python -m benchmarks`` and every other script in
benchmarks/, at smoke size (a few steps, the bundled word list, a tiny word corpus), in a
subprocess with this checkout on PYTHONPATH, as a user would start them. The figures are
not checked (they are measured by hand, see docs/speed.md); that the scripts still run
against the current code is."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import word_corpus

REPO = Path(__file__).resolve().parents[1]
NAMES = REPO / "data" / "names.txt"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in ``cwd`` with this checkout first on the path, one torch thread."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("NGRAMLM_DB", None)
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
    return proc


# Each arm of `python -m benchmarks`, smoke-sized, and a line its summary must print.
ARMS = {
    1: ("(1) --preset lecture:", ()),
    2: ("(2) 8-point lr sweep:", ()),
    3: ("(3) --preset default reaches", ()),
    4: ("(4) store overhead:", ()),
    5: ("(5) report on 50 runs", ("--runs", "50")),
    6: ("(6) --preset best: dev", ("--finalize",)),
}


@pytest.mark.slow
@pytest.mark.parametrize("arm", sorted(ARMS))
def test_each_benchmark_arm_runs_at_smoke_size(arm: int, tmp_path: Path) -> None:
    expect, extra = ARMS[arm]
    args = ("--only", str(arm), "--steps", "30", "--words", str(NAMES), *extra)
    out = run("-m", "benchmarks", *args, "--json", str(tmp_path / "r.json"), cwd=tmp_path).stdout
    assert expect in out
    assert (tmp_path / "r.json").exists()
    if arm == 6:  # the count baselines beside the MLP, each finalized (a test loss printed)
        for row in ("bigram add-1", "Kneser-Ney 5-gram", "Kneser-Ney 6-gram", "--preset best"):
            line = next(ln for ln in out.splitlines() if row in ln and "—" not in ln)
            assert len(line.split()) >= 4, line
        # the bundled list is not the lecture's names: the lecture's figures stay out
        assert "WaveNet (part 5)" not in out and "no comparison with its figures" in out


def test_benchmarks_refuse_a_missing_word_list(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--words", str(tmp_path / "none.txt")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'none.txt'}: no such word list; give one with --words"
    ]


@pytest.mark.slow  # every model of the table, in a subprocess
def test_the_brown_table_runs_on_a_tiny_corpus(tmp_path: Path) -> None:
    corpus = word_corpus(tmp_path / "tiny.txt")
    out = run(
        "-m", "benchmarks.brown", "--corpus", str(corpus), "--split", "ordered:1200,300",
        "--min-count", "2", "--steps", "20", "--threads", "1", cwd=tmp_path,
    ).stdout  # fmt: skip
    for row in ("modified Kneser-Ney, n=5", "--preset bengio", "--preset words", "mixture of"):
        assert f"| {row}" in out or row in out, row
    assert "best count model (on dev):" in out


@pytest.mark.slow  # searches, in a subprocess
def test_the_search_benchmark_runs_its_word_table_on_a_tiny_corpus(tmp_path: Path) -> None:
    corpus = word_corpus(tmp_path / "tiny.txt")
    out = run(
        "-m", "benchmarks.search", "--task", "brown-small", "--smoke", "--minutes", "0.3",
        "--corpus", str(corpus), "--split", "ordered:1200,300", "--workers", "1", cwd=tmp_path,
    ).stdout  # fmt: skip
    for row in ("| modified KN-5 |", "| --preset words |", "| TPE, best of"):
        assert row in out, out
    assert "under KN-5's dev perplexity" in out


@pytest.mark.slow  # a search, in a subprocess
def test_the_search_benchmark_searches_another_family_on_the_names(
    tmp_path: Path, words_file: Path
) -> None:
    out = run(
        "-m", "benchmarks.search", "--task", "names", "--model", "transformer", "--smoke",
        "--minutes", "0.2", "--corpus", str(words_file), "--workers", "1", cwd=tmp_path,
    ).stdout  # fmt: skip
    assert "transformer: TPE + halving" in out, out
    assert re.search(r"best run \d+: dev \d\.\d{4}, test \d\.\d{4} \(its one finalize\)", out), out
    assert "mixture: run" in out, out


@pytest.mark.slow
def test_the_mixture_benchmark_runs_its_table_on_a_tiny_corpus(tmp_path: Path) -> None:
    corpus = word_corpus(tmp_path / "tiny.txt")
    out = run(
        "-m", "benchmarks.mixture", "--corpus", str(corpus), "--smoke", "--minutes", "0.2",
        "--workers", "1", cwd=tmp_path,
    ).stdout  # fmt: skip
    for row in ("| modified KN-5 |", "| `--preset words` |", "| the search's best network",
                "| **the search's mixture**"):  # fmt: skip
        assert row in out, out
    assert "under KN-5's dev perplexity" in out, out


def test_the_makemore_benchmark_needs_makemore_py(tmp_path: Path) -> None:
    """benchmarks/makemore.py imports karpathy/makemore's file, which is not ours to ship:
    without it, one line naming the option, exit 2."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.makemore", "--makemore", str(tmp_path / "nope.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nope.py'}: no such file; give --makemore PATH"
    ]


@pytest.mark.slow  # the speed benchmark, in a subprocess
def test_word_speed_runs_on_a_tiny_corpus(tmp_path: Path) -> None:
    corpus = word_corpus(tmp_path / "tiny.txt")
    out = run(
        "-m", "benchmarks.word_speed", "--corpus", str(corpus), "--split", "ordered:1200,300",
        "--min-count", "2", "--epochs", "0.1", "--threads", "1", cwd=tmp_path,
    ).stdout  # fmt: skip
    assert "| plain | fp32 |" in out
    assert "/ plain:" in out


def test_prepare_words_runs_on_a_tiny_corpus(tmp_path: Path) -> None:
    corpus = word_corpus(tmp_path / "tiny.txt")
    out = run("-m", "benchmarks.prepare_words", "--brown", str(corpus), "--repeat", "2",
              "--min-count", "2", cwd=tmp_path).stdout  # fmt: skip
    assert "prepare --unit word of" in out


def test_gpu_check_runs_or_says_there_is_no_gpu(tmp_path: Path) -> None:
    """Without CUDA it says so and exits 0; with one, its checks must pass (exit 0)."""
    out = run(str(REPO / "benchmarks" / "gpu_check.py"), cwd=tmp_path).stdout
    assert "no CUDA device here" in out or "batched 8 members" in out


@pytest.mark.slow
def test_against_an_earlier_checkout(tmp_path: Path) -> None:
    """``--against DIR`` runs the arm on another checkout too (here this one again)."""
    out = run("-m", "benchmarks", "--only", "4", "--steps", "30", "--threads", "1",
              "--against", str(REPO), "--words", str(NAMES), cwd=tmp_path).stdout  # fmt: skip
    assert f"this checkout vs {REPO}:" in out


@pytest.mark.slow  # two searches, each a command in a process of its own
def test_the_budget_benchmark_runs_at_smoke_size(tmp_path: Path) -> None:
    out = run("-m", "benchmarks.budget", "--smoke", "--budget", "6s", "--second", "4s",
              cwd=tmp_path).stdout  # fmt: skip
    assert "| 1 | 6s |" in out and "| 2 | 4s |" in out, out
    assert "configurations trained twice across the two searches: 0" in out, out


def test_rung_sample_runs_at_smoke_size(tmp_path: Path) -> None:
    out = run("-m", "benchmarks.rung_sample", "--smoke", "--threads", "1", cwd=tmp_path).stdout
    assert "the rungs' dev: a fixed sample of 96 of its" in out  # sampled, as Brown's is
    assert "Kendall's tau (rung sample vs whole dev):" in out
    assert "halving keeps (the best third): by the sample" in out
    assert out.count("  trial ") == 4
