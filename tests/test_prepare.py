"""``ngramlm prepare`` end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from .conftest import MAKEMORE, count_rows
from .helpers import word_corpus


@pytest.mark.skipif(not MAKEMORE.exists(), reason=f"the lecture's names.txt is not at {MAKEMORE}")
def test_prepare_lecture_names_reports_the_lecture_split(cli, db_url: str) -> None:
    r = cli("--db", db_url, "prepare", MAKEMORE, "--name", "makemore", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["words"] == {"train": 25626, "dev": 3203, "test": 3204, "total": 32033}
    assert data["examples"] == {"train": 182625, "dev": 22655, "test": 22866}
    assert data["vocab_size"] == 27 and data["created"] is True
    assert count_rows(db_url, "words") == 32033


def test_prepare_bundled_list_by_default(cli, sqlite_url: str) -> None:
    r = cli("--db", sqlite_url, "prepare", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["dataset"] == "names"
    assert data["words"]["total"] > 25_000
    assert data["vocab"] == "abcdefghijklmnopqrstuvwxyz"


def test_same_content_again_is_a_noop_and_other_content_is_refused(
    cli, db_url: str, words_file: Path, tmp_path: Path
) -> None:
    assert cli("--db", db_url, "prepare", words_file).code == 0
    again = cli("--db", db_url, "prepare", words_file)
    assert again.code == 0 and "already prepared" in again.out
    # CRLF line endings: same words, same content.
    crlf = tmp_path / "tiny-crlf.txt"
    crlf.write_bytes(words_file.read_bytes().replace(b"\n", b"\r\n"))
    assert cli("--db", db_url, "prepare", crlf, "--name", "tiny").code == 0
    other = tmp_path / "other.txt"
    other.write_text(words_file.read_text() + "extra\n")
    r = cli("--db", db_url, "prepare", other, "--name", "tiny")
    assert r.code != 0 and "immutable" in r.err
    r = cli("--db", db_url, "prepare", words_file, "--seed", "7")
    assert r.code != 0 and "immutable" in r.err
    assert count_rows(db_url, "datasets") == 1


def test_dataset_survives_its_source_file(cli, sqlite_url: str, words_file: Path) -> None:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    words_file.unlink()
    r = cli(
        "--db", sqlite_url, "train", "--dataset", "tiny", "--steps", "20", "--n-hidden", "8", "-q"
    )
    assert r.code == 0, r.err


BAD_INPUTS = [
    ("missing", None, "no such file"),
    ("directory", None, "is a directory"),
    ("empty", b"", "no words"),
    ("blank", b"\n \n\r\n", "no words"),
    ("utf8", b"ann\nb\xc3\x28b\n", "line 2: not valid UTF-8"),
    ("nul", b"ann\nbo\x00b\n", "line 2: NUL byte"),
    ("few", b"ann\nbob\n", "too few"),
    ("long", b"ann\n" + b"y" * 257 + b"\n", "line 2: a word of 257"),
    ("utf16", "ann\nbob\n".encode("utf-16"), "UTF-16"),
]


@pytest.mark.parametrize(("case", "content", "needle"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_one_line_nonzero_nothing_written(
    cli, sqlite_url: str, tmp_path: Path, case: str, content: bytes | None, needle: str
) -> None:
    path = tmp_path / f"{case}.txt"
    if case == "directory":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    r = cli("--db", sqlite_url, "prepare", path)
    assert r.code != 0
    assert needle in r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert "Traceback" not in r.err
    assert count_rows(sqlite_url, "datasets") == 0


@pytest.mark.parametrize("name", ["", "has space", "-dash", "x" * 65, "semi;colon"])
def test_bad_dataset_name(cli, sqlite_url: str, words_file: Path, name: str) -> None:
    r = cli("--db", sqlite_url, "prepare", words_file, "--name", name)
    assert r.code != 0 and "dataset name" in r.err
    assert count_rows(sqlite_url, "datasets") == 0


@pytest.mark.slow
def test_a_million_words(cli, sqlite_url: str, tmp_path: Path) -> None:
    """A large list is read, split and stored whole (and a duplicate-heavy one at that)."""
    import random

    rng = random.Random(1)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = [
        "".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(1_000_000)
    ]
    path = tmp_path / "million.txt"
    path.write_text("\n".join(words) + "\n")
    r = cli("--db", sqlite_url, "prepare", path, "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["words"] == {"train": 800_000, "dev": 100_000, "test": 100_000, "total": 1_000_000}
    assert count_rows(sqlite_url, "words") == 1_000_000


def test_a_single_huge_line_is_refused(cli, sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "oneline.txt"
    path.write_bytes(b"ab " * 3_000_000)  # 9 MB, no newline
    r = cli("--db", sqlite_url, "prepare", path)
    assert r.code != 0 and "line 1: a word of" in r.err and "one word a line" in r.err
    assert count_rows(sqlite_url, "datasets") == 0


@pytest.mark.postgres
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_prepare_stopped_while_it_writes_says_one_line_and_records_nothing(
    pg_url: str, tmp_path: Path, sig: signal.Signals
) -> None:
    """Ctrl-C or SIGTERM while the lines go to PostgreSQL: one line, the shell's exit
    code, no dataset or line left (old: psycopg's own lines, or none at all)."""
    corpus = word_corpus(tmp_path / "corpus.txt", n=150_000)  # three batches of lines
    app = f"ngramlm-stopped-{uuid.uuid4().hex[:12]}"  # its connections, among the server's
    url = sa.engine.make_url(pg_url).update_query_dict({"application_name": app})
    proc = subprocess.Popen(
        [sys.executable, "-m", "ngramlm", "--db", url.render_as_string(hide_password=False),
         "prepare", str(corpus), "--unit", "word"],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    engine = sa.create_engine(pg_url)
    writing = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = :app "
        "AND query LIKE 'INSERT INTO words%'"
    )
    try:
        deadline = time.monotonic() + 120
        while True:  # until its lines are being written
            with engine.connect() as conn:
                if conn.execute(writing, {"app": app}).scalar_one():
                    break
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the lines were never written"
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        engine.dispose()
        if proc.poll() is None:
            proc.kill()
    which = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
    assert err == f"error: prepare stopped by {which}; nothing was recorded\n", err
    assert proc.returncode == 128 + sig
    assert count_rows(pg_url, "datasets") == 0 and count_rows(pg_url, "words") == 0
