"""The runs page's table: ``report --json``'s rows (``Experiments.report_rows``), filtered,
sorted and cut into pages on the server, and exported whole as JSON or CSV.

The rows of a large store take a second to read (10,000 runs), so they are kept in
memory and read again only when the store's ``stamp`` changes (one cheap query, asked
at most once a second) or, while a run is running, every few seconds (a stale
heartbeat turns it crashed without any write). A small store is read again before the
answer; a large one answers from the rows it has while they are read again in the
background, so no page waits for the whole store."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ngramlm.api import KINDS, Experiments, display
from ngramlm.web.params import MAX_LIMIT, HttpError, Query, integer, number, one, shorten

FIELDS = display.FIELDS
# Columns filtered by equality (a choice from the values the store holds) ...
CHOICES = ("dataset", "model", "status", "kind", "optimizer", "precision")
# ... and by a range: ``COLUMN.min`` and ``COLUMN.max``, either end open.
NUMERIC = (
    "run", "sweep", "block_size", "n_embd", "n_hidden", "n_layers", "batch_size", "lr",
    "steps", "steps_done", "seed", "train_loss", "dev_loss", "gap", "test_loss", "seconds",
)  # fmt: skip
KNOWN = {"status": list(display.STATUSES), "kind": list(KINDS)}
PAGING = ("limit", "offset", "sort", "order", "best")
HP = "hp."  # a filter on a run's setting that is not a column: hp.dropout.min=0.1
STAMP_EVERY_S = 1.0  # the store's stamp is asked at most this often
RUNNING_EVERY_S = 5.0  # rows with a running run are read again at least this often
SYNC_BELOW_S = 0.25  # a store read faster than this is read again before answering


@dataclass(frozen=True)
class Snapshot:
    """Every run's report row, as read at ``stamp``; ``best``: each dataset's finished
    training run with the lowest dev loss."""

    rows: list[dict[str, Any]]
    stamp: str
    best: frozenset[int]
    perplexity: frozenset[str] = frozenset()  # the word datasets: losses shown as perplexity
    read_at: float = field(default_factory=time.monotonic)
    took_s: float = 0.0

    @property
    def running(self) -> bool:
        return any(r["status"] == "running" for r in self.rows)


def best_per_dataset(rows: list[dict[str, Any]]) -> frozenset[int]:
    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["kind"] != "train" or r["status"] != "finished" or r["dev_loss"] is None:
            continue
        held = best.get(r["dataset"])
        if held is None or (r["dev_loss"], r["run"]) < (held["dev_loss"], held["run"]):
            best[r["dataset"]] = r
    return frozenset(r["run"] for r in best.values())


@dataclass(frozen=True)
class Selection:
    """What a request asks of the table: equal values, ranges, the sort, only the best."""

    equal: dict[str, str]
    ranges: dict[str, tuple[float | None, float | None]]
    sort: str | None
    descending: bool
    best: bool

    @property
    def settings(self) -> list[str]:
        """The hyperparameters (``hp.KEY``) it filters on, which are not columns."""
        keys = [*self.equal, *self.ranges]
        return [k.removeprefix(HP) for k in keys if k.startswith(HP)]

    def keeps(
        self, row: dict[str, Any], best: frozenset[int], hyper: dict[int, dict[str, Any]]
    ) -> bool:
        if self.best and row["run"] not in best:
            return False
        mine = hyper.get(row["run"], {})

        def value(key: str) -> Any:
            return mine.get(key.removeprefix(HP)) if key.startswith(HP) else row[key]

        for key, want in self.equal.items():
            if str(value(key)) != want:
                return False
        for key, (lo, hi) in self.ranges.items():
            v = value(key)
            if not isinstance(v, int | float) or isinstance(v, bool):
                return False
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                return False
        return True


def selection(query: Query) -> Selection:
    """The filters and sort of a request; an unknown parameter or column is refused."""
    equal: dict[str, str] = {}
    ranges: dict[str, tuple[float | None, float | None]] = {}
    for key in query:
        if key in PAGING:
            continue
        column, _, end = key.rpartition(".")
        if key in CHOICES or (key.startswith(HP) and end not in ("min", "max")):
            value = one(query, key)
            if value:
                equal[key] = value
            continue
        if not (column in NUMERIC or column.startswith(HP)) or end not in ("min", "max"):
            raise HttpError(
                400,
                f"unknown filter {shorten(key)!r}: use {', '.join(CHOICES)}, COLUMN.min / "
                f"COLUMN.max of {', '.join(NUMERIC)}, or hp.SETTING (=VALUE, .min, .max)",
            )
        text = one(query, key)
        if not text:
            continue
        lo, hi = ranges.get(column, (None, None))
        bound = number(text, key)
        ranges[column] = (bound, hi) if end == "min" else (lo, bound)
    sort = one(query, "sort") or None
    if sort is not None and sort not in FIELDS:
        raise HttpError(400, f"sort must be a column of the table, got {shorten(sort)!r}")
    order = one(query, "order") or "asc"
    if order not in ("asc", "desc"):
        raise HttpError(400, f"order must be asc or desc, got {shorten(order)!r}")
    best = (one(query, "best") or "") in ("1", "true", "yes")
    return Selection(equal, ranges, sort, order == "desc", best)


def check_values(sel: Selection, rows: list[dict[str, Any]]) -> None:
    """A status or kind is one ``report`` knows; a dataset, model, optimizer or precision
    one the store's runs have (the page offers only those): anything else is refused."""
    for key, value in sel.equal.items():
        if key.startswith(HP):  # a setting: any value (one no run has selects none)
            continue
        known = KNOWN.get(key) or choices(rows, key)
        if value not in known:
            shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            raise HttpError(400, f"{key} {shorten(value)!r} is not one the runs have: {shown}")


def sort_rows(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Rows by one column, either way; a row without a value (None) always last."""
    present = [r for r in rows if r[key] is not None]
    absent = [r for r in rows if r[key] is None]
    present.sort(key=lambda r: (r[key], r["run"]), reverse=descending)
    return present + absent


class RunsTable:
    """The runs of one store as ``report`` rows, kept between requests (see the module)."""

    def __init__(self, exp: Experiments, clock: Callable[[], float] = time.monotonic) -> None:
        self.exp = exp
        self.clock = clock
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._stamp: tuple[float, str] | None = None
        self._reading = False
        self._hyper: dict[int, dict[str, Any]] = {}  # a run's settings never change

    def hyper(self, rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        """Each run's settings that are not columns of the table (dropout, weight decay,
        n_head, ...), as ``report RUN`` shows them; read once a run (a config is never
        rewritten), and only when a filter or the settings menu asks."""
        with self._lock:
            missing = {r["run"] for r in rows} - self._hyper.keys()
        if missing:
            found = {r.id: settings_of(r) for r in self.exp.runs() if r.id in missing}
            with self._lock:
                self._hyper.update(found)
        with self._lock:
            return dict(self._hyper)

    def settings(self) -> dict[str, Any]:
        """The settings a filter can name: numeric ones (ranges) and the values of the
        others (choices), over every run of the store."""
        numeric: set[str] = set()
        values: dict[str, set[str]] = {}
        for params in self.hyper(self.snapshot().rows).values():
            for k, v in params.items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    numeric.add(k)
                elif v is not None:
                    values.setdefault(k, set()).add(str(v))
        return {
            "numeric": sorted(numeric),
            "choices": {k: sorted(v) for k, v in sorted(values.items()) if k not in numeric},
        }

    def stamp(self) -> str:
        """The store's stamp, asked at most once every ``STAMP_EVERY_S``."""
        now = self.clock()
        held = self._stamp
        if held is not None and now - held[0] < STAMP_EVERY_S:
            return held[1]
        fresh = self.exp.stamp()
        self._stamp = (now, fresh)
        return fresh

    def read(self, stamp: str) -> Snapshot:
        t0 = time.perf_counter()
        rows = self.exp.report_rows()
        words = frozenset(d.name for d in self.exp.datasets() if d.unit == "word")
        took = time.perf_counter() - t0
        snap = Snapshot(rows, stamp, best_per_dataset(rows), words, self.clock(), took)
        with self._lock:
            if self._snapshot is None or self._snapshot.read_at <= snap.read_at:
                self._snapshot = snap
            self._reading = False
        return snap

    def snapshot(self) -> Snapshot:
        """The rows now, or as last read while a large store is read again."""
        stamp = self.stamp()
        with self._lock:
            snap = self._snapshot
            stale = (
                snap is None
                or snap.stamp != stamp
                or (snap.running and self.clock() - snap.read_at > RUNNING_EVERY_S)
            )
            if not stale:
                assert snap is not None
                return snap
            background = snap is not None and snap.took_s >= SYNC_BELOW_S
            if background and self._reading:
                assert snap is not None
                return snap
            self._reading = True
        if not background:
            try:
                return self.read(stamp)
            except BaseException:
                with self._lock:
                    self._reading = False
                raise
        threading.Thread(target=self._read_quietly, args=(stamp,), daemon=True).start()
        assert snap is not None
        return snap

    def _read_quietly(self, stamp: str) -> None:
        try:
            self.read(stamp)
        except Exception:  # the next request reads again, and says what failed
            with self._lock:
                self._reading = False

    def selected(self, query: Query) -> tuple[Snapshot, list[dict[str, Any]]]:
        """The rows a request selects, in its order (``report``'s when it gives no sort)."""
        sel = selection(query)
        snap = self.snapshot()
        check_values(sel, snap.rows)
        hyper = self.hyper(snap.rows) if sel.settings else {}
        if sel.settings:
            known = {k for params in hyper.values() for k in params}
            unknown = sorted(set(sel.settings) - known)
            if unknown:
                shown = ", ".join(sorted(known)[:20])
                raise HttpError(400, f"no run has the setting {shorten(unknown[0])!r}: {shown}")
        rows = [r for r in snap.rows if sel.keeps(r, snap.best, hyper)]
        if sel.sort is not None:
            rows = sort_rows(rows, sel.sort, sel.descending)
        return snap, rows

    def page(self, query: Query) -> dict[str, Any]:
        """A page of the table: ``limit`` rows (at most ``MAX_LIMIT``) from ``offset``."""
        limit = integer(query, "limit", 50, 1, MAX_LIMIT)
        offset = integer(query, "offset", 0, 0, 10**9)
        snap, rows = self.selected(query)
        shown = rows[offset : offset + limit]
        return {
            "rows": shown,
            "total": len(rows),
            "offset": offset,
            "limit": limit,
            "runs_in_store": len(snap.rows),
            "best": sorted(r["run"] for r in shown if r["run"] in snap.best),
            "choices": {key: choices(snap.rows, key) for key in CHOICES},
            "fields": list(FIELDS),
            "numeric": list(NUMERIC),
            "perplexity": sorted(snap.perplexity),
            "stamp": snap.stamp,
        }

    def export_json(self, query: Query) -> dict[str, Any]:
        """``report --json``'s document for the selected rows."""
        _, rows = self.selected(query)
        return {"runs": rows, "test_evaluations_spent": self.exp.test_evaluations_spent()}

    def export_csv(self, query: Query) -> str:
        """``report --csv``'s text for the selected rows."""
        _, rows = self.selected(query)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(FIELDS), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: display.visible(v) if isinstance(v, str) else v
                             for k, v in row.items()})  # fmt: skip
        return out.getvalue()


def settings_of(run: Any) -> dict[str, Any]:
    """A run's settings as ``report RUN`` shows them, less the table's columns."""
    return {k: v for k, v in display.shown_hyperparameters(run).items() if k not in FIELDS}


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Any other table of the dashboard as CSV: its rows' keys as columns, in the order
    they first appear; a list or a mapping in a cell as JSON text."""
    fields = list(dict.fromkeys(k for r in rows for k in r))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, list | dict) else v
                         for k, v in r.items()})  # fmt: skip
    return out.getvalue()


def choices(rows: list[dict[str, Any]], key: str) -> list[str]:
    """The values a column holds, for its filter's menu."""
    return sorted({str(r[key]) for r in rows if r[key] is not None})
