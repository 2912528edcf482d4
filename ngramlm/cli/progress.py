"""Training progress on the terminal: a Rich bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import math

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

from ngramlm.cli.common import err_console
from ngramlm.stages.run import Progress as ProgressSink
from ngramlm.store.records import RunRecord
from ngramlm.training.loop import EvalPoint

PLAIN_EVERY_S = 10.0


class RichProgress(ProgressSink):
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.live = err_console.is_terminal and not quiet
        self.bar: Progress | None = None
        self.dev = float("nan")
        self.loss = float("nan")
        self.last_plain = -math.inf
        self.t_start = 0.0
        self.step0 = 0

    def start(self, run: RunRecord, total: int, initial: int) -> None:
        self.total, self.step0 = total, initial
        if self.quiet:
            return
        if self.live:
            self.bar = Progress(
                TextColumn(f"run {run.id}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  dev {task.fields[dev]:.4f}"),
                TextColumn("{task.fields[rate]:,.0f} steps/s"),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self.task = self.bar.add_task(
                "train", total=total, completed=initial, loss=self.loss, dev=self.dev, rate=0.0
            )
            self.bar.start()
        else:
            err_console.print(f"run {run.id}: training {total:,} steps", highlight=False)

    def update(self, step: int, batch_loss: float, elapsed_s: float) -> None:
        self.loss = batch_loss
        rate = (step - self.step0) / max(elapsed_s, 1e-9) if elapsed_s else 0.0
        if self.bar is not None:
            self.bar.update(self.task, completed=step, loss=batch_loss, dev=self.dev, rate=rate)
        elif not self.quiet and elapsed_s - self.last_plain >= PLAIN_EVERY_S:
            self.last_plain = elapsed_s
            left = (self.total - step) / rate if rate > 0 else float("nan")
            err_console.print(
                f"step {step:,}/{self.total:,}  loss {batch_loss:.4f}  dev {self.dev:.4f}  "
                f"{rate:,.0f} steps/s  {left:,.0f}s left",
                highlight=False,
            )

    def evaluated(self, point: EvalPoint) -> None:
        if point.dev_loss is not None:
            self.dev = point.dev_loss
        if self.bar is not None:
            self.bar.update(self.task, completed=point.step, dev=self.dev)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
