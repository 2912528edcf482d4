"""The Store: the one object through which ngramlm reads and writes its database.

Every public method is one short transaction (``_tx``), the only commit/rollback
boundary, and returns frozen records (records.py), never ORM rows. On SQLite a write
transaction starts with ``BEGIN IMMEDIATE`` so that writers queue on the busy timeout
instead of failing with "database is locked" when a read lock cannot be upgraded; WAL
lets readers go on while one process writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    exc,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from ngramlm.errors import ConflictError, InputError, NotFoundError, StoreError
from ngramlm.store import schema
from ngramlm.store.records import (
    STALE_AFTER_S,
    CheckpointRecord,
    DatasetRecord,
    EvaluationRecord,
    MetricRecord,
    PointRecord,
    RunRecord,
    SweepRecord,
    loads,
)
from ngramlm.store.tables import (
    Checkpoint,
    Dataset,
    Evaluation,
    Metric,
    Run,
    Sweep,
    SweepPoint,
    Word,
)

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


# --- the store -------------------------------------------------------------------------


class Store:
    """Opens (and on first use creates) the store at ``url``."""

    def __init__(self, url: str = DEFAULT_URL, *, check_schema: bool = True) -> None:
        self.url = parse_url(url)
        self.where = describe(self.url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine = make_engine(self.url)
        if check_schema:
            with self._migrating() as conn, conn.begin():
                schema.ensure(conn, self.where)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
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
            msg = _first_line(err)
            if isinstance(orig, sqlite3.DatabaseError) and "not a database" in msg:
                raise StoreError(
                    f"{self.where} is not an SQLite database; point --db at an ngramlm store "
                    "or a new file"
                ) from None
            if self.is_sqlite:
                raise StoreError(f"cannot use {self.where}: {msg}") from None
            raise StoreError(
                f"cannot use {self.where}: {msg}; check that the server is running and --db "
                "(user, password, host, port, database) is right"
            ) from None

    @contextmanager
    def _connection(self, *, write: bool) -> Iterator[Connection]:
        with self._errors(), self.engine.connect() as conn:
            if write:
                conn.execution_options(ngramlm_write=True)
            yield conn

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

    # --- datasets ----------------------------------------------------------------------

    def add_dataset(
        self,
        *,
        name: str,
        sha256: str,
        source_path: str,
        seed: int,
        vocab: Sequence[str],
        splits: dict[str, Sequence[str]],
        n_duplicates: int,
    ) -> tuple[DatasetRecord, bool]:
        """Record a dataset and its words; ``(record, created)``. Datasets are immutable:
        the same content and seed under the same name is a no-op, anything else under an
        existing name is refused."""
        for attempt in (1, 2):
            try:
                with self._tx(write=True) as s:
                    row = s.scalar(select(Dataset).where(Dataset.name == name))
                    if row is not None:
                        if row.sha256 != sha256 or row.seed != seed:
                            raise ConflictError(
                                f"dataset {name!r} already exists with other content or seed "
                                f"(sha256 {row.sha256[:12]}, seed {row.seed}); datasets are "
                                "immutable, choose another --name"
                            )
                        return _dataset(row), False
                    row = Dataset(
                        name=name,
                        sha256=sha256,
                        source_path=source_path,
                        seed=seed,
                        vocab=json.dumps(list(vocab), ensure_ascii=False),
                        n_words=sum(len(w) for w in splits.values()),
                        n_train=len(splits["train"]),
                        n_dev=len(splits["dev"]),
                        n_test=len(splits["test"]),
                        n_duplicates=n_duplicates,
                        created_at=utcnow(),
                    )
                    s.add(row)
                    s.flush()
                    rows: list[dict[str, Any]] = []
                    position = 0
                    for split in ("train", "dev", "test"):
                        for w in splits[split]:
                            rows.append(
                                {
                                    "dataset_id": row.id,
                                    "position": position,
                                    "split": split,
                                    "word": w,
                                }
                            )
                            position += 1
                    for i in range(0, len(rows), 50_000):
                        s.execute(insert(Word), rows[i : i + 50_000])
                    return _dataset(row), True
            except exc.IntegrityError:
                if attempt == 2:  # pragma: no cover - only a pathological race
                    raise
                # Another process created the same name between our read and write.
        raise AssertionError("unreachable")

    def dataset(self, name: str) -> DatasetRecord:
        with self._tx() as s:
            row = s.scalar(select(Dataset).where(Dataset.name == name))
            if row is None:
                known = s.scalars(select(Dataset.name).order_by(Dataset.id)).all()
                hint = (
                    f"known: {', '.join(known)}" if known else "prepare one with `ngramlm prepare`"
                )
                raise NotFoundError(f"no dataset named {name!r} in {self.where}; {hint}")
            return _dataset(row)

    def dataset_by_id(self, dataset_id: int) -> DatasetRecord:
        with self._tx() as s:
            row = s.get(Dataset, dataset_id)
            if row is None:
                raise NotFoundError(f"no dataset with id {dataset_id} in {self.where}")
            return _dataset(row)

    def has_dataset(self, name: str) -> bool:
        with self._tx() as s:
            return s.scalar(select(Dataset.id).where(Dataset.name == name)) is not None

    def datasets(self) -> list[DatasetRecord]:
        with self._tx() as s:
            return [_dataset(r) for r in s.scalars(select(Dataset).order_by(Dataset.id))]

    def words(self, dataset_id: int, split: str) -> list[str]:
        """The train or dev words in split order. The test split is not served here:
        only ``ngramlm.finalize`` reads it, through ``finalize_with_test_words``."""
        if split not in ("train", "dev"):
            raise ValueError(f"words() serves train and dev only, not {split!r}")
        return self._split_words(dataset_id, split)

    def _split_words(self, dataset_id: int, split: str) -> list[str]:
        with self._tx() as s:
            q = (
                select(Word.word)
                .where(Word.dataset_id == dataset_id, Word.split == split)
                .order_by(Word.position)
            )
            return list(s.scalars(q))

    # --- runs --------------------------------------------------------------------------

    def create_run(
        self,
        *,
        dataset_id: int,
        kind: str,
        name: str | None,
        preset: str | None,
        config: dict[str, Any],
        config_hash: str,
        device: str,
        host: str,
        pid: int,
        version: str,
    ) -> RunRecord:
        with self._tx(write=True) as s:
            row = _new_run(
                dataset_id=dataset_id,
                kind=kind,
                name=name,
                preset=preset,
                config=config,
                config_hash=config_hash,
                device=device,
                host=host,
                pid=pid,
                version=version,
            )
            s.add(row)
            s.flush()
            return self._run_record(s, row)

    # --- sweeps ------------------------------------------------------------------------

    def create_sweep(
        self,
        *,
        dataset_id: int,
        name: str | None,
        spec: dict[str, Any],
        points: Sequence[tuple[dict[str, Any], str, str]],
    ) -> SweepRecord:
        """Record a sweep and all its points (config, config hash, group key) at once,
        before any training starts."""
        with self._tx(write=True) as s:
            sweep = Sweep(
                dataset_id=dataset_id,
                name=name,
                spec=json.dumps(spec, sort_keys=True),
                n_points=len(points),
                created_at=utcnow(),
            )
            s.add(sweep)
            s.flush()
            s.execute(
                insert(SweepPoint),
                [
                    {
                        "sweep_id": sweep.id,
                        "idx": i,
                        "config": json.dumps(cfg, sort_keys=True),
                        "config_hash": h,
                        "group_key": g,
                    }
                    for i, (cfg, h, g) in enumerate(points)
                ],
            )
            return self._sweep_record(s, sweep)

    def sweep(self, sweep_id: int) -> SweepRecord:
        with self._tx() as s:
            row = s.get(Sweep, sweep_id)
            if row is None:
                raise NotFoundError(
                    f"no sweep {sweep_id} in {self.where}; `ngramlm report` lists the sweeps"
                )
            return self._sweep_record(s, row)

    def sweeps(self) -> list[SweepRecord]:
        with self._tx() as s:
            return [self._sweep_record(s, r) for r in s.scalars(select(Sweep).order_by(Sweep.id))]

    def points(self, sweep_id: int) -> list[PointRecord]:
        with self._tx() as s:
            q = select(SweepPoint).where(SweepPoint.sweep_id == sweep_id).order_by(SweepPoint.idx)
            return [_point(p) for p in s.scalars(q)]

    def sweep_runs(self, sweep_id: int) -> list[RunRecord]:
        with self._tx() as s:
            q = (
                select(Run, Dataset.name)
                .join(Dataset, Run.dataset_id == Dataset.id)
                .where(Run.sweep_id == sweep_id)
                .order_by(Run.id)
            )
            return [_run(row, ds) for row, ds in s.execute(q)]

    def claim_points(
        self,
        sweep_id: int,
        *,
        limit: int,
        batchable: set[str] | frozenset[str] = frozenset(),
        device: str,
        host: str,
        pid: int,
        version: str,
    ) -> list[tuple[PointRecord, RunRecord]]:
        """Atomically claim up to ``limit`` open points of one group (the lowest open point
        and others of the same shape, when its group is ``batchable``) and create their
        runs, in one transaction. Rows that
        another worker holds are skipped (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite:
        writers are serialised by BEGIN IMMEDIATE)."""
        with self._tx(write=True) as s:
            sweep = s.get(Sweep, sweep_id)
            if sweep is None:
                raise NotFoundError(f"no sweep {sweep_id} in {self.where}")
            open_q = (
                select(SweepPoint)
                .where(SweepPoint.sweep_id == sweep_id, SweepPoint.run_id.is_(None))
                .order_by(SweepPoint.idx)
                .with_for_update(skip_locked=True)
            )
            first = s.scalars(open_q.limit(1)).first()
            if first is None:
                return []
            rows = [first]
            if limit > 1 and first.group_key in batchable:
                rows += s.scalars(
                    open_q.where(
                        SweepPoint.group_key == first.group_key, SweepPoint.id != first.id
                    ).limit(limit - 1)
                ).all()
            now = utcnow()
            claimed = []
            for p in rows:
                run = _new_run(
                    dataset_id=sweep.dataset_id,
                    kind="train",
                    name=sweep.name,
                    preset=None,
                    config=json.loads(p.config),
                    config_hash=p.config_hash,
                    device=device,
                    host=host,
                    pid=pid,
                    version=version,
                )
                run.sweep_id = sweep_id
                s.add(run)
                s.flush()
                p.run_id, p.claimed_at = run.id, now
                claimed.append((_point(p), self._run_record(s, run)))
            return claimed

    def resumable_sweep_runs(self, sweep_id: int) -> list[RunRecord]:
        """The sweep's killed and crashed runs: ``--resume`` continues them."""
        return [r for r in self.sweep_runs(sweep_id) if r.status in ("killed", "crashed")]

    def _sweep_record(self, s: Session, row: Sweep) -> SweepRecord:
        ds = s.scalar(select(Dataset.name).where(Dataset.id == row.dataset_id)) or "?"
        return SweepRecord(
            row.id, row.dataset_id, ds, row.name, json.loads(row.spec), row.n_points, row.created_at
        )

    def run(self, run_id: int) -> RunRecord:
        with self._tx() as s:
            row = s.get(Run, run_id)
            if row is None:
                raise NotFoundError(
                    f"no run {run_id} in {self.where}; `ngramlm report` lists the runs"
                )
            return self._run_record(s, row)

    def runs(
        self,
        *,
        dataset_id: int | None = None,
        kind: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        # Plain column rows, not ORM objects, labelled as the record's fields: a report
        # over 10,000 runs must stay well under a second.
        cols = [c.label(_RENAMED.get(c.name, c.name)) for c in Run.__table__.c]
        with self._tx() as s:
            q = select(*cols, Dataset.name.label("dataset")).join(
                Dataset, Run.dataset_id == Dataset.id
            )
            if dataset_id is not None:
                q = q.where(Run.dataset_id == dataset_id)
            if kind is not None:
                q = q.where(Run.kind == kind)
            q = q.order_by(Run.id.desc())
            if limit is not None:
                q = q.limit(limit)
            result = s.execute(q)
            keys = list(result.keys())
            records = []
            for row in result:
                d = dict(zip(keys, row, strict=True))
                d["extra"] = loads(d["extra"])
                records.append(RunRecord(**d))
            return records

    def heartbeat(self, run_id: int, steps_done: int) -> None:
        with self._tx(write=True) as s:
            s.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(heartbeat_at=utcnow(), steps_done=steps_done)
            )

    def add_metrics(self, run_id: int, rows: Sequence[MetricRecord], steps_done: int) -> None:
        """Write a batch of curve points and beat the heart, in one transaction."""
        with self._tx(write=True) as s:
            if rows:
                s.execute(
                    insert(Metric),
                    [
                        {
                            "run_id": run_id,
                            "step": r.step,
                            "elapsed_s": r.elapsed_s,
                            "lr": r.lr,
                            "batch_loss": r.batch_loss,
                            "train_loss": r.train_loss,
                            "dev_loss": r.dev_loss,
                        }
                        for r in rows
                    ],
                )
            s.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(heartbeat_at=utcnow(), steps_done=steps_done)
            )

    def metrics(self, run_id: int) -> list[MetricRecord]:
        with self._tx() as s:
            q = select(Metric).where(Metric.run_id == run_id).order_by(Metric.step)
            return [
                MetricRecord(m.step, m.elapsed_s, m.lr, m.batch_loss, m.train_loss, m.dev_loss)
                for m in s.scalars(q)
            ]

    def save_checkpoint(self, run_id: int, step: int, sha256: str, data: bytes) -> None:
        """Keep the run's latest checkpoint (replacing the one before)."""
        with self._tx(write=True) as s:
            s.execute(delete(Checkpoint).where(Checkpoint.run_id == run_id))
            s.add(
                Checkpoint(run_id=run_id, step=step, sha256=sha256, data=data, created_at=utcnow())
            )
            s.execute(update(Run).where(Run.id == run_id).values(heartbeat_at=utcnow()))

    def checkpoint(self, run_id: int) -> CheckpointRecord | None:
        with self._tx() as s:
            c = s.get(Checkpoint, run_id)
            if c is None:
                return None
            return CheckpointRecord(c.run_id, c.step, c.sha256, c.data, c.created_at)

    def finish_run(
        self,
        run_id: int,
        *,
        steps_done: int,
        train_loss: float | None,
        dev_loss: float | None,
        train_seconds: float,
        checkpoint_sha256: str | None,
        extra: dict[str, Any] | None = None,
    ) -> RunRecord:
        with self._tx(write=True) as s:
            now = utcnow()
            s.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(
                    status="finished",
                    ended_at=now,
                    heartbeat_at=now,
                    steps_done=steps_done,
                    train_loss=train_loss,
                    dev_loss=dev_loss,
                    train_seconds=train_seconds,
                    checkpoint_sha256=checkpoint_sha256,
                    extra=json.dumps(extra) if extra else None,
                    error=None,
                )
            )
            return self._run_record(s, s.get_one(Run, run_id))

    def end_run(
        self,
        run_id: int,
        *,
        status: str,
        error: str | None,
        steps_done: int,
        train_seconds: float | None = None,
    ) -> RunRecord:
        """Mark a run ``failed`` (with its error) or ``killed``."""
        assert status in ("failed", "killed")
        with self._tx(write=True) as s:
            now = utcnow()
            s.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(
                    status=status,
                    ended_at=now,
                    heartbeat_at=now,
                    error=error,
                    steps_done=steps_done,
                    train_seconds=train_seconds,
                )
            )
            return self._run_record(s, s.get_one(Run, run_id))

    def claim_for_resume(self, run_id: int, *, host: str, pid: int) -> tuple[RunRecord, int]:
        """Atomically take a killed, failed or crashed run back to ``running``; drop the
        curve points after its last checkpoint (they will be recomputed identically).
        Returns the run and the checkpoint step it resumes from (0 without a checkpoint)."""
        with self._tx(write=True) as s:
            row = s.get(Run, run_id)
            if row is None:
                raise NotFoundError(f"no run {run_id} in {self.where}")
            record = self._run_record(s, row)
            if record.status not in ("killed", "failed", "crashed"):
                raise ConflictError(
                    f"run {run_id} is {record.status}; only killed, failed or crashed runs resume"
                )
            if record.kind != "train":
                raise InputError(f"run {run_id} is an {record.kind} run; only training runs resume")
            stale = utcnow() - timedelta(seconds=STALE_AFTER_S)
            # No checkpoint yet: the run starts again from step 0 (same seed, same numbers).
            ckpt_step = s.scalar(select(Checkpoint.step).where(Checkpoint.run_id == run_id)) or 0
            now = utcnow()
            claimed = s.execute(
                update(Run)
                .where(
                    Run.id == run_id,
                    (Run.status.in_(("killed", "failed")))
                    | ((Run.status == "running") & (Run.heartbeat_at < stale)),
                )
                .values(
                    status="running",
                    heartbeat_at=now,
                    ended_at=None,
                    error=None,
                    host=host,
                    pid=pid,
                    steps_done=ckpt_step,
                )
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                raise ConflictError(f"run {run_id} was resumed by another process just now")
            s.execute(delete(Metric).where(Metric.run_id == run_id, Metric.step > ckpt_step))
            s.refresh(row)
            return self._run_record(s, row), ckpt_step

    # --- the locked test split ----------------------------------------------------------

    def evaluation(self, run_id: int) -> EvaluationRecord | None:
        with self._tx() as s:
            e = s.scalar(select(Evaluation).where(Evaluation.run_id == run_id))
            return _evaluation(e) if e is not None else None

    def evaluations(self) -> dict[int, EvaluationRecord]:
        with self._tx() as s:
            return {e.run_id: _evaluation(e) for e in s.scalars(select(Evaluation))}

    def test_evaluations_spent(self) -> dict[str, int]:
        """How many test evaluations each dataset has had."""
        with self._tx() as s:
            q = (
                select(Dataset.name, func.count(Evaluation.id))
                .select_from(Dataset)
                .outerjoin(Run, Run.dataset_id == Dataset.id)
                .outerjoin(Evaluation, Evaluation.run_id == Run.id)
                .group_by(Dataset.name)
                .order_by(Dataset.name)
            )
            return {name: int(n) for name, n in s.execute(q)}

    def finalize_with_test_words(
        self,
        run_id: int,
        *,
        host: str,
        evaluate: Callable[[RunRecord, CheckpointRecord, list[str]], tuple[float, int]],
    ) -> tuple[EvaluationRecord, bool]:
        """Evaluate a run on the locked test split at most once, ever.

        Under the run's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR
        UPDATE on the run), an existing evaluation is returned as is (``created`` False);
        otherwise the test words are loaded, handed to ``evaluate`` and its result recorded.
        Only ngramlm/finalize.py calls this (a test checks)."""
        with self._tx(write=True) as s:
            row = s.scalar(select(Run).where(Run.id == run_id).with_for_update())
            if row is None:
                raise NotFoundError(f"no run {run_id} in {self.where}")
            existing = s.scalar(select(Evaluation).where(Evaluation.run_id == run_id))
            if existing is not None:
                return _evaluation(existing), False
            c = s.get(Checkpoint, run_id)
            if c is None:
                raise NotFoundError(f"run {run_id} has no checkpoint to evaluate")
            ckpt = CheckpointRecord(c.run_id, c.step, c.sha256, c.data, c.created_at)
            words = list(
                s.scalars(
                    select(Word.word)
                    .where(Word.dataset_id == row.dataset_id, Word.split == "test")
                    .order_by(Word.position)
                )
            )
            loss, n = evaluate(self._run_record(s, row), ckpt, words)
            e = Evaluation(
                run_id=run_id,
                test_loss=loss,
                n_examples=n,
                checkpoint_sha256=ckpt.sha256,
                created_at=utcnow(),
                host=host,
            )
            s.add(e)
            s.flush()
            return _evaluation(e), True

    def count_runs(self) -> int:
        with self._tx() as s:
            return int(s.scalar(select(func.count(Run.id))) or 0)

    def _run_record(self, s: Session, row: Run) -> RunRecord:
        ds = s.scalar(select(Dataset.name).where(Dataset.id == row.dataset_id))
        return _run(row, ds or "?")


# --- row -> record ---------------------------------------------------------------------


def _new_run(
    *,
    dataset_id: int,
    kind: str,
    name: str | None,
    preset: str | None,
    config: dict[str, Any],
    config_hash: str,
    device: str,
    host: str,
    pid: int,
    version: str,
) -> Run:
    now = utcnow()
    m, t = config["model"], config["train"]
    return Run(
        dataset_id=dataset_id,
        kind=kind,
        name=name,
        status="running",
        preset=preset,
        config=json.dumps(config, sort_keys=True),
        config_hash=config_hash,
        seed=t["seed"],
        block_size=m["block_size"],
        n_embd=m["n_embd"],
        n_hidden=m["n_hidden"],
        n_layers=m["n_layers"],
        batch_size=t["batch_size"],
        steps=t["steps"],
        optimizer=t["optimizer"],
        lr=t["lr"],
        device=device,
        created_at=now,
        started_at=now,
        heartbeat_at=now,
        steps_done=0,
        host=host,
        pid=pid,
        version=version,
    )


def _evaluation(e: Evaluation) -> EvaluationRecord:
    return EvaluationRecord(
        e.run_id, e.test_loss, e.n_examples, e.checkpoint_sha256, e.created_at, e.host
    )


def _point(p: SweepPoint) -> PointRecord:
    return PointRecord(
        p.id, p.sweep_id, p.idx, json.loads(p.config), p.config_hash, p.group_key, p.run_id
    )


def _dataset(r: Dataset) -> DatasetRecord:
    return DatasetRecord(
        id=r.id,
        name=r.name,
        sha256=r.sha256,
        source_path=r.source_path,
        seed=r.seed,
        vocab=tuple(json.loads(r.vocab)),
        n_words=r.n_words,
        n_train=r.n_train,
        n_dev=r.n_dev,
        n_test=r.n_test,
        n_duplicates=r.n_duplicates,
        created_at=r.created_at,
    )


def _run(r: Run | Any, dataset: str) -> RunRecord:
    """A record from an ORM row or a Core row of the runs table (same attribute names)."""
    return RunRecord(
        id=r.id,
        dataset_id=r.dataset_id,
        dataset=dataset,
        kind=r.kind,
        name=r.name,
        stored_status=r.status,
        preset=r.preset,
        config_json=r.config,
        config_hash=r.config_hash,
        seed=r.seed,
        created_at=r.created_at,
        started_at=r.started_at,
        ended_at=r.ended_at,
        heartbeat_at=r.heartbeat_at,
        steps_done=r.steps_done,
        train_seconds=r.train_seconds,
        train_loss=r.train_loss,
        dev_loss=r.dev_loss,
        checkpoint_sha256=r.checkpoint_sha256,
        extra=loads(r.extra),
        host=r.host,
        pid=r.pid,
        version=r.version,
        device=r.device,
        error=r.error,
        sweep_id=r.sweep_id,
        block_size=r.block_size,
        n_embd=r.n_embd,
        n_hidden=r.n_hidden,
        n_layers=r.n_layers,
        batch_size=r.batch_size,
        optimizer=r.optimizer,
        steps=r.steps,
        lr=r.lr,
    )


_RENAMED = {"status": "stored_status", "config": "config_json"}
