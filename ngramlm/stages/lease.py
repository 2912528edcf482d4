"""A run's hold on the store: writes retried within a bound, and the heartbeat.

One owner per live run: while a run is ``running`` its process beats its heart from a
timer thread (``Heartbeat``), in its own short transactions, whatever the main thread is
doing; ``resume`` takes a run over only when that heartbeat is stale
(``store.records.STALE_AFTER_S``) and its owner is not seen alive on this host
(``stages.run.owner_alive``), and refuses a live one, naming its host and pid.

Nothing waits behind a stalled write for longer than the bound: a write is retried for
at most ``RETRY_S``, each try waiting for another writer's lock only as long as is left,
and a heartbeat that cannot be written for ``HEARTBEAT_S + RETRY_S`` stops the run's
training (its state saved to a file, ``stages/hooks.py``'s rescue), well before a reader
may call the run crashed. docs/store.md says why this order holds on both back ends.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from ngramlm.errors import DiskFullError, StoreError
from ngramlm.store import Store
from ngramlm.store.connection import waiting_at_most
from ngramlm.store.records import HEARTBEAT_S, RETRY_S

T = TypeVar("T")

RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # the pauses between tries, cut at RETRY_S


def with_retries(write: Callable[[], T], stop: threading.Event | None = None) -> T:
    """Retry a store write with backoff for at most ``RETRY_S`` in all: each try waits
    for another writer's lock only as long as is left (``waiting_at_most``). The last
    failure propagates (at once when ``stop`` is set while it waits)."""
    deadline = time.monotonic() + RETRY_S
    for delay in (*RETRY_DELAYS_S, None):
        try:
            with waiting_at_most(deadline - time.monotonic()):
                return write()
        except DiskFullError:
            raise  # seconds will not free the disk
        except StoreError:
            left = deadline - time.monotonic()
            if delay is None or left <= 0:
                raise
            if stop is None:
                time.sleep(min(delay, left))
            elif stop.wait(min(delay, left)):
                raise
    raise AssertionError("unreachable: the last try returns or raises")


_beating: set[int] = set()  # the runs this process's Heartbeats beat now
_beating_lock = threading.Lock()


def beating(run_id: int) -> bool:
    """Whether this process trains run ``run_id`` now (a Heartbeat of its beats it)."""
    with _beating_lock:
        return run_id in _beating


class Heartbeat:
    """A daemon thread that beats the hearts of this process's running runs every
    ``HEARTBEAT_S`` in its own short transactions, whatever the main thread is doing:
    a step, an evaluation, a checkpoint or a count model's fit. A run is ``crashed``
    only when its heartbeat is older than ``STALE_AFTER_S``, so a live run is never
    shown as crashed nor taken over by ``--resume``.

    A beat waits for another writer's lock no longer than the run may go unbeaten
    (``HEARTBEAT_S + RETRY_S`` since the last beat). Past that bound (with no write of
    this process's own under way, which beats when it commits) it calls ``on_lost`` with
    the error and stops beating: the run stops its training and saves its state to a
    file (``StoreHooks.lose``), well before ``STALE_AFTER_S``.
    Use it as a context manager: it stops, and its thread is joined, when the run ends
    however it ends."""

    def __init__(
        self,
        store: Store,
        run_ids: Sequence[int],
        on_lost: Callable[[StoreError], None] | None = None,
    ) -> None:
        self.store, self.run_ids, self.on_lost = store, list(run_ids), on_lost
        self.host, self.pid = socket.gethostname(), os.getpid()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"heartbeat-{self.run_ids}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        with _beating_lock:
            _beating.update(self.run_ids)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        with _beating_lock:
            _beating.difference_update(self.run_ids)

    def _beat(self) -> None:
        last = time.monotonic()  # when a beat was last written
        pause = HEARTBEAT_S
        while not self._stop.wait(pause):
            bound = last + HEARTBEAT_S + RETRY_S
            try:
                with waiting_at_most(bound - time.monotonic()):
                    self.store.heartbeat(self.run_ids, host=self.host, pid=self.pid)
            except StoreError as exc:
                pause = min(HEARTBEAT_S, 1.0)  # try again soon, within the bound
                if time.monotonic() < bound or self.store.writing() or self.on_lost is None:
                    continue
                silent = time.monotonic() - last
                self.on_lost(StoreError(f"no heartbeat could be written for {silent:.0f}s: {exc}"))
                return
            last, pause = time.monotonic(), HEARTBEAT_S


def lost_run(store: Store, run_id: int, lost: StoreError, what: str) -> StoreError:
    """The one line of a run with nothing to save (a count, an lr-find) whose heartbeat
    could not be written within the bound: nothing of it is recorded but its end as
    ``failed``, if that can be written at once (else it reads ``crashed`` once its
    heartbeat is stale, and resumes once this process has exited). ``what``: what stopped
    and what to do, after the cause."""
    with contextlib.suppress(StoreError), waiting_at_most(HEARTBEAT_S):
        store.end_run(run_id, status="failed", error=str(lost), steps_done=0)
    return StoreError(f"run {run_id}: the store stayed unwritable ({lost}); {what}")
