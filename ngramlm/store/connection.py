"""Database URLs and engines: validation, naming without passwords, SQLite set-up."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    exc,
)
from sqlalchemy.engine import URL, make_url

from ngramlm.errors import InputError

# How long a write waits for another writer's lock (SQLite's busy timeout) unless its
# caller bounds the wait (``waiting_at_most``): a training run's writes, retried within a
# budget, and its heartbeat do, so that no wait outlasts the budget.
BUSY_TIMEOUT_S = 60.0
DEFAULT_URL = "sqlite:///ngramlm.db"
URL_HELP = "use sqlite:///PATH/TO/FILE.db or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# --- how long a write waits for a lock ------------------------------------------------

_WAIT_S: ContextVar[float | None] = ContextVar("ngramlm_wait_s", default=None)


@contextmanager
def waiting_at_most(seconds: float) -> Iterator[None]:
    """The store's writes in this thread wait at most ``seconds`` for another writer's
    lock, then fail (``StoreError``): SQLite's busy timeout for the transaction, or
    PostgreSQL's ``lock_timeout`` (``SET LOCAL``). Without it a write waits
    ``BUSY_TIMEOUT_S`` on SQLite and as long as it takes on PostgreSQL."""
    token = _WAIT_S.set(max(seconds, 0.001))
    try:
        yield
    finally:
        _WAIT_S.reset(token)


def write_wait() -> float | None:
    """The bound ``waiting_at_most`` set in this thread, if any."""
    return _WAIT_S.get()


# --- URLs and engines ------------------------------------------------------------------


_SECRET_PARAM = re.compile(r"(?i)([?&;](?:password|passwd|pass|pwd|sslpassword)=)[^&;#]*")
POSTGRES_NAMES = ("postgresql", "postgres", "postgresql+psycopg", "postgres+psycopg")


def mask(raw: str) -> str:
    """A URL as text with its password (``user:PASSWORD@``, ``?password=``) replaced by
    ``***``, however malformed the rest is: what every message shows of a URL."""
    text = _SECRET_PARAM.sub(r"\1***", raw)
    at = text.rfind("@")
    if at < 0:
        return text
    scheme = text.find("://")
    start = scheme + 3 if 0 <= scheme < at else 0
    user, colon, _ = text[start:at].partition(":")
    return text[:start] + user + ":***" + text[at:] if colon else text


def sqlite_path(url: URL) -> str:
    """The file of an SQLite URL: ``sqlite:///PATH`` or the URI form
    ``sqlite:///file:PATH?mode=ro&uri=true`` (its options are the query's)."""
    database = str(url.database or "")
    if url.query.get("uri") == "true" and database.startswith("file:"):
        return unquote(database.removeprefix("file:").split("?", 1)[0])
    return database


def parse_url(raw: str) -> URL:
    """Validate a database URL; plain ``postgresql://`` and ``postgres://`` mean the
    psycopg 3 driver. No message shows the password."""
    shown = mask(raw)
    try:
        url = make_url(raw)
        port = url.port  # SQLAlchemy parses the port as it goes; a bad one raises here
    except exc.ArgumentError:
        raise InputError(f"--db {shown!r} is not a database URL; {URL_HELP}") from None
    except ValueError:
        raise InputError(
            f"--db {shown!r}: the port is not a number; give HOST:PORT as 127.0.0.1:5432"
        ) from None
    if port is not None and not 0 < port < 65536:
        raise InputError(f"--db {shown!r}: port {port} is not in 1-65535; give HOST:PORT")
    if url.host and "@" in url.host:  # user:p@ss@host: the rest of the password is the host's
        raise InputError(
            f"--db {shown!r}: the password holds '@' or another reserved character; "
            "percent-encode it (@ as %40, : as %3A, / as %2F)"
        )
    if url.drivername in POSTGRES_NAMES:
        url = url.set(drivername="postgresql+psycopg")
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if url.drivername != "postgresql+psycopg":
            raise InputError(
                f"--db driver {url.drivername!r} is not supported; use postgresql+psycopg://..."
            )
    elif backend == "sqlite":
        if url.drivername != "sqlite":
            raise InputError(f"--db driver {url.drivername!r} is not supported; use sqlite:///PATH")
        path = sqlite_path(url)
        if not path or path == ":memory:" or url.query.get("mode") == "memory":
            raise InputError(f"--db {shown!r} has no file; {URL_HELP}")
        parent = Path(path).expanduser().resolve().parent
        if not parent.is_dir():
            raise InputError(
                f"--db {shown!r}: directory {parent} does not exist; create it or use another path"
            )
    else:
        raise InputError(f"--db {shown!r}: {backend!r} databases are not supported; {URL_HELP}")
    return url


def describe(url: URL) -> str:
    """How to name the store in a message: never with its password."""
    if url.get_backend_name() == "sqlite":
        return sqlite_path(url)
    return mask(url.render_as_string(hide_password=True))


def readonly_url(url: URL) -> URL | None:
    """The read-only form of an SQLite store that cannot be written, else None.

    A URL may ask for it (``sqlite:///file:PATH?mode=ro&uri=true``, or ``immutable=1``);
    otherwise a file that exists but cannot be written, or whose directory cannot be
    (SQLite keeps its ``-wal`` and ``-shm`` files beside it), is opened ``mode=ro`` so
    that readers (report, sample, plot) work on it. Where the directory is read-only and
    no ``-shm`` file exists, SQLite could not create the shared memory a WAL reader needs:
    the file is read as it is (``immutable=1``; no writer can be adding to it there).
    """
    if url.get_backend_name() != "sqlite":
        return None
    asked = url.query.get("uri") == "true" and (
        url.query.get("mode") == "ro" or url.query.get("immutable") == "1"
    )
    path = Path(sqlite_path(url)).expanduser().resolve()
    if not path.is_file():
        return url if asked else None
    dir_ok = os.access(path.parent, os.W_OK | os.X_OK)
    if not asked and dir_ok and os.access(path, os.W_OK):
        return None
    query = {**url.query, "uri": "true", "mode": "ro"} if asked else {"uri": "true", "mode": "ro"}
    if not dir_ok and not path.with_name(path.name + "-shm").exists():
        query["immutable"] = "1"
    return URL.create("sqlite", database="file:" + quote(str(path)), query=query)


def asked_readonly(url: URL, where: str) -> URL:
    """An SQLite URL as its read-only form (``sqlite:///file:PATH?mode=ro&uri=true``), for
    a reader that must write nothing (the dashboard); its file must exist (a missing one
    is refused, never created). Another database's URL is returned as it is: its engine
    makes every transaction read-only (``make_engine(read_only=True)``)."""
    if url.get_backend_name() != "sqlite":
        return url
    path = Path(sqlite_path(url)).expanduser().resolve()
    if not path.is_file():
        raise InputError(
            f"no store at {where}; give --db the URL of an existing store (nothing is created)"
        )
    query = {k: v for k, v in url.query.items() if k not in ("uri", "mode")}
    return URL.create(
        "sqlite", database="file:" + quote(str(path)), query={**query, "uri": "true", "mode": "ro"}
    )


def make_engine(url: URL, *, read_only: bool = False) -> Engine:
    if url.get_backend_name() == "sqlite":
        readonly = readonly_url(url)
        engine = create_engine(readonly or url, connect_args={"timeout": BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if readonly is None:  # a read-only file keeps its journal mode
                cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            options = conn.get_execution_options()
            write = options.get("ngramlm_write", False)
            # set each time: a pooled connection keeps the last transaction's
            wait = options.get("ngramlm_wait_s") or BUSY_TIMEOUT_S
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {max(1, int(wait * 1000))}")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    engine = create_engine(
        url, pool_pre_ping=True, connect_args={"connect_timeout": 10}, pool_size=2
    )

    @event.listens_for(engine, "begin")
    def _on_pg_begin(conn: Connection) -> None:
        if read_only:  # the server refuses any write in the transaction
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        wait = conn.get_execution_options().get("ngramlm_wait_s")
        if wait is not None:  # for this transaction only; the server's default is no bound
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, int(wait * 1000))}")

    return engine


def _first_line(err: BaseException, url: URL | None = None) -> str:
    text = str(getattr(err, "orig", None) or err).strip().splitlines()
    line = text[0] if text else type(err).__name__
    secret = url.password if url is not None else None
    if isinstance(secret, str) and len(secret) >= 4:  # a driver may echo what it was given
        line = line.replace(secret, "***")
    return line
