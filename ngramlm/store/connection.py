"""Database URLs and engines: validation, naming without passwords, SQLite set-up."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    exc,
)
from sqlalchemy.engine import URL, make_url

from ngramlm.errors import InputError

BUSY_TIMEOUT_S = 60.0
DEFAULT_URL = "sqlite:///ngramlm.db"
URL_HELP = "use sqlite:///PATH/TO/FILE.db or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --- URLs and engines ------------------------------------------------------------------


def parse_url(raw: str) -> URL:
    """Validate a database URL; plain ``postgresql://`` means the psycopg 3 driver."""
    try:
        url = make_url(raw)
    except exc.ArgumentError:
        raise InputError(f"--db {raw!r} is not a database URL; {URL_HELP}") from None
    backend = url.get_backend_name()
    if backend == "postgresql":
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        elif url.drivername != "postgresql+psycopg":
            raise InputError(
                f"--db driver {url.drivername!r} is not supported; use postgresql+psycopg://..."
            )
    elif backend == "sqlite":
        if url.drivername != "sqlite":
            raise InputError(f"--db driver {url.drivername!r} is not supported; use sqlite:///PATH")
        if not url.database or url.database == ":memory:":
            raise InputError(f"--db {raw!r} has no file; {URL_HELP}")
        parent = Path(url.database).expanduser().resolve().parent
        if not parent.is_dir():
            raise InputError(
                f"--db {raw!r}: directory {parent} does not exist; create it or use another path"
            )
    else:
        raise InputError(f"--db {raw!r}: {backend!r} databases are not supported; {URL_HELP}")
    return url


def describe(url: URL) -> str:
    """How to name the store in a message: never with its password."""
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True)


def make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("ngramlm_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10}, pool_size=2)


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip().splitlines()
    return text[0] if text else type(err).__name__
