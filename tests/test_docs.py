"""Docs that cannot rot: every shell command shown in README.md and docs/*.md runs.

A command is a line of a ```bash or ```sh block, or a ``$ `` line of a ```console (or an
untagged) block (a trailing ``# comment`` is not part of it). Each one must be listed in
COVER below, the explicit table of how it is run here:

- ``Smoke(cmd)``: run ``cmd``, the command at smoke size (fewer steps, a tiny corpus, a
  run id of the test store in place of ``RUN``), in its own copy of a small store, or in
  an empty directory (``fresh=True``); ``output=True`` also compares what it prints with
  the transcript under it in the docs, on the real data.
- ``Elsewhere(test)``: run by that test or session (checked to exist).
- ``NotRun(reason)``: cannot run in a test (it downloads, or changes the repository).

A command added to the docs without an entry fails ``test_every_documented_command_is_covered``
with a message saying how to cover it; an entry whose command left the docs fails too.

Placeholders in smoke commands: ``{repo}`` this checkout; ``{NAMES}``/``{BROWN}`` the
lecture's names and Brown (NGRAMLM_NAMES/NGRAMLM_BROWN; the test skips when absent);
``{pg}`` a private schema on the PostgreSQL server; ``{mlp}``, ``{kn}``, ``{mkn}`` runs on
the tiny character dataset ``makemore``, ``{words}``, ``{bmkn}`` runs on the tiny word
dataset ``brown``, ``{sweep}`` a sweep on ``makemore``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ngramlm.cli import main

from .conftest import BROWN, MAKEMORE, REPO
from .helpers import nltk_brown, word_corpus

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Smoke:
    cmd: str
    fresh: bool = False  # an empty directory instead of a copy of the test store
    output: bool = False  # compare stdout with the documented transcript
    slow: bool = False  # a sweep, a search: left out of the inner loop (-m "not slow")


@dataclass(frozen=True)
class Elsewhere:
    test: str  # "tests/FILE.py::test_name", or a nox session / CI script


@dataclass(frozen=True)
class NotRun:
    reason: str


STEPS = "--steps 30"
QUICK_START = "tests/test_quickstart.py::test_the_quick_start_prints_what_readme_shows"
# A file of new sentences for `score` (the tiny word dataset's words, and one it lacks)
HELD_OUT = (
    "python3 -c \"open('held-out.txt', 'w').write('the big red house sat on a mat\\n"
    "a zebra ran to the dog\\n')\""
)
COVER: dict[str, Smoke | Elsewhere | NotRun] = {
    # --- README: the set-up commands ----------------------------------------------------
    "python3 -m venv .venv && .venv/bin/pip install -q torch==2.13.0 . && .venv/bin/ngramlm "
    "prepare && .venv/bin/ngramlm train && .venv/bin/ngramlm sample last": Smoke(
        # the install itself: tests/test_install.py installs the wheel into a fresh venv
        f"ngramlm prepare && ngramlm train {STEPS} && ngramlm sample last",
        fresh=True,
    ),
    "python3 -m pip install -q 'nox>=2024.4' && python3 -m nox -s tests": Elsewhere(
        ".ci/run (CI runs README's command 2 as written)"
    ),
    'python3 -m nox -s tests -- -m "not slow"': Elsewhere(
        "tests/test_layers.py::test_the_inner_loop_leaves_out_only_slow_tests_and_keeps_every_module"
    ),
    # --- README: the quick start --------------------------------------------------------
    # (each run in order on one fresh store and its block compared with what it prints)
    "ngramlm prepare": Smoke("ngramlm prepare", fresh=True, output=True),
    "ngramlm train": Elsewhere(QUICK_START),
    "ngramlm sample last": Elsewhere(QUICK_START),
    "ngramlm report": Elsewhere(QUICK_START),
    "ngramlm finalize last": Elsewhere(QUICK_START),
    # --- the data ------------------------------------------------------------------------
    "curl -LO https://raw.githubusercontent.com/karpathy/makemore/master/names.txt": NotRun(
        "a download; the tests read the file from NGRAMLM_NAMES"
    ),
    "python3 -m pip install nltk && python3 -m nltk.downloader -d nltk_data brown": NotRun(
        "a download; make_brown.py is tested on a copy of NLTK's layout"
    ),
    "python3 data/make_brown.py nltk_data/corpora/brown brown.txt": Smoke(
        "python3 {repo}/data/make_brown.py nltk_data/corpora/brown brown.txt", fresh=True
    ),
    "ngramlm prepare names.txt --name makemore": Smoke(
        "ngramlm prepare {NAMES} --name makemore", fresh=True, output=True
    ),
    "ngramlm prepare brown.txt --unit word --min-count 4 --split ordered:800000,200000": Smoke(
        "ngramlm prepare {BROWN} --unit word --min-count 4 --split ordered:800000,200000",
        fresh=True,
        output=True,
    ),
    "ngramlm prepare speeches.txt --unit word --tokenize --min-count 2": Smoke(
        "python3 -c \"open('speeches.txt', 'w').write('Mr. Smith spoke, at last. The people, "
        "tired, left!\\n\\n' * 40)\" && ngramlm prepare speeches.txt --unit word --tokenize "
        "--min-count 2"
    ),
    # --- training, on the tiny datasets ---------------------------------------------------
    "ngramlm train --dataset makemore --model bigram": Smoke(
        "ngramlm train --dataset makemore --model bigram"
    ),
    "ngramlm train --dataset makemore --model kneser-ney --order 6": Smoke(
        "ngramlm train --dataset makemore --model kneser-ney --order 6"
    ),
    "ngramlm train --dataset makemore --preset lecture": Smoke(
        f"ngramlm train --dataset makemore --preset lecture {STEPS}"
    ),
    "ngramlm train --dataset makemore": Smoke(f"ngramlm train --dataset makemore {STEPS}"),
    "ngramlm train --dataset makemore --preset wavenet": Smoke(
        f"ngramlm train --dataset makemore --preset wavenet {STEPS}"
    ),
    "ngramlm train --dataset makemore --preset transformer": Smoke(
        f"ngramlm train --dataset makemore --preset transformer {STEPS} --n-layers 1 --n-embd 8"
    ),
    "ngramlm train --dataset makemore --preset best": Smoke(
        f"ngramlm train --dataset makemore --preset best {STEPS} --warmup 3"
    ),
    "ngramlm finalize RUN": Smoke("ngramlm finalize {mlp}"),
    "ngramlm report --compare --dataset makemore": Smoke(
        "ngramlm report --compare --dataset makemore"
    ),
    "ngramlm report --dataset makemore": Smoke("ngramlm report --dataset makemore"),
    "ngramlm plot curves 10 5 8": Smoke("ngramlm plot curves {mlp} {kn} {mkn}"),
    "ngramlm plot embeddings 1": Smoke("ngramlm plot embeddings {mlp}"),
    "ngramlm plot curves 1 2": Smoke("ngramlm plot curves {mlp} {kn}"),
    "ngramlm train --dataset brown --model modified-kn --order 5": Smoke(
        "ngramlm train --dataset brown --model modified-kn --order 5"
    ),
    "ngramlm train --dataset brown --preset bengio": Smoke(
        "ngramlm train --dataset brown --preset bengio --steps 20 --warmup 2"
    ),
    "ngramlm train --dataset brown --preset words": Smoke(
        "ngramlm train --dataset brown --preset words --steps 20 --warmup 2"
    ),
    "ngramlm train --dataset brown --model mixture --mix WORDS_RUN,MKN5_RUN": Smoke(
        "ngramlm train --dataset brown --model mixture --mix {words},{bmkn}"
    ),
    "ngramlm report --compare --dataset brown": Smoke("ngramlm report --compare --dataset brown"),
    "ngramlm train --model mlp --block-size 4 --n-embd 60 --n-hidden 50": Smoke(
        f"ngramlm train --model mlp --block-size 4 --n-embd 60 --n-hidden 50 {STEPS}"
    ),
    "ngramlm train --model modified-kn --order 5": Smoke(
        "ngramlm train --model modified-kn --order 5"
    ),
    "ngramlm train --model mixture --mix 4,2": Smoke(
        "ngramlm train --model mixture --mix {mlp},{mkn}"
    ),
    "ngramlm train --model mixture --mix 4,2 --weight 0.5": Smoke(
        "ngramlm train --model mixture --mix {mlp},{mkn} --weight 0.5"
    ),
    "ngramlm sweep --dataset makemore --lr-grid 0.01,0.1,1 --steps 2000 --workers 2": Smoke(
        "ngramlm sweep --dataset makemore --lr-grid 0.01,0.1,1 --steps 20 --workers 2", slow=True
    ),
    "ngramlm sweep --join 3": Smoke("ngramlm sweep --join {sweep}"),
    "ngramlm sweep --resume 3": Smoke("ngramlm sweep --resume {sweep}", slow=True),
    # --- the store ------------------------------------------------------------------------
    "ngramlm --db postgresql+psycopg://USER:PASSWORD@HOST:5432/DB sweep --lr-grid 0.01,0.1,1 "
    "--steps 2000": Smoke(
        "ngramlm --db {pg} sweep --lr-grid 0.01,0.1,1 --steps 20", fresh=True, slow=True
    ),
    "ngramlm --db postgresql+psycopg://USER:PASSWORD@HOST:5432/DB sweep --join 1": Smoke(
        "ngramlm --db {pg} sweep --lr-grid 0.1,1 --steps 20 && ngramlm --db {pg} sweep --join 1",
        fresh=True,
        slow=True,
    ),
    # --- docs/cli.md: score ----------------------------------------------------------------
    "ngramlm score 7 held-out.txt": Smoke(f"{HELD_OUT} && ngramlm score {{bmkn}} held-out.txt"),
    "ngramlm score 7 held-out.txt --per-line --json": Smoke(
        f"{HELD_OUT} && ngramlm score {{words}} held-out.txt --per-line --json"
    ),
    # --- docs/arpa.md ---------------------------------------------------------------------
    "ngramlm export 7 --arpa brown-mkn5.arpa": Smoke("ngramlm export {bmkn} --arpa m.arpa"),
    "ngramlm import brown-mkn5.arpa --dataset brown": Smoke(
        "ngramlm export {bmkn} --arpa m.arpa && ngramlm import m.arpa --dataset brown"
    ),
    "ngramlm finalize 8": Smoke("ngramlm finalize {bmkn}"),
    "NGRAMLM_BROWN=brown.txt python -m benchmarks.arpa_brown": Elsewhere(
        "tests/test_arpa.py::test_kenlm_scores_exported_names_as_ngramlm"
    ),
    # --- docs/results.md: the transformer's searches (issue 31) ------------------------------
    "ngramlm sweep --dataset makemore --model transformer --search tpe --budget 30m "
    "--prune halving": Smoke(
        "ngramlm sweep --dataset makemore --model transformer --search tpe --budget 30m "
        "--prune halving --trials 2 --steps 40 --n-layers 1 --n-embd 8 --n-head 2 --no-mix",
        slow=True,
    ),
    "ngramlm prepare brown.txt --name brown --unit word --min-count 4 --split "
    "ordered:800000,200000": Smoke(
        "ngramlm prepare {BROWN} --name brown --unit word --min-count 4 --split "
        "ordered:800000,200000",
        fresh=True,
    ),
    "ngramlm sweep --dataset brown --model transformer --search tpe --budget 60m "
    "--prune halving": Smoke(
        "ngramlm sweep --dataset brown --model transformer --search tpe --budget 60m "
        "--prune halving --trials 2 --steps 20 --n-layers 1 --n-embd 8 --n-head 2 --no-mix",
        slow=True,
    ),
    # --- docs/search.md -------------------------------------------------------------------
    "ngramlm sweep --search tpe --budget 30m --dataset mine": Smoke(
        "ngramlm sweep --search tpe --budget 30m --trials 2 --dataset makemore --steps 30",
        slow=True,
    ),
    "ngramlm sweep --search tpe --prune halving --budget 30m --dataset names --space "
    "lr=5e-4:1e-2:log --space n_hidden=192:1024:log --space init=kaiming,lecture": Smoke(
        "ngramlm sweep --search tpe --prune halving --budget 30m --trials 2 --dataset makemore "
        "--steps 90 --eval-every 10 --space lr=5e-4:1e-2:log --space n_hidden=8:32:log "
        "--space init=kaiming,lecture",
        slow=True,
    ),
    "ngramlm sweep --search tpe --prune halving --trials 24 --workers 2 --dataset names "
    "--preset default --steps 30000 --space lr=0.01:0.5:log": Smoke(
        "ngramlm sweep --search tpe --prune halving --trials 4 --workers 2 --dataset makemore "
        "--preset default --steps 90 --eval-every 10 --space lr=0.01:0.5:log",
        slow=True,
    ),
    "python -m benchmarks.rung_sample --corpus brown.txt --threads 2": Elsewhere(
        "tests/test_benchmarks.py::test_rung_sample_runs_at_smoke_size"
    ),
    "python -m benchmarks.rung_sample --task names --threads 2": Elsewhere(
        "tests/test_benchmarks.py::test_rung_sample_runs_at_smoke_size"
    ),
    "ngramlm report --sweep 7": Smoke("ngramlm report --sweep {sweep}"),
    "ngramlm plot search 7": Smoke(
        "ngramlm sweep --search random --trials 2 --dataset makemore --steps 30 --workers 1 "
        "&& ngramlm plot search 2",
        slow=True,
    ),
    "ngramlm finalize 93": Smoke("ngramlm finalize {mlp}"),
    "ngramlm db current": Smoke("ngramlm db current"),
    "ngramlm db upgrade": Smoke("ngramlm db upgrade"),
    # --- docs/dashboard.md: a server that runs until Ctrl-C -------------------------------
    "ngramlm dashboard": Elsewhere("tests/test_dashboard.py::test_the_command_serves_until_ctrl_c"),
    "ngramlm --db sqlite:///runs.db dashboard --port 8090": Elsewhere(
        "tests/test_dashboard.py::test_the_command_serves_until_ctrl_c"
    ),
    "ngramlm dashboard --host 0.0.0.0": Elsewhere(
        "tests/test_dashboard.py::test_the_command_serves_until_ctrl_c"
    ),
    "ssh -L 8080:127.0.0.1:8080 gpu-box": NotRun("connects to another machine"),
    "python -m benchmarks.dashboard": Elsewhere(
        "tests/test_dashboard_browser.py::test_the_dashboard_benchmark_runs_at_smoke_size"
    ),
    "python -m benchmarks.dashboard --shots docs": Elsewhere(
        "tests/test_dashboard_browser.py::test_the_dashboard_screenshots_at_smoke_size"
    ),
    # --- benchmarks: each arm and script at smoke size in tests/test_benchmarks.py ---------
    "python -m benchmarks --only 6 --threads 2 --finalize --words names.txt": Elsewhere(
        "tests/test_benchmarks.py::test_each_benchmark_arm_runs_at_smoke_size"
    ),
    "python -m benchmarks --threads 2 --words names.txt": Elsewhere(
        "tests/test_benchmarks.py::test_each_benchmark_arm_runs_at_smoke_size"
    ),
    "python -m benchmarks --threads 1 --words names.txt": Elsewhere(
        "tests/test_benchmarks.py::test_each_benchmark_arm_runs_at_smoke_size"
    ),
    "git worktree add /tmp/base c021335": NotRun(
        "changes the repository's worktrees; --against is tested with this checkout"
    ),
    "python -m benchmarks --only 1,2,4 --steps 20000 --threads 1 --against /tmp/base "
    "--words names.txt": Elsewhere("tests/test_benchmarks.py::test_against_an_earlier_checkout"),
    "python -m benchmarks.brown --corpus brown.txt --threads 2": Elsewhere(
        "tests/test_benchmarks.py::test_the_brown_table_runs_on_a_tiny_corpus"
    ),
    "python -m benchmarks.brown --corpus brown.txt --threads 2 --precision fp32": Elsewhere(
        "tests/test_benchmarks.py::test_the_brown_table_runs_on_a_tiny_corpus"
    ),
    "python -m benchmarks.word_speed --corpus brown.txt --epochs 1 --threads 2 --repeat 2": (
        Elsewhere("tests/test_benchmarks.py::test_word_speed_runs_on_a_tiny_corpus")
    ),
    "python -m benchmarks.prepare_words --brown brown.txt": Elsewhere(
        "tests/test_benchmarks.py::test_prepare_words_runs_on_a_tiny_corpus"
    ),
    "PYTHONPATH=. python benchmarks/gpu_check.py": Elsewhere(
        "tests/test_benchmarks.py::test_gpu_check_runs_or_says_there_is_no_gpu"
    ),
}


# --- reading the docs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    doc: str
    line: int
    cmd: str
    transcript: tuple[str, ...]  # a console block's lines after it, up to the next `$ `


def shown() -> list[Shown]:
    out = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        # an untagged block is read as a console block: its `$ ` lines are commands too
        # every fenced block, whatever its language, so that a ```python block's closing
        # fence is never read as the opening of an untagged one
        for m in re.finditer(r"^```([\w+-]*)\n(.*?)^```", text, flags=re.S | re.M):
            if m.group(1) not in ("bash", "console", "sh", ""):
                continue
            first = text[: m.start(2)].count("\n") + 1
            lines = m.group(2).rstrip("\n").split("\n")
            for i, raw in enumerate(lines):
                if m.group(1) in ("console", ""):
                    if not raw.startswith("$ "):
                        continue
                    raw = raw[2:]
                    rest = []
                    for after in lines[i + 1 :]:
                        if after.startswith("$ "):
                            break
                        rest.append(after.rstrip())
                else:
                    rest = []
                cmd = re.sub(r"\s+#.*$", "", raw).strip()
                if cmd and not cmd.startswith("#"):
                    out.append(Shown(path.name, first + i, cmd, tuple(rest)))
    return out


SHOWN = shown()


def test_every_documented_command_is_covered() -> None:
    missing = sorted({s.cmd for s in SHOWN} - set(COVER))
    assert not missing, (
        "commands shown in the docs but not covered by tests/test_docs.py: "
        + "; ".join(f"{s.doc}:{s.line}: {s.cmd!r}" for s in SHOWN if s.cmd in missing)
        + ". Add each to COVER: Smoke('the command at smoke size') to run it here, "
        "Elsewhere('tests/test_x.py::test_name') if another test runs it, or "
        "NotRun('why') if it cannot run in a test (a download)."
    )
    stale = sorted(set(COVER) - {s.cmd for s in SHOWN})
    assert not stale, f"COVER lists commands no doc shows any more: {stale}"


def test_commands_covered_elsewhere_name_real_tests() -> None:
    for cmd, how in COVER.items():
        if isinstance(how, Elsewhere) and how.test.startswith("tests/"):
            file, name = how.test.split("::")
            text = (REPO / file).read_text(encoding="utf-8")
            assert f"def {name}(" in text, f"{cmd!r}: {how.test} does not exist"
        if isinstance(how, Elsewhere) and how.test.startswith(".ci/run"):
            assert cmd in (REPO / ".ci" / "run").read_text(encoding="utf-8")


# --- running them -------------------------------------------------------------------------

CHARS = "abcdefghij"


@pytest.fixture(scope="module")
def docs_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A small store: the bundled names, a tiny character dataset ``makemore`` and a tiny
    word dataset ``brown``, each with a few short runs, and a sweep."""
    import random

    import ngramlm

    root = tmp_path_factory.mktemp("docs-store")
    rng = random.Random(0)
    chars = root / "makemore.txt"
    chars.write_text(
        "\n".join("".join(rng.choice(CHARS) for _ in range(rng.randint(2, 7))) for _ in range(300))
        + "\n",
        encoding="utf-8",
    )
    words = word_corpus(root / "brown.txt")
    ids: dict[str, Any] = {}
    with ngramlm.open_store(f"sqlite:///{root / 'ngramlm.db'}") as exp:
        exp.prepare()
        mm = exp.prepare(chars, "makemore")
        br = exp.prepare(words, "brown", unit="word", min_count=2, split="ordered:1200,300")
        ids["mlp"] = exp.train(mm, steps=30).run.id
        ids["kn"] = exp.train(mm, model="kneser-ney", order=3).run.id
        ids["mkn"] = exp.train(mm, model="modified-kn", order=3).run.id
        ids["words"] = exp.train(br, preset="words", steps=20, warmup=2).run.id
        ids["bmkn"] = exp.train(br, model="modified-kn", order=3).run.id
        ids["sweep"] = exp.sweep(mm, lr_grid="0.05,0.1", steps=20, workers=0).id
    return root / "ngramlm.db", ids


def run_ngramlm(args: list[str]) -> None:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    assert code == 0, f"ngramlm {shlex.join(args)} exited {code}"


def run_subprocess(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "250", "OMP_NUM_THREADS": "1"}
    env.pop("NGRAMLM_DB", None)
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{shlex.join(args)} exited {proc.returncode}: {proc.stderr}"
    return proc.stdout


def transcript(cmd: str) -> tuple[str, ...]:
    return next((s.transcript for s in SHOWN if s.cmd == cmd and s.transcript), ())


SMOKES = [
    pytest.param(cmd, marks=[pytest.mark.slow] if how.slow else [])
    for cmd, how in sorted(COVER.items())
    if isinstance(how, Smoke)
]


@pytest.mark.parametrize("documented", SMOKES)
def test_documented_command_runs(
    documented: str,
    tmp_path: Path,
    docs_store: tuple[Path, dict[str, Any]],
    request: pytest.FixtureRequest,
) -> None:
    how = COVER[documented]
    assert isinstance(how, Smoke)
    db, ids = docs_store
    values: dict[str, Any] = {**ids, "repo": REPO}
    for name, path in (("NAMES", MAKEMORE), ("BROWN", BROWN)):
        if "{" + name + "}" in how.cmd:
            if not path.exists():
                pytest.skip(f"{path} is absent (set NGRAMLM_{name} to the lecture's file)")
            values[name] = path
    if "{pg}" in how.cmd:
        values["pg"] = request.getfixturevalue("pg_url")
    if not how.fresh:
        shutil.copy(db, tmp_path / "ngramlm.db")
    if "nltk_data" in how.cmd:
        nltk_brown(tmp_path / "nltk_data")
    for part in how.cmd.format(**values).split(" && "):
        argv = shlex.split(part)
        if how.output:
            out = run_subprocess([sys.executable, "-m", "ngramlm", *argv[1:]], tmp_path)
            expected = transcript(documented)
            assert expected, f"{documented!r} has output=True but no transcript in the docs"
            assert tuple(line.rstrip() for line in out.rstrip("\n").split("\n")) == expected
        elif argv[0] == "ngramlm":
            run_ngramlm(argv[1:])
        else:
            assert argv[0] in ("python", "python3"), argv
            run_subprocess([sys.executable, *argv[1:]], tmp_path)


def test_help_describes_the_tool_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for what in ("characters or words", "WaveNet", "Kneser-Ney", "mixture", "store"):
        assert what in text, what
