"""The store's core: engine, the one transaction boundary, the schema."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import (
    Connection,
    exc,
    func,
    select,
)
from sqlalchemy.orm import Session

from ngramlm.errors import DiskFullError, StoreError
from ngramlm.store import schema
from ngramlm.store.connection import (
    DEFAULT_URL,
    _first_line,
    asked_readonly,
    describe,
    make_engine,
    parse_url,
    readonly_url,
    write_wait,
)
from ngramlm.store.convert import run_record
from ngramlm.store.records import (
    RunRecord,
)
from ngramlm.store.tables import (
    Dataset,
    Evaluation,
    Run,
    Sweep,
)

_S = TypeVar("_S", bound="StoreBase")


class StoreBase:
    """Opens (and on first use creates) the store at ``url``."""

    def __init__(
        self, url: str = DEFAULT_URL, *, check_schema: bool = True, read_only: bool = False
    ) -> None:
        self.url = parse_url(url)
        self.where = describe(self.url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        # read_only: nothing is written, ever (an SQLite file opened mode=ro, PostgreSQL
        # in read-only transactions), and nothing is created or migrated
        self.read_only = read_only
        if read_only:
            self.url = asked_readonly(self.url, self.where)
        self.readonly = readonly_url(self.url) is not None  # SQLite that cannot be written
        self.engine = make_engine(self.url, read_only=read_only)
        self._writes = 0  # write transactions of this process under way (any thread)
        self._writes_lock = threading.Lock()
        if check_schema:
            self._open_schema()

    def _open_schema(self) -> None:
        """Check the schema in a read transaction, so that readers neither wait for a
        writer nor need to write; only a new store (created at head) or an old one (to
        refuse under the lock, as a migration may be under way) takes the write lock."""
        state = self.schema_state()
        if state.up_to_date:
            return
        if self.read_only:  # neither created nor migrated: said in one line
            schema.check_read_only(state, self.where)
        if schema.is_newer(state):
            schema.check(state, self.where)  # a newer ngramlm's: nothing to wait for
        with self._migrating() as conn, conn.begin():
            schema.ensure(conn, self.where)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    # --- transactions ------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except exc.DBAPIError as err:
            if isinstance(err, exc.IntegrityError):
                raise
            orig = getattr(err, "orig", None)
            msg = _first_line(err, self.url)
            if getattr(orig, "sqlstate", None) == "55P03":  # lock_timeout (waiting_at_most)
                raise StoreError(
                    f"cannot use {self.where}: a lock was held too long ({msg})"
                ) from None
            if _disk_full(orig, msg):
                raise DiskFullError(f"cannot use {self.where}: the disk is full ({msg})") from None
            if isinstance(orig, sqlite3.DatabaseError) and "not a database" in msg:
                fix = (
                    "an existing ngramlm store"
                    if self.read_only
                    else "an ngramlm store or a new file"
                )
                raise StoreError(
                    f"{self.where} is not an SQLite database; point --db at {fix}"
                ) from None
            if self.readonly and "readonly" in msg.replace("read-only", "readonly"):
                raise StoreError(
                    f"cannot write {self.where}: it is read-only (the file or its directory "
                    "cannot be written, or the URL says mode=ro); only report, sample, plot "
                    "and db current read it"
                ) from None
            if self.is_sqlite:
                raise StoreError(f"cannot use {self.where}: {msg}") from None
            raise StoreError(
                f"cannot use {self.where}: {msg}; check that the server is running and --db "
                "(user, password, host, port, database) is right"
            ) from None

    @contextmanager
    def _connection(self, *, write: bool) -> Iterator[Connection]:
        if not write:
            with self._errors(), self.engine.connect() as conn:
                yield conn
            return
        with self._writes_lock:
            self._writes += 1
        try:
            with self._errors(), self.engine.connect() as conn:
                conn.execution_options(ngramlm_write=True, ngramlm_wait_s=write_wait())
                yield conn
        finally:
            with self._writes_lock:
                self._writes -= 1

    def writing(self) -> bool:
        """Whether a write transaction of this process is under way (waiting for the lock,
        or holding it): a heartbeat that cannot be written meanwhile waits its turn."""
        return self._writes > 0

    @contextmanager
    def _migrating(self) -> Iterator[Connection]:
        """A write connection for schema changes. On SQLite, foreign keys are switched off
        for it: Alembic's batch mode rebuilds a table (create, copy, drop, rename), and
        dropping the old table would otherwise cascade-delete the rows that refer to it.
        The keys are checked afterwards and the connection is discarded, not pooled."""
        with self._connection(write=True) as conn:
            if not self.is_sqlite:
                yield conn
                return
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            dbapi.execute("PRAGMA foreign_keys = OFF")  # no-op inside a transaction: set first
            try:
                yield conn
                broken = dbapi.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise StoreError(
                        f"{self.where}: the migration left {len(broken)} broken references; "
                        "restore the backup that `ngramlm db upgrade` made"
                    )
            finally:
                conn.invalidate()

    @contextmanager
    def _tx(self, *, write: bool = False) -> Iterator[Session]:
        """One transaction: commit on success, roll back on any exception."""
        with (
            self._connection(write=write) as conn,
            Session(bind=conn, expire_on_commit=False, autoflush=False) as session,
            session.begin(),
        ):
            yield session

    # --- schema ------------------------------------------------------------------------

    def schema_state(self) -> schema.SchemaState:
        with self._connection(write=False) as conn, conn.begin():
            return schema.SchemaState(schema.current(conn), schema.head())

    def upgrade(self) -> schema.SchemaState:
        """Migrate to head under the schema lock; a store from a newer ngramlm is refused."""
        with self._migrating() as conn, conn.begin():
            schema.lock(conn)
            rev = schema.current(conn)
            if rev is not None and rev not in schema.known_revisions():
                schema.check(schema.SchemaState(rev, schema.head()), self.where)
            if rev is None:
                schema.ensure(conn, self.where)
            else:
                schema.upgrade(conn)
        return self.schema_state()

    def stamp(self) -> str:
        """A short text that changes whenever a dataset, run, curve point, checkpoint,
        sweep or test evaluation is written (every such write moves a run's heartbeat,
        its steps or ended time, or adds a row counted here): one cheap query, for a
        reader that polls (the dashboard's ETag)."""
        counts = [
            select(func.count()).select_from(Dataset).scalar_subquery(),
            select(func.count(Run.id)).scalar_subquery(),
            select(func.max(Run.id)).scalar_subquery(),
            select(func.max(Run.heartbeat_at)).scalar_subquery(),
            select(func.max(Run.ended_at)).scalar_subquery(),
            select(func.sum(Run.steps_done)).scalar_subquery(),
            select(func.count(Evaluation.id)).scalar_subquery(),
            select(func.count(Sweep.id)).scalar_subquery(),
            select(func.sum(Sweep.n_points)).scalar_subquery(),
        ]
        with self._tx() as s:
            row = s.execute(select(*counts)).one()
        return "-".join(str(v.timestamp() if hasattr(v, "timestamp") else v) for v in row)

    def _run_record(self, s: Session, row: Run) -> RunRecord:
        ds = s.scalar(select(Dataset.name).where(Dataset.id == row.dataset_id))
        return run_record(row, ds or "?")


def _disk_full(orig: object, msg: str) -> bool:
    """SQLite's SQLITE_FULL, PostgreSQL's disk_full (SQLSTATE 53100), or ENOSPC."""
    return (
        getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        or getattr(orig, "sqlstate", None) == "53100"
        or "disk is full" in msg
        or "No space left on device" in msg
    )
