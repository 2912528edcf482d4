"""Training progress on the terminal: a Rich bar on a terminal, plain lines otherwise; and
a sweep's live table (``LiveSweep``).

The loop reports at least once a second (``training.schedule.PROGRESS_S``) and after every
chunk of an evaluation, so the bar moves on a slow word model and shows an evaluation
as its own state ("evaluating dev 12/40"). Without a terminal (a log file), a line at
most every ``PLAIN_EVERY_S``, plus one for the first and the last evaluation. A loss not
yet known is a dash, never ``nan``.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import Any

import torch
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from ngramlm.api import RunRecord
from ngramlm.api.progress import EvalPoint, SweepPlan, SweepStatus, SweepWatch
from ngramlm.api.progress import Progress as ProgressSink
from ngramlm.cli.common import console, err_console, safe
from ngramlm.measure import NATS, measure

PLAIN_EVERY_S = 15.0  # seconds between plain progress lines (a log stays readable)


def loss_text(value: float | None) -> str:
    """A loss for the progress line: four decimals, or a dash while it is unknown."""
    return "—" if value is None or not math.isfinite(value) else f"{value:.4f}"


class RichProgress(ProgressSink):
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.live = err_console.is_terminal and not quiet
        self.bar: Progress | None = None
        self.loss: float | None = None
        self.dev: float | None = None
        self.sampled = False  # the last dev loss is on the dev split's sample
        self.step = 0
        self.last_plain = -math.inf
        self.t_start = 0.0
        self.step0 = 0
        self.total = 0

    def start(self, run: RunRecord, total: int, initial: int) -> None:
        self.total, self.step0, self.step = total, initial, initial
        self.t_start = time.monotonic()
        threads = torch.get_num_threads()
        where = f"{threads} thread{'s' if threads != 1 else ''}"
        if self.quiet:
            return
        if self.live:
            self.bar = Progress(
                TextColumn(f"run {run.id} ({where})"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}  dev {task.fields[dev]}"),
                TextColumn("{task.fields[state]}"),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self.task = self.bar.add_task(
                "train", total=total, completed=initial, **self._fields("")
            )
            self.bar.start()
        else:
            self._plain(f"run {run.id}: training {total:,} steps on {where}", force=True)

    def _fields(self, state: str) -> dict[str, Any]:  # Rich task fields
        dev = loss_text(self.dev) + (" (sample)" if self.sampled and self.dev else "")
        return {"loss": loss_text(self.loss), "dev": dev, "state": state}

    def _rate(self) -> float:
        seconds = time.monotonic() - self.t_start
        return (self.step - self.step0) / seconds if seconds > 0 else 0.0

    def _plain(self, line: str, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_plain >= PLAIN_EVERY_S:
            self.last_plain = now
            err_console.print(line, highlight=False)

    def update(self, step: int, batch_loss: float, elapsed_s: float) -> None:
        self.loss, self.step = batch_loss, step
        rate = self._rate()
        if self.bar is not None:
            self.bar.update(self.task, completed=step, **self._fields(f"{rate:,.1f} steps/s"))
        elif not self.quiet:
            left = f"{(self.total - step) / rate:,.0f}s left" if rate > 0 else "— left"
            self._plain(
                f"step {step:,}/{self.total:,}  loss {loss_text(batch_loss)}  "
                f"dev {self._fields('')['dev']}  {rate:,.1f} steps/s  {left}"
            )

    def evaluating(self, split: str, done: int, total: int) -> None:
        state = f"evaluating {split} {done:,}/{total:,}"
        if self.bar is not None:
            self.bar.update(self.task, **self._fields(state))
        elif not self.quiet:
            self._plain(f"step {self.step:,}/{self.total:,}  {state} chunks")

    def evaluated(self, point: EvalPoint) -> None:
        self.step = point.step
        if point.dev_loss is not None:
            self.dev, self.sampled = point.dev_loss, point.sampled
        if self.bar is not None:
            self.bar.update(self.task, completed=point.step, **self._fields(""))
        elif not self.quiet:
            which = "samples" if point.sampled else "whole splits"
            if point.sample_sizes:  # a final evaluation past the size (FINAL_TRAIN)
                which = "; ".join(
                    f"{split} on a fixed sample of {k:,} of its {n:,} targets"
                    for split, k, n in point.sample_sizes
                )
            self._plain(
                f"step {point.step:,}/{self.total:,}  train {loss_text(point.train_loss)}  "
                f"dev {loss_text(point.dev_loss)} ({which})",
                force=point.step in (0, self.total),
            )

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


class LiveSweep(SweepWatch):
    """A sweep on the terminal: its header and plan once resolved, then a live table of
    its points while workers run (on a terminal, unless ``quiet``); elsewhere (a log
    file) a line for each point or trial as it ends (``sweep_view.trial_line``)."""

    ENDED = ("finished", "pruned", "killed")  # a failed one has its own line, as it fails

    def __init__(self, *, new: bool, quiet: bool, as_json: bool) -> None:
        self.new, self.quiet, self.as_json = new, quiet, as_json
        self.sweep_id: int | None = None
        self.deadline: float | None = None  # a search's budget end (time.time())
        self.since = datetime.now(timezone.utc)  # runs that ended before: not this session's
        self.live: Live | None = None
        self.failed: set[int] = set()  # failed points already reported
        self.ended: set[int] = set()  # ended points whose line is printed
        self.measure = NATS  # how losses read: a word dataset's with their perplexity

    def started(self, plan: SweepPlan) -> None:
        sw = plan.sweep
        self.sweep_id, self.deadline = sw.id, plan.setup.deadline
        self.measure = measure(plan.setup.dataset.unit)
        self.since = datetime.now(timezone.utc)
        if self.new and not self.as_json:
            if "search" in sw.spec:
                from ngramlm.cli.search import header

                console.print(header(sw.id, sw.dataset, sw.spec["search"]), highlight=False)
            else:
                console.print(f"sweep {sw.id}: {sw.n_points} points on {safe(sw.dataset)}")
        if not self.quiet:
            err_console.print(
                f"sweep {sw.id}: {safe(plan.describe())}", style="dim", highlight=False
            )
        if not self.quiet and err_console.is_terminal:
            self.live = Live(console=err_console, refresh_per_second=4, transient=True)
            self.live.start()

    def poll(self, status: SweepStatus) -> None:
        from ngramlm.cli.sweep_view import failure, live_table, trial_line

        if not self.as_json:  # a failed point's reason, once, as it fails
            for r in status.runs:
                if r.status == "failed" and r.id not in self.failed:
                    self.failed.add(r.id)
                    err_console.print(failure(r.id, r.error), highlight=False)
        if self.live is not None:
            self.live.update(live_table(status, self.deadline, self.measure))
        elif not self.quiet:
            for r in status.runs:
                if r.status in self.ENDED and r.id not in self.ended:
                    self.ended.add(r.id)
                    if r.ended_at is not None and r.ended_at >= self.since:
                        line = trial_line(status, r, self.deadline, self.measure)  # one line
                        err_console.print(line, highlight=False, soft_wrap=True)

    def note(self, line: str) -> None:
        if not self.as_json:
            console.print(safe(line), highlight=False)

    def __enter__(self) -> LiveSweep:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
