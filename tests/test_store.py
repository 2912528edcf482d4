"""The store: schema at head on first use, revision checks, upgrade, concurrency, URLs."""

from __future__ import annotations

import multiprocessing
import os
import socket
import sqlite3
import struct
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from ngramlm.api.schema import backup_sqlite
from ngramlm.errors import InputError, SchemaError, StoreError
from ngramlm.store import Store
from ngramlm.store.schema import VERSION_TABLE, alembic_config, head


def version(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    finally:
        engine.dispose()


def set_version(url: str, rev: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = :r"), {"r": rev})
    engine.dispose()


def downgrade(url: str, rev: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), rev)
    engine.dispose()


def test_fresh_store_is_created_at_head(db_url: str) -> None:
    with Store(db_url) as store:
        state = store.schema_state()
        assert state.current == head() and state.up_to_date
    assert version(db_url) == head()


def test_db_current_reports_revisions(cli, db_url: str) -> None:
    r = cli("--db", db_url, "db", "current", "--json")
    assert r.code == 0, r.err
    assert '"up_to_date": true' in r.out and head() in r.out


def test_older_store_stops_every_command_naming_db_upgrade(cli, db_url: str) -> None:
    Store(db_url).close()
    downgrade(db_url, "0001")
    r = cli("--db", db_url, "prepare")
    assert r.code != 0 and "ngramlm db upgrade" in r.err
    with pytest.raises(SchemaError, match="ngramlm db upgrade"):
        Store(db_url)
    r = cli("--db", db_url, "db", "upgrade")
    assert r.code == 0, r.err
    assert version(db_url) == head()
    assert cli("--db", db_url, "prepare").code == 0


def test_upgrade_backs_up_an_sqlite_file(cli, sqlite_url: str, tmp_path: Path) -> None:
    assert cli("--db", sqlite_url, "prepare").code == 0
    downgrade(sqlite_url, "0001")
    r = cli("--db", sqlite_url, "db", "upgrade")
    assert r.code == 0, r.err
    backups = list(tmp_path.glob("store.db.bak-0001-*"))
    assert len(backups) == 1 and str(backups[0]) in r.out.replace("\n", "")
    conn = sqlite3.connect(backups[0])
    assert conn.execute("SELECT count(*) FROM datasets").fetchone() == (1,)
    assert conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone() == ("0001",)
    conn.close()


def test_upgrade_never_replaces_an_earlier_backup(cli, sqlite_url: str, tmp_path: Path) -> None:
    """A backup's name taken (an upgrade within the same second; something else there):
    the copy gets the next free name, and what held the name is kept as it was."""
    assert cli("--db", sqlite_url, "prepare").code == 0
    downgrade(sqlite_url, "0001")
    db, now = tmp_path / "store.db", datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    earlier = tmp_path / "store.db.bak-0001-20260102T030405Z"
    earlier.write_bytes(b"an earlier backup")
    (tmp_path / f"{earlier.name}-2").mkdir()  # a directory at the next name: kept too
    backup = backup_sqlite(db, "0001", now)
    assert backup == tmp_path / f"{earlier.name}-3" and backup.is_file()
    assert backup_sqlite(db, "0001", now) == tmp_path / f"{earlier.name}-4"
    assert earlier.read_bytes() == b"an earlier backup"
    conn = sqlite3.connect(backup)
    assert conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone() == ("0001",)
    conn.close()


def test_an_upgrade_whose_backup_does_not_fit_is_refused_whole(cli, small_disk: Path) -> None:
    """The disk under the store cannot hold its backup: one line, no backup or temporary
    file left behind, the store not upgraded."""
    url = f"sqlite:///{small_disk / 'store.db'}"
    assert cli("--db", url, "prepare").code == 0
    downgrade(url, "0001")
    room = os.statvfs(small_disk)
    filler = small_disk / "filler"  # the disk full but for less than the store's size
    filler.write_bytes(b"\0" * (room.f_bavail * room.f_frsize - 8192))
    before = sorted(p.name for p in small_disk.iterdir())
    r = cli("--db", url, "db", "upgrade")
    assert r.code == StoreError.exit_code and len(r.err.strip().splitlines()) == 1, r.err
    assert "db upgrade backs up" in r.err and "the store is not upgraded" in r.err, r.err
    assert "space" in r.err or "full" in r.err, r.err
    assert sorted(p.name for p in small_disk.iterdir()) == before  # nothing left behind
    assert version(url) == "0001"


def test_store_from_a_newer_ngramlm_is_refused(cli, db_url: str) -> None:
    Store(db_url).close()
    set_version(db_url, "9999")
    with pytest.raises(SchemaError, match="newer ngramlm"):
        Store(db_url)
    r = cli("--db", db_url, "db", "upgrade")
    assert r.code != 0 and "newer ngramlm" in r.err
    assert version(db_url) == "9999"


def test_database_with_foreign_tables_is_refused(sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE invoices (id INTEGER)"))
    engine.dispose()
    with pytest.raises(SchemaError, match="not an ngramlm store"):
        Store(sqlite_url)


def test_file_that_is_not_a_database(cli, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are my notes, not a database\n" * 100)
    r = cli("--db", f"sqlite:///{bogus}", "db", "current")
    assert r.code != 0 and "not an SQLite database" in r.err
    assert bogus.read_text().startswith("these are my notes")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("nonsense", "not a database URL"),
        ("mysql://root@localhost/x", "not supported"),
        ("sqlite:///{tmp}/missing/dir/x.db", "does not exist"),
        ("sqlite://", "has no file"),
    ],
)
def test_bad_urls(cli, tmp_path: Path, url: str, needle: str) -> None:
    r = cli("--db", url.format(tmp=tmp_path), "db", "current")
    assert r.code != 0 and needle in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_unreachable_server_and_password_never_printed(cli) -> None:
    r = cli("--db", "postgresql://postgres:hunter2@127.0.0.1:1/test", "db", "current")
    assert r.code != 0 and "cannot use" in r.err
    assert "hunter2" not in r.err and "***" in r.err


@pytest.mark.postgres
def test_wrong_database_name_on_the_real_server(cli, pg_server: str) -> None:
    url = sa.engine.make_url(pg_server).set(database="no_such_db_ngramlm", password="s3cret")
    r = cli("--db", url.render_as_string(hide_password=False), "db", "current")
    assert r.code != 0 and "no_such_db_ngramlm" in r.err and "s3cret" not in r.err


def test_sqlite_pragmas(sqlite_url: str) -> None:
    with Store(sqlite_url) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_url_without_driver_means_psycopg() -> None:
    from ngramlm.store.store import parse_url

    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    with pytest.raises(InputError):
        parse_url("postgresql+psycopg2://u@h/db")


def _open(url: str) -> str:
    try:
        with Store(url) as store:
            return str(store.schema_state().current)
    except StoreError as exc:  # pragma: no cover - reported to the parent
        return f"error: {exc}"


@pytest.mark.slow  # many processes
def test_many_processes_create_a_fresh_store_at_once(db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(6) as pool:
        results = pool.map(_open, [db_url] * 6)
    assert results == [head()] * 6
    assert version(db_url) == head()


def test_the_cli_starts_without_torch() -> None:
    """Commands that only read the store (report, db, prepare, --help) must not pay for
    importing torch: the heavy modules are imported when training or sampling starts."""
    import subprocess
    import sys

    code = "import sys, ngramlm.cli; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def _refuse_password_once(server: socket.socket, received: list[bytes]) -> None:
    """A PostgreSQL server that asks for a password and rejects it, as a server with
    password authentication does (the local test server trusts every connection)."""
    conn, _ = server.accept()
    with conn:
        while True:
            (length,) = struct.unpack("!I", conn.recv(4))
            body = conn.recv(length - 4)
            if struct.unpack("!I", body[:4])[0] == 80877103:  # SSLRequest: no SSL here
                conn.sendall(b"N")
                continue
            break  # the StartupMessage
        conn.sendall(b"R" + struct.pack("!II", 8, 3))  # AuthenticationCleartextPassword
        kind = conn.recv(1)
        (length,) = struct.unpack("!I", conn.recv(4))
        received.append(kind + conn.recv(length - 4))
        fields = b'SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user "postgres"\0\0'
        conn.sendall(b"E" + struct.pack("!I", len(fields) + 4) + fields)


def test_wrong_password_is_one_line_without_the_password(cli) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    received: list[bytes] = []
    thread = threading.Thread(target=_refuse_password_once, args=(server, received), daemon=True)
    thread.start()
    url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/test?sslmode=disable&connect_timeout=5"
    r = cli("--db", url, "db", "current")
    thread.join(timeout=10)
    server.close()
    assert received and received[0].startswith(b"phunter2")  # the client did send it
    assert r.code != 0 and "password authentication failed" in r.err
    assert "hunter2" not in r.err and len(r.err.strip().splitlines()) == 1
