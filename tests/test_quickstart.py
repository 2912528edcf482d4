"""README's quick start shows what its commands print now: the section's console blocks
are run in order on a fresh store (``train`` at smoke size) and each is compared with
the command's real output line by line, numbers normalised and column widths ignored, so
a block cannot go stale when an output changes its shape."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

# README's quick-start commands, in order, as run here (train at smoke size).
QUICK = {
    "ngramlm prepare": ["prepare"],
    "ngramlm train": ["train", "--steps", "30"],
    "ngramlm sample last": ["sample", "last"],
    "ngramlm report": ["report"],
    "ngramlm finalize last": ["finalize", "last"],
}
# A generated word and where it was found: which word, and where, depend on the steps.
SAMPLE = re.compile(r"^\S+ +(train|dev|new)$")


def quick_start_blocks() -> list[tuple[str, list[str]]]:
    """README's quick start: each console block's command and the lines shown under it."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    blocks = []
    for m in re.finditer(r"^```console\n(.*?)^```", section, flags=re.S | re.M):
        lines = m.group(1).rstrip("\n").split("\n")
        assert lines[0].startswith("$ "), lines[0]
        assert not any(line.startswith("$ ") for line in lines[1:]), "one command a block"
        blocks.append((lines[0][2:], lines[1:]))
    return blocks


def shape(line: str) -> str:
    """A printed line with what varies from run to run left out: every number is "9",
    a run of a border character or of spaces is one, a sampled word is "WORD"."""
    line = SAMPLE.sub("WORD WHERE", line.strip())
    line = re.sub(r"\d[\d,]*(?:\.\d+)?", "9", line)
    line = re.sub(r"([━─])\1+", r"\1", line)
    return " ".join(line.split())


def test_shapes_ignore_numbers_and_widths_and_nothing_else() -> None:
    assert shape("│   1 │ 200,000 │ 2.0502 │ +0.075 │  75s│") == shape(
        "│ 12 │ 30 │ 2.9 │ +0.002 │ 1s│"
    )
    assert shape("┏━━━━━┳━━━┓") == shape("┏━┳━━━━━━━━┓")
    assert shape("axseleigh  new") == shape("uba  train")
    assert shape("┃best ┃ run ┃") != shape("┃ ┃ run ┃")  # a column more or less
    assert shape("run 1 finished: mlp 3/10/200") != shape("run 1: training 200,000 steps")
    assert shape("┏━┳━┓") != shape("┏━┳━┳━┓")
    assert shape("axseleigh  somewhere") != shape("uba  new")


def test_the_quick_start_prints_what_readme_shows(tmp_path: Path) -> None:
    blocks = quick_start_blocks()
    assert [cmd for cmd, _ in blocks] == list(QUICK), "every block of the section is run here"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("NGRAMLM_DB", None)
    for cmd, shown in blocks:
        done = subprocess.run([sys.executable, "-m", "ngramlm", *QUICK[cmd]], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, f"{cmd}: {done.stderr}"
        printed = done.stdout.rstrip("\n").split("\n")
        if shown[-1] == "...":  # the first lines of a longer output
            shown = shown[:-1]
            assert len(printed) > len(shown), f"{cmd} printed {len(printed)} lines"
            printed = printed[: len(shown)]
        assert [shape(x) for x in printed] == [shape(x) for x in shown], (
            f"README's `{cmd}` block is stale; the command prints:\n" + done.stdout
        )
