"""Migrations: every landed revision upgrades to head without loss; models match them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ngramlm.store import Store
from ngramlm.store.schema import VERSION_TABLE, head, known_revisions
from ngramlm.store.tables import Base

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Rows each fixture holds, by the revision that introduced the table.
EXPECTED = {"datasets": 1, "words": 10, "runs": 1, "metrics": 1, "checkpoints": 1,
            "checkpoint_parts": 1, "sweeps": 1, "sweep_points": 1,
            "evaluations": 1}  # fmt: skip
# checkpoint_parts (0008) holds the checkpoints' bytes, which stores have had since 0002.
INTRODUCED = {"datasets": "0001", "words": "0001", "runs": "0002", "metrics": "0002",
              "checkpoints": "0002", "checkpoint_parts": "0002", "sweeps": "0003",
              "sweep_points": "0003", "evaluations": "0004"}  # fmt: skip


def test_every_revision_has_a_fixture() -> None:
    assert [
        p.stem.removeprefix("store-") for p in sorted(FIXTURES.glob("store-*.db"))
    ] == known_revisions()


@pytest.mark.parametrize("rev", known_revisions())
def test_fixture_upgrades_to_head_keeping_its_data(cli, tmp_path: Path, rev: str) -> None:
    db = tmp_path / f"store-{rev}.db"
    shutil.copy(FIXTURES / db.name, db)
    url = f"sqlite:///{db}"
    if rev != head():
        r = cli("--db", url, "report")
        assert r.code != 0 and "ngramlm db upgrade" in r.err
    r = cli("--db", url, "db", "upgrade")
    assert r.code == 0, r.err
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == head()
        for table, n in EXPECTED.items():
            count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
            assert count == (n if INTRODUCED[table] <= rev else 0), table
        assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    engine.dispose()
    if rev >= "0002":
        data = json.loads(cli("--db", url, "report", "--json").out)
        assert [row["name"] for row in data["runs"]] == ["fixture-run"]
        assert data["runs"][0]["sweep"] == (1 if rev >= "0003" else None)
        assert data["runs"][0]["test_loss"] == (2.7 if rev >= "0004" else None)
        assert data["runs"][0]["model"] == "mlp"  # runs before 0005 were all MLP runs
        assert data["runs"][0]["precision"] is None  # before 0007: not recorded (float32)
        with Store(url) as store:
            assert store.run(1).threads is None  # before 0012: not recorded
    with Store(url) as store:  # datasets before 0006 were all character datasets
        ds = store.dataset("fixture")
        assert (ds.unit, ds.min_count, ds.split) == ("char", 1, "shuffled")
        assert ds.tokenizer is None  # before 0011 every text was taken as it came
        if rev >= "0002":  # one value before 0008, now its one part: the same bytes
            ckpt = store.checkpoint(1)
            assert ckpt is not None and (ckpt.step, ckpt.data) == (100, b"\x00")


def test_models_and_migrations_agree(db_url: str) -> None:
    Store(db_url).close()
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [d for d in compare_metadata(ctx, Base.metadata) if VERSION_TABLE not in str(d)]
    engine.dispose()
    assert diff == []
