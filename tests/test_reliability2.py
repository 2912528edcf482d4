"""Reliability, round two (issue 29): the test record cannot be rewritten with plain SQL,
no false loss is ever recorded, an ARPA file must be a normalised model, and only regular
files are read. Real SQLite files and the real PostgreSQL server; no mocks."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from ngramlm.store.schema import alembic_config

from .conftest import count_rows

FIXTURES = Path(__file__).resolve().parent / "fixtures"
IMMUTABLE = "test evaluations are immutable"


def finalized(cli, url: str, words: Path) -> tuple[int, float]:
    """A store holding a finalized bigram run: its id and recorded test loss."""
    assert cli("--db", url, "prepare", words).code == 0
    r = cli("--db", url, "train", "--dataset", words.stem, "--model", "bigram", "--json", "-q")
    assert r.code == 0, r.err
    run = json.loads(r.out)["run"]
    r = cli("--db", url, "finalize", str(run), "--json")
    assert r.code == 0, r.err
    return run, json.loads(r.out)["test_loss"]


def recorded_test_loss(url: str, run: int) -> list[float]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT test_loss FROM evaluations WHERE run_id = :r"),
                            {"r": run}).scalars().all()  # fmt: skip
    engine.dispose()
    return list(rows)


# --- 1. the test record cannot be rewritten ----------------------------------------------

COLUMNS = "run_id, test_loss, n_examples, checkpoint_sha256, created_at, host"


def _replacements(run: int, eval_id: int) -> list[str]:
    values = "0.001, 1, 'forged', '2026-01-01 00:00:00.000000', 'forger'"
    return [
        f"REPLACE INTO evaluations ({COLUMNS}) VALUES ({run}, {values})",
        f"INSERT OR REPLACE INTO evaluations ({COLUMNS}) VALUES ({run}, {values})",
        f"INSERT OR REPLACE INTO evaluations (id, {COLUMNS}) VALUES ({eval_id}, 999, {values})",
        f"UPDATE OR REPLACE evaluations SET test_loss = 0.001 WHERE run_id = {run}",
    ]


def _refused_on_sqlite(path: str, run: int, *, recursive: bool) -> None:
    """Plain SQL as anyone would type it into the sqlite3 shell (foreign keys off)."""
    conn = sqlite3.connect(path, isolation_level=None)
    if recursive:
        conn.execute("PRAGMA recursive_triggers = ON")
    (eval_id,) = conn.execute("SELECT id FROM evaluations WHERE run_id = ?", (run,)).fetchone()
    for sql in _replacements(run, eval_id):
        with pytest.raises(sqlite3.IntegrityError, match=IMMUTABLE):
            conn.execute(sql)
    conn.close()


@pytest.mark.parametrize("recursive", [False, True])
def test_sqlite_replace_cannot_rewrite_a_test_loss(
    cli, sqlite_url: str, words_file: Path, recursive: bool
) -> None:
    run, loss = finalized(cli, sqlite_url, words_file)
    _refused_on_sqlite(str(sa.engine.make_url(sqlite_url).database), run, recursive=recursive)
    assert recorded_test_loss(sqlite_url, run) == [loss]
    r = cli("--db", sqlite_url, "finalize", str(run), "--json")  # the recorded result, as is
    assert r.code == 5 and "finalized already" in r.err
    assert json.loads(r.out)["test_loss"] == loss


def test_an_upgraded_store_refuses_replace_too(cli, tmp_path: Path) -> None:
    """A store from before the rule (revision 0008) gets it on `db upgrade`."""
    db = tmp_path / "store-0008.db"
    shutil.copy(FIXTURES / db.name, db)
    conn = sqlite3.connect(db, isolation_level=None)  # before: REPLACE rewrote the record
    conn.execute("BEGIN")
    conn.execute(_replacements(1, 1)[0])
    assert conn.execute("SELECT test_loss FROM evaluations").fetchall() == [(0.001,)]
    conn.execute("ROLLBACK")
    conn.close()
    r = cli("--db", f"sqlite:///{db}", "db", "upgrade")
    assert r.code == 0, r.err
    _refused_on_sqlite(str(db), 1, recursive=False)
    assert recorded_test_loss(f"sqlite:///{db}", 1) == [2.7]


@pytest.mark.postgres
def test_postgres_truncate_and_upsert_cannot_rewrite_a_test_loss(
    cli, pg_url: str, words_file: Path
) -> None:
    run, loss = finalized(cli, pg_url, words_file)
    engine = sa.create_engine(pg_url)
    values = "0.001, 1, 'forged', now(), 'forger'"
    for sql in (
        "TRUNCATE evaluations",
        "TRUNCATE runs CASCADE",
        f"INSERT INTO evaluations ({COLUMNS}) VALUES ({run}, {values}) "
        "ON CONFLICT (run_id) DO UPDATE SET test_loss = excluded.test_loss",
    ):
        with pytest.raises(sa.exc.DBAPIError, match=IMMUTABLE), engine.begin() as conn:
            conn.execute(sa.text(sql))
    assert recorded_test_loss(pg_url, run) == [loss]
    assert count_rows(pg_url, "runs") == 1
    downgrade(pg_url, "0008")  # the rule is the revision's: before it, TRUNCATE went through
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE evaluations"))
    engine.dispose()
    assert count_rows(pg_url, "evaluations") == 0


def downgrade(url: str, rev: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), rev)
    engine.dispose()
