"""Shared fixtures: real SQLite files in tmp_path, a private schema on the real
PostgreSQL server, and an in-process CLI runner."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import torch

from ngramlm.cli import main
from ngramlm.store import Store

from .helpers import dashboard_store, tiny_store, tiny_words

REPO = Path(__file__).resolve().parents[1]
# The lecture's names.txt (karpathy/makemore's names.txt, 32,033 names): tests that compare
# with the lecture's numbers read it from NGRAMLM_NAMES, by default the team's shared copy
# beside the clone, and skip with the reason when it is absent.
MAKEMORE = Path(
    os.environ.get("NGRAMLM_NAMES", REPO.parent / "shared" / "data" / "makemore-names.txt")
)
# The Brown corpus (Bengio et al. 2003's word-level data set), likewise from NGRAMLM_BROWN.
BROWN = Path(os.environ.get("NGRAMLM_BROWN", REPO.parent / "shared" / "data" / "brown.txt"))
PG_SERVER = os.environ.get("NGRAMLM_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

torch.set_num_threads(1)  # tests run tiny models; one thread each keeps xdist workers quiet


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own directory with no store configured from outside."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NGRAMLM_DB", raising=False)


def _pg_reachable() -> str | None:
    try:
        engine = sa.create_engine(PG_SERVER, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any reason the server cannot be used
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def pg_server() -> str:
    why = _pg_reachable()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but PostgreSQL at {PG_SERVER} is unreachable: {why}")
        pytest.skip(f"no PostgreSQL server reachable at {PG_SERVER}: {why}")
    return PG_SERVER


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh schema of its own on the real server, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(pg_server)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.engine.make_url(pg_server).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run the test on an SQLite file and on the PostgreSQL server."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run ``ngramlm ARGS`` in-process; returns exit code, stdout and stderr."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def words_file(tmp_path: Path) -> Path:
    """A small word list: 200 made-up names."""
    return tiny_words(tmp_path / "tiny.txt")


@pytest.fixture
def store(sqlite_url: str, words_file: Path) -> Iterator[Store]:
    """An SQLite store with ``words_file`` prepared as the dataset ``tiny``."""
    with tiny_store(sqlite_url, words_file) as s:
        yield s


@pytest.fixture(scope="session")
def dashboard_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, int]]:
    """A small store for the dashboard's tests (``helpers.dashboard_store``), built once a
    session: its URL and the ids. Tests only read it (a test that writes copies it)."""
    return dashboard_store(tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def board(dashboard_db: tuple[str, dict[str, int]]) -> Iterator[Any]:
    """The dashboard of ``dashboard_db``, serving from a thread on a free port of 127.0.0.1."""
    from ngramlm.web import open_dashboard

    with open_dashboard(dashboard_db[0], port=0).start() as d:
        yield d


def count_rows(url: str, table: str) -> int:
    """Rows in ``table`` of the store at ``url`` (0 if the table does not exist yet)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if table not in sa.inspect(conn).get_table_names():
                return 0
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def _tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``where`` with ``options`` for the test's while (skipped, saying
    why, where a tmpfs cannot be mounted)."""
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (tests run as root in CI)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a real filesystem with real free space, that fills up with a real
    ENOSPC (skipped, saying why, where a tmpfs cannot be mounted)."""
    yield from _tmpfs(tmp_path / "disk", "size=4m")


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty directory no file can be created in, also by root (who ignores
    permissions): a read-only tmpfs (skipped, saying why, where none can be mounted)."""
    yield from _tmpfs(tmp_path / "ro", "ro,size=1m")
