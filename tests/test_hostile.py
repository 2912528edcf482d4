"""Hostile input (issue 22): refusals are one line with the right advice, nothing is
written, no password is shown; readers work beside a writer and on a read-only store.

The table cases live in tests/hostile_cases.py; each is checked here against
docs/hostile-input.md (regenerate it with ``PYTHONPATH=. python tests/hostile_cases.py
--update``)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from ngramlm import open_store
from ngramlm.api import Experiments
from ngramlm.errors import InputError
from ngramlm.store import Store
from ngramlm.store.connection import mask, parse_url
from ngramlm.store.schema import VERSION_TABLE

from . import hostile_cases as hc
from .conftest import count_rows
from .helpers import age_heartbeat

# --- the table ---------------------------------------------------------------------------


def _doc_rows() -> list[str]:
    return [line for line in hc.DOC.read_text(encoding="utf-8").splitlines() if line[:3] == "| `"]


def test_the_table_lists_every_case_in_order() -> None:
    """docs/hostile-input.md is generated from CASES: no row is missing, added or moved."""
    commands = [row.split("` |", 1)[0].removeprefix("| `") for row in _doc_rows()]
    expected = [hc.row(c, 0, "").split("` |", 1)[0].removeprefix("| `") for c in hc.CASES]
    assert commands == expected, "run: PYTHONPATH=. python tests/hostile_cases.py --update"
    assert hc.DOC.read_text(encoding="utf-8").startswith(hc.HEADER)


@pytest.mark.parametrize("case", hc.CASES, ids=lambda c: c.command[8:60])
def test_refused_with_the_documented_line(case: hc.Case, tmp_path: Path) -> None:
    o = hc.run_case(case, tmp_path)
    assert o.code == case.code, o.err
    assert len(o.err.strip().splitlines()) == 1 and o.err.startswith("error: "), o.err
    assert o.rows_after == o.rows_before  # nothing written
    assert hc.SECRET not in o.out + o.err
    assert hc.row(case, o.code, o.message) in _doc_rows(), (
        f"{o.message!r} is not the documented line; if the change is meant, run "
        "PYTHONPATH=. python tests/hostile_cases.py --update"
    )


# --- 2. --epochs 0 -----------------------------------------------------------------------


def test_epochs_zero_is_refused_not_the_default_steps(tmp_path: Path) -> None:
    """`--preset words --epochs 0` resolved to the default 200,000 steps."""
    hc.write_inputs(tmp_path)
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as exp:
        exp.prepare(tmp_path / "sents.txt", unit="word")
        for bad in (0, 0.0, -2.5):
            with pytest.raises(InputError, match=r"--epochs must be in \(0, 10000\], got"):
                exp.config("sents", preset="words", epochs=bad)
        _, cfg, _ = exp.config("sents", preset="words", epochs=1)  # a real epoch still works
        assert cfg.train is not None and 0 < cfg.train.steps < 200_000
        _, cfg, _ = exp.config("sents", preset="words", steps=700)  # steps replace its epochs
        assert cfg.train is not None and (cfg.train.steps, cfg.train.epochs) == (700, 0.0)


# --- 5. passwords ------------------------------------------------------------------------

MALFORMED = [
    f"postgres://admin:{hc.SECRET}@127.0.0.1:1/x",  # the URL, now PostgreSQL
    f"postgresql://admin:{hc.SECRET}@127.0.0.1:abc/x",
    f"postgresql://admin:{hc.SECRET}@127.0.0.1:1/x?password={hc.SECRET}",
    f"postgresql://admin:S@{hc.SECRET}@127.0.0.1:1/x",
    f"postgres+psycopg://admin:{hc.SECRET}@127.0.0.1:1/x",
    f"postgresql://admin:{hc.SECRET}@[::1/x",
    f"mssql://admin:{hc.SECRET}@127.0.0.1/x",
    f"admin:{hc.SECRET}@127.0.0.1/x",
    f"sqlite://admin:{hc.SECRET}@/",
]


@pytest.mark.parametrize("url", MALFORMED)
def test_no_message_shows_the_password(cli, url: str) -> None:
    r = cli("--db", url, "report")
    assert r.code != 0 and len(r.err.strip().splitlines()) == 1, r.err
    assert hc.SECRET not in r.out + r.err and "***" in r.err


def test_mask_and_repr() -> None:
    assert mask("postgres://u:p@ss:w@h/d?password=x&sslmode=y") == (
        "postgres://u:***@h/d?password=***&sslmode=y"
    )
    assert mask("sqlite:///tmp/a.db") == "sqlite:///tmp/a.db"
    exp = Experiments(f"postgresql://u:{hc.SECRET}@127.0.0.1:1/x")
    assert hc.SECRET not in repr(exp)


def test_postgres_schemes_mean_postgresql() -> None:
    for scheme in ("postgres", "postgresql", "postgres+psycopg"):
        assert parse_url(f"{scheme}://u:p@h:5432/d").drivername == "postgresql+psycopg"


@pytest.mark.postgres
def test_postgres_scheme_opens_the_real_server(cli, pg_url: str) -> None:
    url = sa.engine.make_url(pg_url).set(drivername="postgres")
    r = cli("--db", url.render_as_string(hide_password=False), "report", "--json")
    assert r.code == 0, r.err


# --- 6. readers without the write lock ---------------------------------------------------


@pytest.fixture
def with_run(cli, tmp_path: Path) -> str:
    """A store with the word list tiny and a counted bigram run (run 1)."""
    hc.write_inputs(tmp_path)
    url = f"sqlite:///{tmp_path / 'ro' / 'store.db'}"
    (tmp_path / "ro").mkdir()
    assert cli("--db", url, "prepare", tmp_path / "tiny.txt").code == 0
    r = cli("--db", url, "train", "--dataset", "tiny", "--model", "bigram", "-q")
    assert r.code == 0, r.err
    return url


HOLD = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
c.execute("UPDATE runs SET name = name")
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def writer(with_run: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the store's write lock (an open write transaction)."""
    path = str(parse_url(with_run).database)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, path], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_readers_work_beside_a_writer_holding_the_lock(
    cli, with_run: str, writer: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """report, sample, db current and the API read while another process holds the write
    lock (they waited the busy timeout, then failed with 'database is locked')."""
    monkeypatch.setattr("ngramlm.store.connection.BUSY_TIMEOUT_S", 2.0)  # old code: fail fast
    for args in (("report",), ("report", "1"), ("sample", "1", "-n", "3"), ("db", "current")):
        r = cli("--db", with_run, *args)
        assert r.code == 0, (args, r.err)
    with open_store(with_run) as exp:
        assert [run.id for run in exp.runs()] == [1]
    assert writer.poll() is None  # the writer still held the lock throughout


@contextmanager
def _read_only(path: Path) -> Iterator[str]:
    """Make ``path`` (a store's directory) read-only for this process, also as root:
    chattr +i where root ignores modes (skip where that is not allowed). Yields how."""
    files = [path, *path.iterdir()]
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a directory read-only")
        done = subprocess.run(["chattr", "+i", *map(str, files)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not allowed here: {done.stderr.decode().strip()}")
        try:
            yield "chattr +i"
        finally:
            subprocess.run(["chattr", "-i", *map(str, files)], check=True)
    else:
        for f in files:
            f.chmod(0o555 if f.is_dir() else 0o444)
        try:
            yield "chmod"
        finally:
            for f in files:
                f.chmod(0o755 if f.is_dir() else 0o644)


@pytest.mark.parametrize("beside", ["nothing", "a reader's -wal and -shm"])
def test_readers_work_on_a_read_only_store(cli, with_run: str, tmp_path: Path, beside: str):
    """A store whose file and directory cannot be written (not even by root): report,
    sample and db current read it; a writer is refused in one line. With no -shm file
    beside it, SQLite cannot make one; with another reader's, it reads that."""
    store_dir = tmp_path / "locked"
    store_dir.mkdir()
    db = store_dir / "store.db"
    src = sqlite3.connect(str(parse_url(with_run).database))
    dst = sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.execute("PRAGMA journal_mode = WAL")
    dst.close()
    url = f"sqlite:///{db}"
    other = sqlite3.connect(db) if beside != "nothing" else None
    if other is not None:
        other.execute("SELECT count(*) FROM runs").fetchall()
    expected = ["store.db"] if other is None else ["store.db", "store.db-shm", "store.db-wal"]
    assert sorted(p.name for p in store_dir.iterdir()) == expected
    try:
        with _read_only(store_dir) as how:
            with pytest.raises(OSError):  # the test is genuine: nothing can be written here
                (store_dir / "probe").write_text("x")
            for args in (("report", "--json"), ("sample", "1", "-n", "2"), ("db", "current")):
                r = cli("--db", url, *args)
                assert r.code == 0, (how, args, r.err)
            r = cli("--db", url, "train", "--dataset", "tiny", "--model", "bigram", "-q")
            assert r.code == 4 and "read-only" in r.err, r.err
            assert len(r.err.strip().splitlines()) == 1
    finally:
        if other is not None:
            other.close()
    assert count_rows(url, "runs") == 1


def test_a_mode_ro_url_reads_and_never_writes(cli, with_run: str) -> None:
    """``sqlite:///file:PATH?mode=ro&uri=true``: SQLite itself refuses every write."""
    path = parse_url(with_run).database
    ro = f"sqlite:///file:{path}?mode=ro&uri=true"
    r = cli("--db", ro, "report", "--json")
    assert r.code == 0, r.err
    assert [row["run"] for row in json.loads(r.out)["runs"]] == [1]
    r = cli("--db", ro, "train", "--dataset", "tiny", "--model", "bigram", "-q")
    assert r.code == 4 and "read-only" in r.err, r.err
    with Store(ro) as store:
        assert store.readonly and store.where == path
    assert count_rows(with_run, "runs") == 1


# --- 8. advice that is true --------------------------------------------------------------


def _set_version(url: str, rev: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = :r"), {"r": rev})
    engine.dispose()


def test_a_newer_store_says_upgrade_ngramlm_and_writes_no_backup(cli, sqlite_url: str) -> None:
    Store(sqlite_url).close()
    _set_version(sqlite_url, "9999")
    r = cli("--db", sqlite_url, "db", "current")
    assert r.code == 0 and "upgrade ngramlm" in r.out and "db upgrade" not in r.out, r.out
    r = cli("--db", sqlite_url, "db", "current", "--json")
    assert json.loads(r.out)["newer"] is True
    r = cli("--db", sqlite_url, "db", "upgrade")
    assert r.code == 4 and "newer ngramlm (schema revision 9999); upgrade ngramlm" in r.err
    db = Path(str(parse_url(sqlite_url).database))
    assert list(db.parent.glob("*.bak-*")) == []  # no backup was written
    r = cli("--db", sqlite_url, "report")
    assert r.code == 4 and "upgrade ngramlm" in r.err


def test_finalize_advice_can_be_followed(cli, tmp_path: Path) -> None:
    """A live run: wait (resume would be refused); a crashed run: resume, which works."""
    hc.write_inputs(tmp_path)
    url = f"sqlite:///{tmp_path / 'f.db'}"
    assert cli("--db", url, "prepare", tmp_path / "tiny.txt").code == 0
    r = cli("--db", url, "train", "--dataset", "tiny", "--steps", "30", "--n-hidden", "4",
            "--json", "-q")  # fmt: skip
    run = json.loads(r.out)["run"]
    age_heartbeat(url, run, seconds=0)  # running, with a fresh heartbeat: alive
    r = cli("--db", url, "finalize", str(run))
    assert r.code == 2 and "still running" in r.err and "wait for it to finish" in r.err
    assert cli("--db", url, "train", "--resume", str(run)).code != 0  # resume: refused
    age_heartbeat(url, run)  # the heartbeat went stale: crashed
    r = cli("--db", url, "finalize", str(run))
    assert r.code == 2 and f"resume it with `ngramlm train --resume {run}`" in r.err
    assert cli("--db", url, "train", "--resume", str(run), "-q").code == 0  # as advised
    assert cli("--db", url, "finalize", str(run)).code == 0


# --- 9. reserved tokens, an empty lr grid --------------------------------------------------


def test_a_literal_boundary_in_a_corpus_is_refused_naming_the_line(cli, sqlite_url: str) -> None:
    Path("c.txt").write_text("a b c\n\nd e\nf </s> g\n", encoding="utf-8")
    r = cli("--db", sqlite_url, "prepare", "c.txt", "--unit", "word")
    assert r.code == 2 and r.err.startswith("error: c.txt, line 4: the token '</s>'"), r.err
    assert count_rows(sqlite_url, "datasets") == 0


def test_a_literal_unk_is_the_unknown_token(cli, sqlite_url: str) -> None:
    """The Penn Treebank's convention: a corpus's ``<unk>`` is the vocabulary's one
    ``<unk>``, shown as what it is (documents the choice; old code did the same)."""
    Path("c.txt").write_text("a b <unk>\nb <unk> a\n" * 20, encoding="utf-8")
    assert cli("--db", sqlite_url, "prepare", "c.txt", "--unit", "word").code == 0
    with open_store(sqlite_url) as exp:
        assert exp.dataset("c").vocab.tokens.count("<unk>") == 1


def test_an_empty_lr_grid_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    """``lr_grid=""`` ran a one-point sweep at the default rate."""
    hc.write_inputs(tmp_path)
    with open_store(sqlite_url) as exp:
        exp.prepare(tmp_path / "tiny.txt")
        for blank in ("", " ", ","):
            with pytest.raises(InputError, match="--lr-grid is empty"):
                exp.create_sweep("tiny", lr_grid=blank, steps=5)
    assert count_rows(sqlite_url, "sweeps") == 0
