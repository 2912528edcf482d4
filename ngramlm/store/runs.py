"""Runs: creation, curves, heartbeats, checkpoints, outcomes, resume."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, false, func, insert, select, update
from sqlalchemy.orm import Session

from ngramlm.blob import Blob
from ngramlm.errors import ClaimedError, InputError, NotFoundError, StoreError
from ngramlm.store.base import StoreBase
from ngramlm.store.checks import check_losses, check_metrics
from ngramlm.store.connection import utcnow
from ngramlm.store.convert import RENAMED, new_run_row, run_record_from
from ngramlm.store.records import (
    HEARTBEAT_S,
    STALE_AFTER_S,
    CheckpointRecord,
    MetricRecord,
    NewRun,
    RunRecord,
)
from ngramlm.store.tables import (
    Checkpoint,
    CheckpointPart,
    Dataset,
    Metric,
    Run,
)

# A checkpoint is kept in parts of at most this many bytes (rows of checkpoint_parts): well
# under the longest value SQLite (SQLITE_MAX_LENGTH, 1e9 bytes) and PostgreSQL (bytea,
# 1 GB) hold; they are written one at a time, views of the tensors' memory (ngramlm.blob).
PART_BYTES = 256 * 2**20
ENDED = ("finished", "failed", "killed", "pruned")  # the statuses end_run writes


class RunsMixin(StoreBase):
    # --- runs --------------------------------------------------------------------------

    def create_run(self, new: NewRun) -> RunRecord:
        """Write ``new`` as a ``running`` run."""
        with self._tx(write=True) as s:
            row = new_run_row(new)
            s.add(row)
            s.flush()
            return self._run_record(s, row)

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
        cols = [c.label(RENAMED.get(c.name, c.name)) for c in Run.__table__.c]
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
                records.append(run_record_from(d, d.pop("dataset")))
            return records

    def add_metrics(self, run_id: int, rows: Sequence[MetricRecord], steps_done: int) -> None:
        """Write a batch of curve points and beat the heart, in one transaction."""
        check_metrics(run_id, rows)
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

    def heartbeat(self, run_ids: Sequence[int], *, host: str, pid: int) -> int:
        """Beat the hearts of the running runs that ``host``/``pid`` owns, in one short
        transaction; returns how many it still owns (a run taken over by a ``--resume``
        after this process stalled past the stale bound is no longer its own)."""
        with self._tx(write=True) as s:
            beat = s.execute(
                update(Run)
                .where(
                    Run.id.in_(list(run_ids)),
                    Run.status == "running",
                    Run.host == host,
                    Run.pid == pid,
                )
                .values(heartbeat_at=utcnow())
            )
            return int(beat.rowcount)  # type: ignore[attr-defined]

    def metrics(self, run_id: int, *, after: int | None = None) -> list[MetricRecord]:
        """The run's curve points by step; ``after``: only those past that step."""
        with self._tx() as s:
            q = select(Metric).where(Metric.run_id == run_id).order_by(Metric.step)
            if after is not None:
                q = q.where(Metric.step > after)
            return [_metric(m) for m in s.scalars(q)]

    def last_evaluations(self, run_ids: Sequence[int]) -> dict[int, MetricRecord]:
        """Each run's last curve point with both train and dev loss (a run without one
        is left out): what a run that did not finish had reached. One query per 500 runs."""
        ids, out = list(run_ids), {}
        with self._tx() as s:
            for i in range(0, len(ids), 500):
                both = (Metric.run_id.in_(ids[i : i + 500]), Metric.train_loss.is_not(None),
                        Metric.dev_loss.is_not(None))  # fmt: skip
                last = (select(Metric.run_id, func.max(Metric.step).label("step"))
                        .where(*both).group_by(Metric.run_id).subquery())  # fmt: skip
                q = select(Metric).join(
                    last, (Metric.run_id == last.c.run_id) & (Metric.step == last.c.step)
                )
                out.update({m.run_id: _metric(m) for m in s.scalars(q)})
        return out

    def save_checkpoint(
        self, run_id: int, step: int, blob: Blob, *, part_bytes: int = PART_BYTES
    ) -> None:
        """Keep the run's latest checkpoint, replacing the one before with all its parts
        in one transaction (a reader sees the old checkpoint or the new one, never a mix).
        The parts are written one at a time from the blob's memory."""
        with self._tx(write=True) as s:
            s.execute(delete(CheckpointPart).where(CheckpointPart.run_id == run_id))
            s.execute(delete(Checkpoint).where(Checkpoint.run_id == run_id))
            s.execute(
                insert(Checkpoint),
                {
                    "run_id": run_id,
                    "step": step,
                    "sha256": blob.sha256,
                    "size": blob.size,
                    "parts": blob.part_count(part_bytes),
                    "created_at": utcnow(),
                },
            )
            for i, part in enumerate(blob.parts(part_bytes)):
                s.execute(insert(CheckpointPart), {"run_id": run_id, "part": i, "data": part})
            s.execute(update(Run).where(Run.id == run_id).values(heartbeat_at=utcnow()))

    def checkpoint(self, run_id: int) -> CheckpointRecord | None:
        with self._tx() as s:
            c = s.get(Checkpoint, run_id)
            return None if c is None else checkpoint_record(s, c, self.where)

    def end_run(
        self,
        run_id: int,
        *,
        status: str,
        steps_done: int,
        train_seconds: float | None = None,
        error: str | None = None,
        train_loss: float | None = None,
        dev_loss: float | None = None,
        checkpoint_sha256: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> RunRecord:
        """End a run: ``finished``, with its losses, its final checkpoint's sha256 and
        ``extra`` (an error from an earlier attempt cleared); or ``failed`` (with its
        error), ``killed``, or ``pruned`` (a search's trial stopped at a rung by successive
        halving; it is not resumed or finalized), whose losses, checkpoint and extra are
        left as they were."""
        assert status in ENDED
        values: dict[str, Any] = {
            "status": status,
            "steps_done": steps_done,
            "train_seconds": train_seconds,
            "error": error,
        }
        if status == "finished":
            assert error is None
            check_losses(run_id, train_loss=train_loss, dev_loss=dev_loss)
            values.update(
                train_loss=train_loss,
                dev_loss=dev_loss,
                checkpoint_sha256=checkpoint_sha256,
                extra=json.dumps(extra) if extra else None,
            )
        else:
            assert (train_loss, dev_loss, checkpoint_sha256, extra) == (None, None, None, None)
        with self._tx(write=True) as s:
            now = utcnow()
            s.execute(
                update(Run).where(Run.id == run_id).values(ended_at=now, heartbeat_at=now, **values)
            )
            return self._run_record(s, s.get_one(Run, run_id))

    def claim_for_resume(
        self,
        run_id: int,
        *,
        host: str,
        pid: int,
        exited: Callable[[str, int], bool] | None = None,
        alive: Callable[[RunRecord], bool] | None = None,
        threads: int | None = None,
    ) -> tuple[RunRecord, int]:
        """Atomically take a killed, failed or crashed run back to ``running`` (``threads``:
        its new owner's); drop the curve points after its last checkpoint (recomputed).
        Returns the run and the checkpoint step it resumes from (0 without a checkpoint).

        A ``running`` run has one owner and is refused, naming its host and pid, while
        ``alive(run)`` (the caller can see its host's processes) says its owner lives,
        however old its heartbeat; otherwise unless its heartbeat is stale, or
        ``exited(host, pid)`` says its owner is gone and it has missed two beats since: a
        process that died where it could not write its end (a full disk). The time this
        claim waited for the write lock is added to the stale bound: no owner could beat
        while it waited."""
        t0 = time.monotonic()
        with self._tx(write=True) as s:
            # the row locked on PostgreSQL, as SQLite's BEGIN IMMEDIATE locks the file
            row = s.get(Run, run_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"no run {run_id} in {self.where}")
            record = self._run_record(s, row)
            stale_s = STALE_AFTER_S + (time.monotonic() - t0)
            gone = _owner_gone(record, stale_s, exited, alive)
            if record.kind != "train":
                raise InputError(f"run {run_id} is an {record.kind} run; only training runs resume")
            stale = utcnow() - timedelta(seconds=stale_s)
            # No checkpoint yet: the run starts again from step 0 (same seed, same numbers).
            ckpt_step = s.scalar(select(Checkpoint.step).where(Checkpoint.run_id == run_id)) or 0
            now = utcnow()
            claimed = s.execute(
                update(Run)
                .where(
                    Run.id == run_id,
                    (Run.status.in_(("killed", "failed")))
                    | ((Run.status == "running") & (Run.heartbeat_at < stale))
                    | (  # the owner seen gone, if it is still the same one
                        (Run.status == "running")
                        & (Run.host == record.host)
                        & (Run.pid == record.pid)
                        & (Run.heartbeat_at == record.heartbeat_at)
                        if gone
                        else false()
                    ),
                )
                .values(
                    status="running",
                    heartbeat_at=now,
                    ended_at=None,
                    error=None,
                    host=host,
                    pid=pid,
                    steps_done=ckpt_step,
                    **({} if threads is None else {"threads": threads}),
                )
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                s.refresh(row)  # who took it (a write that committed after our read)
                raise ClaimedError(_owned(self._run_record(s, row), "was resumed just now and "))
            s.execute(delete(Metric).where(Metric.run_id == run_id, Metric.step > ckpt_step))
            s.refresh(row)
            return self._run_record(s, row), ckpt_step

    def count_runs(self, *, dataset_id: int | None = None) -> int:
        with self._tx() as s:
            q = select(func.count(Run.id))
            if dataset_id is not None:
                q = q.where(Run.dataset_id == dataset_id)
            return int(s.scalar(q) or 0)


def _metric(m: Metric) -> MetricRecord:
    return MetricRecord(m.step, m.elapsed_s, m.lr, m.batch_loss, m.train_loss, m.dev_loss)


READ_TRIES = 5  # re-reads of a checkpoint replaced while it was being read


def checkpoint_record(s: Session, c: Checkpoint, where: str) -> CheckpointRecord:
    """The checkpoint with its bytes: its parts read one at a time and joined (a
    checkpoint of one part is that part's value, no copy). Each part is its own
    statement, and PostgreSQL (read committed) may show a save committed between two of
    them; the header is read again after the parts, and a checkpoint replaced meanwhile
    is read again, so the bytes are always one save's (SQLite's read is one snapshot)."""
    for _ in range(READ_TRIES):
        head = (c.step, c.sha256, c.size, c.parts, c.created_at)
        data = _parts(s, c, where)
        if s.get_bind().dialect.name == "sqlite":
            return CheckpointRecord(c.run_id, c.step, c.sha256, data, c.created_at)
        s.expire(c)
        again = s.get(Checkpoint, c.run_id)
        if again is None:
            raise StoreError(f"run {c.run_id}'s checkpoint in {where} was deleted while read")
        if (again.step, again.sha256, again.size, again.parts, again.created_at) == head:
            return CheckpointRecord(c.run_id, c.step, c.sha256, data, c.created_at)
        c = again
    raise StoreError(
        f"run {c.run_id}'s checkpoint in {where} was replaced {READ_TRIES} times while it was "
        "read; try again when the run is between checkpoints"
    )


def _parts(s: Session, c: Checkpoint, where: str) -> bytes:
    """The parts joined (safetensors reads ``bytes`` only, so a checkpoint of several
    parts is held twice for a moment: its parts and the joined copy)."""
    parts = []
    for i in range(c.parts):
        part = s.scalar(
            select(CheckpointPart.data).where(
                CheckpointPart.run_id == c.run_id, CheckpointPart.part == i
            )
        )
        if part is None:
            raise StoreError(
                f"run {c.run_id}'s checkpoint in {where} lacks part {i + 1} of {c.parts}: the "
                "store was altered; retrain the run"
            )
        parts.append(part)
    data = parts[0] if len(parts) == 1 and isinstance(parts[0], bytes) else b"".join(parts)
    del parts
    if len(data) != c.size:
        raise StoreError(
            f"run {c.run_id}'s checkpoint in {where} is {len(data):,} bytes, not the "
            f"{c.size:,} recorded: the store was altered; retrain the run"
        )
    return data


def _owner_gone(
    record: RunRecord,
    stale_s: float,
    exited: Callable[[str, int], bool] | None,
    alive: Callable[[RunRecord], bool] | None,
) -> bool:
    """Refuse to claim ``record`` (a ``ClaimedError``) unless it is killed or failed, or
    ``running`` with an owner not seen alive and a heartbeat older than ``stale_s``, or
    with an owner seen exited that has missed two beats: then returns True (the claim
    must find the same owner still there)."""
    running = record.stored_status == "running"
    if running and alive is not None and alive(record):
        raise ClaimedError(_owned(record))
    beat = record.heartbeat_at or record.started_at or record.created_at
    age = (utcnow() - beat).total_seconds()
    gone = (
        running and age > 2 * HEARTBEAT_S and exited is not None and exited(record.host, record.pid)
    )
    if running and not gone and age <= stale_s:
        raise ClaimedError(_owned(record))
    if record.stored_status not in ("killed", "failed", "running"):
        raise ClaimedError(
            f"run {record.id} is {record.status}; only killed, failed or crashed runs resume"
        )
    return gone


def _owned(run: RunRecord, just_now: str = "") -> str:
    """The one line that refuses to resume a live run: who owns it."""
    beat = run.heartbeat_at or run.started_at or run.created_at
    ago = max(0.0, (utcnow() - beat).total_seconds())
    return (
        f"run {run.id} {just_now}is running on {run.host} (pid {run.pid}, heartbeat {ago:.0f}s "
        f"ago); it has one owner: wait for it, or stop that process (`kill {run.pid}` on "
        f"{run.host}) and resume it then"
    )
