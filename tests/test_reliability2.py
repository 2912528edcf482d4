"""Reliability, round two (issue 29): the test record cannot be rewritten with plain SQL,
no false loss is ever recorded, an ARPA file must be a normalised model, and only regular
files are read. Real SQLite files and the real PostgreSQL server; no mocks."""

from __future__ import annotations

import json
import math
import re
import shutil
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import torch
from alembic import command

from ngramlm.errors import InputError
from ngramlm.stages.hooks import StoreHooks, record_outcome
from ngramlm.stages.plan import Plan
from ngramlm.stages.run import Progress, new_run
from ngramlm.store import Store
from ngramlm.store.records import MetricRecord
from ngramlm.store.schema import alembic_config
from ngramlm.training.body import EvalPoint, TrainResult, TrainState

from . import hostile_cases as hc
from .conftest import count_rows
from .helpers import tiny_config, tiny_store

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


# --- 2. no false number ever recorded ----------------------------------------------------

BAD_LOSSES = [-3.0e298, -1e-9, math.inf, -math.inf, math.nan]


def _trained(cli, url: str, words: Path) -> int:
    assert cli("--db", url, "prepare", words).code == 0
    r = cli("--db", url, "train", "--dataset", words.stem, "--model", "bigram", "--json", "-q")
    assert r.code == 0, r.err
    return int(json.loads(r.out)["run"])


@pytest.mark.parametrize("bad", BAD_LOSSES)
def test_the_store_refuses_a_false_loss_naming_run_and_value(
    cli, db_url: str, words_file: Path, bad: float
) -> None:
    run = _trained(cli, db_url, words_file)
    shown = re.escape(f"{bad:.6g}")
    with Store(db_url) as store:
        before = (store.run(run), store.metrics(run))
        point = MetricRecord(2, 0.1, 0.1, 2.5, 2.5, 2.5)
        for field in ("batch_loss", "train_loss", "dev_loss"):
            with pytest.raises(
                InputError,
                match=rf"run {run} at step 3: its {field.replace('_', ' ')} {shown} is not a loss",
            ):
                store.add_metrics(run, [point, replace(point, step=3, **{field: bad})], 3)
        for field in ("train_loss", "dev_loss"):
            losses = {"train_loss": 2.5, "dev_loss": 2.5, field: bad}
            with pytest.raises(InputError, match=rf"run {run}: its .* {shown} is not a loss"):
                store.end_run(run, status="finished", steps_done=3, train_seconds=1.0,
                                 **losses)  # fmt: skip
        with pytest.raises(InputError, match=rf"run {run}: its test loss {shown} is not a loss"):
            store.finalize_with_test_words(run, host="h", evaluate=lambda *_: (bad, 10))
        assert (store.run(run), store.metrics(run)) == before  # nothing written
        assert store.evaluation(run) is None


def _raw_sql(url: str) -> list[tuple[str, str]]:
    """A false loss written past the store, as plain SQL would."""
    inf = "9e999" if url.startswith("sqlite") else "'Infinity'"
    nan = "NULL" if url.startswith("sqlite") else "'NaN'"  # SQLite keeps NaN as NULL
    values = "20, 'x', '2026-01-01 00:00:00', 'h'"
    out = [
        ("UPDATE runs SET dev_loss = -3e298", "runs"),
        (f"UPDATE runs SET train_loss = {inf}", "runs"),
        (
            "INSERT INTO metrics (run_id, step, elapsed_s, lr, batch_loss) VALUES (1, 9, 0, 0, -1)",
            "metrics",
        ),
        (f"UPDATE metrics SET dev_loss = {inf}", "metrics"),
        (f"INSERT INTO evaluations ({COLUMNS}) VALUES (1, -2.95e298, {values})", "evaluations"),
        (f"INSERT INTO evaluations ({COLUMNS}) VALUES (1, {inf}, {values})", "evaluations"),
    ]
    if nan != "NULL":
        out += [(f"UPDATE runs SET dev_loss = {nan}", "runs"),
                (f"UPDATE metrics SET batch_loss = {nan}", "metrics")]  # fmt: skip
    return out


def _refused_in_the_database(url: str) -> None:
    engine = sa.create_engine(url)
    for sql, table in _raw_sql(url):
        with pytest.raises(sa.exc.DBAPIError, match=table), engine.begin() as conn:
            conn.execute(sa.text(sql))
    engine.dispose()


def test_the_database_refuses_a_false_loss_from_plain_sql(
    cli, db_url: str, words_file: Path
) -> None:
    run = _trained(cli, db_url, words_file)
    assert run == 1
    with Store(db_url) as store:
        before = (store.run(run), store.metrics(run))
    _refused_in_the_database(db_url)
    with Store(db_url) as store:
        assert (store.run(run), store.metrics(run)) == before
        assert store.evaluation(run) is None


def test_an_upgraded_store_refuses_a_false_loss(cli, tmp_path: Path) -> None:
    """A store from before the rule (0003: no evaluation yet) gets it on `db upgrade`;
    a false dev loss written before it stays, and finalize refuses that run."""
    db = tmp_path / "store-0003.db"
    shutil.copy(FIXTURES / db.name, db)
    url = f"sqlite:///{db}"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE runs SET dev_loss = -3.0e298")  # before: written as it came
    conn.close()
    assert cli("--db", url, "db", "upgrade").code == 0
    _refused_in_the_database(url)
    r = cli("--db", url, "finalize", "1")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
    assert "run 1's dev loss -3e+298 is not a loss (finite and at least 0)" in r.err
    assert "it is not finalized" in r.err
    assert count_rows(url, "evaluations") == 0


@pytest.mark.postgres
def test_a_postgres_store_holding_a_false_loss_still_upgrades(
    cli, pg_url: str, words_file: Path
) -> None:
    run = _trained(cli, pg_url, words_file)
    downgrade(pg_url, "0009")
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:  # before the rule: written as it came
        conn.execute(sa.text("UPDATE runs SET dev_loss = -3e298"))
    assert cli("--db", pg_url, "db", "upgrade").code == 0
    _refused_in_the_database(pg_url)
    with engine.connect() as conn:  # the old row stays; its table's rule is not validated
        assert conn.execute(sa.text("SELECT dev_loss FROM runs")).scalar() == -3e298
        valid = dict(conn.execute(sa.text(
            "SELECT conname, convalidated FROM pg_constraint WHERE conname LIKE 'ck_%_losses'"
            " AND connamespace = current_schema()::regnamespace"
        )).all())  # fmt: skip
    engine.dispose()
    assert valid == {"ck_runs_losses": False, "ck_metrics_losses": True,
                     "ck_evaluations_losses": True}  # fmt: skip
    r = cli("--db", pg_url, "finalize", str(run))
    assert r.code == 2 and "dev loss -3e+298 is not a loss" in r.err, r.err


# --- 3. an ARPA file must be a model -------------------------------------------------------


def test_the_hostile_files_base_model_imports(cli, sqlite_url: str, tmp_path: Path) -> None:
    """The hostile ARPA cases (tests/hostile_cases.py) are one number away from a model
    that imports: the check refuses what is false, not what is unusual."""
    hc.write_inputs(tmp_path)
    good = tmp_path / "good.arpa"
    good.write_text(hc._MODEL.replace("BACKOFF", "0").replace("LOGP", "-0.30103"))
    assert cli("--db", sqlite_url, "prepare", tmp_path / "tiny.txt").code == 0
    r = cli("--db", sqlite_url, "import", good, "--dataset", "tiny", "--json")
    assert r.code == 0, r.err
    assert 0 < json.loads(r.out)["dev_loss"] < 3


def test_kenlm_round_trip_still_imports(cli, sqlite_url: str, tmp_path: Path) -> None:
    """ngramlm's modified Kneser-Ney of order 5 on the names, exported: KenLM reads and
    scores it, and it imports back (every context checked: a character model) with the
    same dev loss."""
    kenlm = pytest.importorskip("kenlm")
    assert cli("--db", sqlite_url, "prepare").code == 0  # the bundled names
    r = cli("--db", sqlite_url, "train", "--dataset", "names", "--model", "modified-kn",
            "--order", "5", "--json", "-q")  # fmt: skip
    assert r.code == 0, r.err
    run = json.loads(r.out)
    path = tmp_path / "names5.arpa"
    assert cli("--db", sqlite_url, "export", str(run["run"]), "--arpa", path).code == 0
    assert -30 < kenlm.Model(str(path)).score("e m m a", bos=True, eos=True) < 0
    r = cli("--db", sqlite_url, "import", path, "--dataset", "names", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["dev_loss"] == pytest.approx(run["dev_loss"], rel=1e-12)


def test_a_large_vocabulary_is_sampled_and_a_forged_back_off_still_found() -> None:
    """Words: contexts x vocabulary past the budget, so a seeded sample plus each order's
    largest back-off weights is checked; one context's weight raised is refused by name."""
    import random

    from ngramlm.data import Vocab, build_examples, token_counts
    from ngramlm.models import ngram
    from ngramlm.models.ngram import arpa_check

    rng = random.Random(0)
    words = [f"w{i}" for i in range(3000)]
    lines = [" ".join(rng.choices(words, k=rng.randint(3, 12))) for _ in range(6000)]
    vocab = Vocab.from_counts(token_counts(lines, "word"), 1)
    cfg = ngram.ModifiedKneserNeyConfig(vocab_size=vocab.size, order=3)
    model = ngram.fit(cfg, *build_examples(lines, vocab, 2))
    tables = ngram.arpa_tables_of(model, vocab.itos)
    assert sum(g.shape[0] for g in tables.grams[:-1]) * tables.V > arpa_check.BUDGET
    arpa_check.check(tables, ngram.BackoffModel(tables), "words.arpa")  # a model: passes
    bo = tables.bo[1].copy()
    i = int(np.flatnonzero(tables.grams[1][:, 0] != tables.V)[1234])
    bo[i] += 1.0  # ten times the weight: the context's probabilities sum past 1
    forged = replace(tables, bo=(tables.bo[0], bo, tables.bo[2]))
    context = " ".join(tables.words[t] for t in tables.grams[1][i])
    with pytest.raises(InputError, match=rf"after '{context}' sum to \d"):
        arpa_check.check(forged, ngram.BackoffModel(forged), "words.arpa")


# --- a diverged run ends failed, never with a false loss ------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_diverged_run_ends_failed_naming_the_step_and_the_fix(
    sqlite_url: str, words_file: Path, bad: float
) -> None:
    """Losses gone to nan or inf (a learning rate far too large) reach the run's hooks as
    the loop evaluates: the run is recorded ``failed`` with the step and the advice, its
    curve holds no false value, and it has no losses a report or finalize could trust."""
    with tiny_store(sqlite_url, words_file) as store:
        ds = store.dataset("tiny")
        cfg = tiny_config(store, steps=300)
        run = store.create_run(new_run(Plan.of(ds, cfg, threads=1), "train", None))
        hooks = StoreHooks(store, run, cfg, ds.vocab, Progress(), threading.Event())
        hooks.on_eval(EvalPoint(100, 0.1, 0.1, 2.5, 2.4, 2.6))
        hooks.on_eval(EvalPoint(200, 0.2, 0.1, bad, bad, 2.6))
        hooks.on_eval(EvalPoint(300, 0.3, 0.1, bad, bad, bad))
        state = TrainState(300, {"w": torch.ones(1)}, {}, torch.Generator().get_state())
        record_outcome(store, ds, hooks, TrainResult(state, False, bad, bad))
        ended = store.run(run.id)
        assert ended.status == "failed"
        assert ended.error == (
            f"diverged: its batch loss was {bad} at step 200; train it again with a lower --lr"
        )
        assert (ended.train_loss, ended.dev_loss) == (None, None)
        curve = [(m.step, m.batch_loss, m.train_loss, m.dev_loss) for m in store.metrics(run.id)]
        assert curve == [(100, 2.5, 2.4, 2.6), (200, None, None, 2.6), (300, None, None, None)]
