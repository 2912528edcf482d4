"""A sweep run as its plan says (``stages/sweep.py``'s ``SweepPlan``, resolved once): in
this process (``workers=0``), or by local worker processes of their own
(``stages/worker.py``) that get the plan on their command line, Ctrl-C and SIGTERM
forwarded to them, watched until they end; a worker that dies has its points marked
crashed (resumable)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ngramlm.errors import StoreError, WorkersDied
from ngramlm.runtime import torch_threads
from ngramlm.stages.plan import SweepSetup
from ngramlm.stages.run import stop_on_signals
from ngramlm.stages.sweep import SweepPlan, SweepStatus, SweepWatch, plan, status, work
from ngramlm.store import Store
from ngramlm.store.records import SweepRecord

POLL_S = 0.5  # how often a sweep's progress is reported while workers run


def run(store: Store, db_url: str, plan: SweepPlan, watch: SweepWatch | None = None) -> SweepStatus:
    """Train the plan's points: in this process (``workers`` 0, with its threads set for
    the while and Ctrl-C stopping at the next step), else by its worker processes.
    Returns the sweep's status at the end; ``WorkersDied`` when any died."""
    watch = watch or SweepWatch()
    watch.started(plan)
    if plan.workers == 0:
        with (
            torch_threads(plan.threads),
            stop_on_signals() as stop,
            polling(store, plan.sweep.id, watch),
        ):
            work(store, plan.setup, resume=plan.resume, stop=stop, batch_size=plan.batch_size)
        final = status(store, plan.sweep.id)
        watch.poll(final)  # (its failed points, say)
        return final
    procs = start_workers(db_url, plan)
    with forward_signals(procs):
        return supervise(store, plan.sweep.id, procs, watch)


@contextmanager
def polling(
    store: Store, sweep_id: int, watch: SweepWatch, poll_s: float = POLL_S
) -> Iterator[None]:
    """While the block trains in this process, ``watch`` is told the sweep's status
    every ``poll_s`` from a daemon thread (a store that cannot be read just then is
    asked again at the next); the thread is joined when the block ends."""
    done = threading.Event()

    def poll() -> None:
        while not done.wait(poll_s):
            try:
                watch.poll(status(store, sweep_id))
            except StoreError:
                continue

    thread = threading.Thread(target=poll, name=f"sweep-{sweep_id}-poll", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@contextmanager
def forward_signals(procs: Sequence[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Ctrl-C and SIGTERM reach the sweep's workers as SIGTERM (each saves a checkpoint
    and marks its point killed); they are waited for however the block ends."""

    def forward(signum: int, frame: object) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    main = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for p in procs:
            if p.stdin is not None:
                p.stdin.close()  # a worker still running stops at its next step
            p.wait()


def start_workers(db_url: str, plan: SweepPlan) -> list[subprocess.Popen[bytes]]:
    """Worker processes of their own (``python -m ngramlm.stages.worker``): they never
    import the caller's ``__main__``, and each stops when this process dies (its stdin,
    a pipe from here, closes). Each gets the plan on its command line: the sweep, its
    threads, its batch size, the device and a search's deadline resolved here (the
    store's URL goes in the environment, never where ``ps`` shows it)."""

    # the ngramlm this process runs, whatever put it on sys.path
    here = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "NGRAMLM_DB": db_url, "PYTHONPATH": path}
    cmd = [sys.executable, "-m", "ngramlm.stages.worker", *worker_args(plan)]
    return [subprocess.Popen(cmd, stdin=subprocess.PIPE, env=env) for _ in range(plan.workers)]


def worker_args(plan: SweepPlan) -> list[str]:
    """A worker's command line (``stages/worker.py``'s options): the plan as resolved."""
    args = ["--sweep", str(plan.sweep.id), "--threads", str(plan.threads)]
    args += ["--batch-size", str(plan.batch_size), "--device", str(plan.setup.device)]
    args += ["--resume"] if plan.resume else []
    if plan.setup.deadline is not None:  # read once here: every worker shares one budget
        args += ["--deadline", repr(plan.setup.deadline)]
    return args


def _death(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def supervise(
    store: Store,
    sweep_id: int,
    procs: Sequence[subprocess.Popen[bytes]],
    watch: SweepWatch,
    poll_s: float = POLL_S,
) -> SweepStatus:
    """Wait for the workers. One that dies has its running points marked crashed at once
    (resumable); if any died, ``WorkersDied`` names the points left."""
    host = socket.gethostname()
    alive = list(procs)
    dead: list[str] = []
    crashed: list[int] = []
    while alive:
        watch.poll(status(store, sweep_id))
        for p in list(alive):
            code = p.poll()
            if code is None:
                continue
            alive.remove(p)
            if p.stdin is not None:
                p.stdin.close()
            if code != 0:
                why = f"worker {p.pid} {_death(code)}"
                dead.append(why)
                crashed += store.abandon_runs(sweep_id, host=host, pid=p.pid, error=why)
        if alive:
            time.sleep(poll_s)
    for p in procs:
        if p.stdin is not None:
            p.stdin.close()
    final = status(store, sweep_id)
    watch.poll(final)  # what the last worker did before it ended
    if dead:
        left = final.sweep.n_points - final.done
        runs = f" (run {', '.join(map(str, crashed))} crashed)" if crashed else ""
        raise WorkersDied(
            f"sweep {sweep_id}: {left} of {final.sweep.n_points} points left: "
            f"{'; '.join(dead)}{runs}; continue with `ngramlm sweep --resume {sweep_id}`"
        )
    return final


def launch(
    store: Store,
    db_url: str,
    setup: SweepSetup,
    *,
    workers: int | None,
    threads: int | None,
    watch: SweepWatch | None = None,
) -> SweepRecord:
    """A sweep just written (its setup resolved once), planned on that setup and
    trained: the device, the space and the dataset are not resolved again."""
    run(store, db_url, plan(store, setup, resume=False, workers=workers, threads=threads), watch)
    return store.sweep(setup.sweep.id)
