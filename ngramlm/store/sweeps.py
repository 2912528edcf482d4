"""Sweeps, their points, and the atomic claiming of points by workers."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from ngramlm.errors import NotFoundError
from ngramlm.store.base import StoreBase
from ngramlm.store.connection import utcnow
from ngramlm.store.convert import (
    new_run_row,
    point_record,
    run_record,
)
from ngramlm.store.records import (
    STALE_AFTER_S,
    MetricRecord,
    NewRun,
    PointRecord,
    RunRecord,
    SweepRecord,
)
from ngramlm.store.tables import (
    Dataset,
    Metric,
    Run,
    Sweep,
    SweepPoint,
)


class SweepsMixin(StoreBase):
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
            if not points:  # a search: its points are added as its trials start
                return self._sweep_record(s, sweep)
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
        """Every sweep and search, newest first."""
        with self._tx() as s:
            q = (
                select(Sweep, Dataset.name)
                .join(Dataset, Sweep.dataset_id == Dataset.id)
                .order_by(Sweep.id.desc())
            )
            return [
                SweepRecord(
                    w.id, w.dataset_id, ds, w.name, json.loads(w.spec), w.n_points, w.created_at
                )
                for w, ds in s.execute(q)
            ]

    def points(self, sweep_id: int) -> list[PointRecord]:
        with self._tx() as s:
            q = select(SweepPoint).where(SweepPoint.sweep_id == sweep_id).order_by(SweepPoint.idx)
            return [point_record(p) for p in s.scalars(q)]

    def sweep_runs(self, sweep_id: int) -> list[RunRecord]:
        with self._tx() as s:
            q = (
                select(Run, Dataset.name)
                .join(Dataset, Run.dataset_id == Dataset.id)
                .where(Run.sweep_id == sweep_id)
                .order_by(Run.id)
            )
            return [run_record(row, ds) for row, ds in s.execute(q)]

    def claim_points(
        self,
        sweep_id: int,
        *,
        limit: int,
        batchable: set[str] | frozenset[str] = frozenset(),
        run_of: Callable[[PointRecord], NewRun],
    ) -> list[tuple[PointRecord, RunRecord]]:
        """Atomically claim up to ``limit`` open points of one group (the lowest open point
        and others of the same shape, when its group is ``batchable``) and create their
        runs, in one transaction; ``run_of(point)`` is a point's new run (the stage's, which
        knows its plan). Rows that
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
                new = run_of(point_record(p))
                assert new.sweep_id == sweep_id and new.dataset_id == sweep.dataset_id
                run = new_run_row(new)
                s.add(run)
                s.flush()
                p.run_id, p.claimed_at = run.id, now
                claimed.append((point_record(p), self._run_record(s, run)))
            return claimed

    def add_point(
        self, new: NewRun, group_key: str, *, limit: int | None, until: float | None = None
    ) -> tuple[PointRecord, RunRecord] | str:
        """A search's trial: write a new point of sweep ``new.sweep_id`` (the new run's
        config and config hash, ``group_key``) and claim it with the new run in one
        transaction. The sweep's row is locked first, so workers add points one at a time;
        returns ``"duplicate"`` when the sweep, or any run of its dataset, has that config
        already (no configuration is trained twice on a dataset), ``"full"`` when it has
        ``limit`` points and ``"spent"`` when the run would start after ``until`` (a
        search's deadline, ``time.time()``)."""
        sweep_id, config, config_hash = new.sweep_id, new.config, new.config_hash
        assert sweep_id is not None
        with self._tx(write=True) as s:
            sweep = s.scalars(select(Sweep).where(Sweep.id == sweep_id).with_for_update()).first()
            if sweep is None:
                raise NotFoundError(f"no sweep {sweep_id} in {self.where}")
            n = s.scalar(select(func.count(SweepPoint.id)).where(SweepPoint.sweep_id == sweep_id))
            if limit is not None and (n or 0) >= limit:
                return "full"
            taken = s.scalar(
                select(SweepPoint.id).where(
                    SweepPoint.sweep_id == sweep_id, SweepPoint.config_hash == config_hash
                )
            )
            if taken is None:  # trained on the dataset already, by a run of any sweep or none
                taken = s.scalar(
                    select(Run.id)
                    .where(
                        Run.dataset_id == sweep.dataset_id,
                        Run.kind == "train",
                        Run.config_hash == config_hash,
                    )
                    .limit(1)
                )
            if taken is not None:
                return "duplicate"
            assert new.dataset_id == sweep.dataset_id
            run = new_run_row(new)
            if until is not None and run.started_at and run.started_at.timestamp() > until:
                return "spent"
            s.add(run)
            s.flush()
            p = SweepPoint(
                sweep_id=sweep_id,
                idx=n or 0,
                config=json.dumps(config, sort_keys=True),
                config_hash=config_hash,
                group_key=group_key,
                run_id=run.id,
                claimed_at=utcnow(),
            )
            s.add(p)
            sweep.n_points = (n or 0) + 1
            s.flush()
            return point_record(p), self._run_record(s, run)

    def sweep_curves(self, sweep_id: int) -> dict[int, list[MetricRecord]]:
        """Every curve of a sweep's runs, by run id, in one query."""
        with self._tx() as s:
            q = (
                select(Metric)
                .join(Run, Metric.run_id == Run.id)
                .where(Run.sweep_id == sweep_id)
                .order_by(Metric.run_id, Metric.step)
            )
            curves: dict[int, list[MetricRecord]] = {}
            for m in s.scalars(q):
                curves.setdefault(m.run_id, []).append(
                    MetricRecord(m.step, m.elapsed_s, m.lr, m.batch_loss, m.train_loss, m.dev_loss)
                )
            return curves

    def resumable_sweep_runs(self, sweep_id: int) -> list[RunRecord]:
        """The sweep's killed and crashed runs: ``--resume`` continues them."""
        return [r for r in self.sweep_runs(sweep_id) if r.status in ("killed", "crashed")]

    def abandon_runs(self, sweep_id: int, *, host: str, pid: int, error: str) -> list[int]:
        """The sweep's runs that a dead worker (``host``, ``pid``) left ``running``: their
        heartbeat is set back past ``STALE_AFTER_S``, so they read ``crashed`` at once
        and resume. Returns their ids."""
        with self._tx(write=True) as s:
            mine = (
                Run.sweep_id == sweep_id,
                Run.host == host,
                Run.pid == pid,
                Run.status == "running",
            )
            ids = list(s.scalars(select(Run.id).where(*mine).order_by(Run.id)))
            if ids:
                stale = utcnow() - timedelta(seconds=2 * STALE_AFTER_S)
                s.execute(update(Run).where(*mine).values(heartbeat_at=stale, error=error))
            return ids

    def _sweep_record(self, s: Session, row: Sweep) -> SweepRecord:
        ds = s.scalar(select(Dataset.name).where(Dataset.id == row.dataset_id)) or "?"
        return SweepRecord(
            row.id, row.dataset_id, ds, row.name, json.loads(row.spec), row.n_points, row.created_at
        )
