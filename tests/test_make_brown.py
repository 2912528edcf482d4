"""data/make_brown.py on a tiny copy of NLTK's ``brown`` package (its real layout: tagged
files ca01.. with tab-indented ``word/tag`` lines between blank lines, beside README,
CONTENTS and cats.txt), as a directory and as NLTK's zip."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .helpers import nltk_brown

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "data" / "make_brown.py"

EXPECTED = (
    "The Fulton County Grand Jury said Friday `` no evidence '' .\n"
    "The jury further said , 1-1/2 minutes .\n"
    "Austin , Texas\n"
    "A verdict came .\n"
    "As a result .\n"
)


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


def test_converts_nltk_brown_to_one_sentence_a_line(tmp_path: Path) -> None:
    brown = nltk_brown(tmp_path / "nltk_data")
    out = tmp_path / "brown.txt"
    proc = make(str(brown), str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text(encoding="utf-8") == EXPECTED
    sha = hashlib.sha256(EXPECTED.encode()).hexdigest()
    assert proc.stdout.splitlines() == [
        f"3 files: 5 sentences, 31 tokens to {out}",
        f"sha256 {sha}",
    ]


def test_reads_nltks_zip_the_same(tmp_path: Path) -> None:
    brown = nltk_brown(tmp_path / "nltk_data")
    zipped = tmp_path / "brown.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        for path in sorted(brown.iterdir()):
            z.write(path, f"brown/{path.name}")
    out = tmp_path / "brown.txt"
    assert make(str(zipped), str(out)).returncode == 0
    assert out.read_text(encoding="utf-8") == EXPECTED


@pytest.mark.parametrize("what", ["missing", "empty dir"])
def test_refuses_a_source_that_is_not_nltks_brown(tmp_path: Path, what: str) -> None:
    source = tmp_path / "nothing"
    if what == "empty dir":
        source.mkdir()
    proc = make(str(source), str(tmp_path / "brown.txt"))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith(f"error: {source}: ")
    assert not (tmp_path / "brown.txt").exists()
