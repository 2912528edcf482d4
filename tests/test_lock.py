"""One owner, even behind a lock (issue 29, item 2): another process holds the store's
write lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``LOCK TABLE ... IN EXCLUSIVE
MODE``) for longer than the crash bound. The run is never shown ``crashed`` while it
trains, stops within the documented bound with one line, a resume issued meanwhile is
refused naming the live owner, and once the owner has exited the run resumes to the very
curve of an uninterrupted run (no step trained twice, no duplicate metric).

The bounds are made small (a beat of 0.1 s, retries for 1 s, crashed after 3 s) in this
process and in the training subprocess alike, so the test takes seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from ngramlm import open_store
from ngramlm.errors import ClaimedError, StoreError
from ngramlm.stages import hooks, lease
from ngramlm.stages.plan import Plan
from ngramlm.stages.run import new_run, resume_run
from ngramlm.store import Store, records, runs
from ngramlm.store.records import HEARTBEAT_S, RETRY_S, STALE_AFTER_S

from .conftest import REPO
from .helpers import curve, tiny_config, tiny_store, train_tiny

BEAT_S, RETRY_TEST_S, STALE_TEST_S = 0.1, 1.0, 3.0
HOLD_S = 5.0  # the lock is held longer than the crash bound
STEPS, EVAL_EVERY, LOCK_AT = 2000, 50, 500

# The bounds, set in a process (this one through monkeypatch, the trainer directly).
BOUNDS = [
    (module.__name__, name, value)
    for modules, name, value in [
        ((lease, hooks, records, runs), "HEARTBEAT_S", BEAT_S),
        ((lease,), "RETRY_S", RETRY_TEST_S),
        ((records, runs), "STALE_AFTER_S", STALE_TEST_S),
        ((hooks,), "FLUSH_S", 0.0),  # every evaluation writes its curve point at once
    ]
    for module in modules
]

# Trains the run in its own process: at step LOCK_AT it says "ready" and waits for the
# lock; then it goes on (its writes now wait on the lock) until it stops; it reports the
# one line on stderr, says "stopped" and lives on until its stdin closes.
TRAINER = f"""
import importlib, sys, time
from pathlib import Path
sys.path.insert(0, {str(REPO)!r})
from ngramlm.errors import NgramlmError
from ngramlm.stages.run import Progress
from ngramlm.store import Store
from tests.helpers import tiny_config, train_tiny

for module, name, value in {BOUNDS!r}:
    setattr(importlib.import_module(module), name, value)
here = Path.cwd()

class WaitForLock(Progress):
    waited = False
    def evaluated(self, point):
        if point.step >= {LOCK_AT} and not self.waited:
            self.waited = True
            (here / "ready").touch()
            while not (here / "locked").exists():
                time.sleep(0.01)

store = Store(sys.argv[1])
try:
    train_tiny(store, tiny_config(store, steps={STEPS}, eval_every={EVAL_EVERY}),
               progress=WaitForLock())
except NgramlmError as err:
    (here / "stopped").touch()
    print(err, file=sys.stderr, flush=True)
    sys.stdin.readline()
    sys.exit(err.exit_code)
"""

# Holds the write lock until its stdin closes.
HOLDER = """
import sys
url = sys.argv[1]
if url.startswith("sqlite"):
    import sqlite3
    from sqlalchemy.engine import make_url
    conn = sqlite3.connect(make_url(url).database, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
else:
    import sqlalchemy as sa
    conn = sa.create_engine(url).connect()
    conn.exec_driver_sql(
        "LOCK TABLE runs, metrics, checkpoints, checkpoint_parts IN EXCLUSIVE MODE"
    )
print("locked", flush=True)
sys.stdin.readline()
"""


def small_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    for module, name, value in BOUNDS:
        monkeypatch.setattr(f"{module}.{name}", value)


@contextmanager
def held_lock(url: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the store's write lock while the block runs."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)


def wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the trainer ended early: {proc.communicate()[1]}")
        assert time.monotonic() < deadline, f"no {path.name} after {seconds} s"
        time.sleep(0.01)


def test_the_bounds_leave_a_blocked_run_time_to_stop_before_it_reads_as_crashed() -> None:
    """A run that cannot write stops HEARTBEAT_S + RETRY_S after its last beat; readers
    call it crashed at STALE_AFTER_S: at least as long again is left for the stop."""
    assert 2 * (HEARTBEAT_S + RETRY_S) <= STALE_AFTER_S
    assert (HEARTBEAT_S, RETRY_S, STALE_AFTER_S) == (10.0, 15.0, 60.0)  # as docs/store.md says
    assert "heartbeat every 10 s" in " ".join((REPO / "docs" / "store.md").read_text().split())


def test_a_write_behind_a_held_lock_gives_up_within_the_retry_budget(
    db_url: str, words_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The busy timeout (SQLite) and lock_timeout (PostgreSQL) fit inside the budget: the
    old code waited 60 s on SQLite inside every try, and for ever on PostgreSQL."""
    small_bounds(monkeypatch)
    with tiny_store(db_url, words_file) as store:
        run = train_tiny(store, tiny_config(store, steps=50)).run
        with held_lock(db_url):
            t0 = time.monotonic()
            with pytest.raises(StoreError, match="lock"):
                lease.with_retries(lambda: store.heartbeat([run.id], host="h", pid=1))
            took = time.monotonic() - t0
        assert RETRY_TEST_S - 0.2 <= took <= RETRY_TEST_S + 1.0, took


def test_a_run_behind_a_lock_held_past_the_crash_bound_has_one_owner(
    db_url: str, words_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_bounds(monkeypatch)
    with tiny_store(db_url, words_file) as store:
        cfg = tiny_config(store, steps=STEPS, eval_every=EVAL_EVERY)
        full = train_tiny(store, cfg).run  # run 1: the uninterrupted reference
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        trainer = subprocess.Popen(
            [sys.executable, "-c", TRAINER, db_url],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(tmp_path / "ready", trainer)
            run_id = full.id + 1
            with held_lock(db_url):
                (tmp_path / "locked").touch()
                t0 = time.monotonic()
                refused: list[BaseException] = []
                # A resume issued behind the lock waits for it, like the trainer's writes.
                resumer = threading.Thread(target=_resume, args=(store, run_id, refused))
                resumer.start()
                while time.monotonic() - t0 < HOLD_S:
                    with Store(db_url) as reader:
                        status = reader.run(run_id).status
                    # crashed only once it has stopped training (and before: running)
                    assert status == "running" or (tmp_path / "stopped").exists(), status
                    time.sleep(0.05)
                assert (tmp_path / "stopped").exists()  # it stopped within the bound
                assert trainer.poll() is None  # and lives on
            resumer.join(60)
            assert not resumer.is_alive()
            # the resume got the lock while the trainer lived: refused, naming it
            assert len(refused) == 1 and isinstance(refused[0], ClaimedError), refused
            assert f"run {run_id} is running on" in str(refused[0])
            assert f"(pid {trainer.pid}," in str(refused[0])
            assert store.run(run_id).pid == trainer.pid  # nothing written
        finally:
            _, err = trainer.communicate(timeout=60)  # its stdin closes: it exits
        lines = err.strip().splitlines()
        assert trainer.returncode != 0 and len(lines) == 1, err
        assert f"run {run_id}: the store stayed unwritable (" in lines[0]
        assert "lock" in lines[0] and "training stopped at step " in lines[0], lines[0]
        assert "its checkpoint is saved to " in lines[0]
        assert list(tmp_path.glob(f"ngramlm-run-{run_id}-step-*.safetensors"))

        # Its owner gone, the run resumes: the curve of the uninterrupted run, no step twice.
        resumed = resume_run(store, run_id).run
        assert resumed.status == "finished" and resumed.steps_done == STEPS
        assert (resumed.train_loss, resumed.dev_loss) == (full.train_loss, full.dev_loss)
        assert curve(store, run_id) == curve(store, full.id)


def _resume(store: Store, run_id: int, errors: list[BaseException]) -> None:
    try:
        resume_run(store, run_id)
    except BaseException as exc:  # the test reads what it was
        errors.append(exc)


def test_a_resume_never_claims_a_run_whose_owner_lives_on_this_host_however_stale(
    db_url: str, words_file: Path
) -> None:
    """Its heartbeat long stale (a stopped process, or one blocked before this fix), a run
    whose owner process lives on this host is refused, naming it; once it has exited the
    run is taken over."""
    with tiny_store(db_url, words_file) as store:
        cfg = tiny_config(store, steps=50)
        plan = Plan.of(store.dataset("tiny"), cfg, threads=1)
        run = store.create_run(new_run(plan, "train", None))
        owner = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                 stdin=subprocess.PIPE, text=True)  # fmt: skip
        try:
            old = datetime.now(timezone.utc).replace(tzinfo=None)
            old -= timedelta(seconds=STALE_AFTER_S + 5)
            engine = sa.create_engine(db_url)
            with engine.begin() as conn:
                conn.execute(
                    sa.text("UPDATE runs SET pid=:p, heartbeat_at=:t WHERE id=:i"),
                    {"p": owner.pid, "t": old, "i": run.id},
                )
            engine.dispose()
            with pytest.raises(
                ClaimedError, match=rf"run {run.id} is running on .* \(pid {owner.pid},"
            ):
                resume_run(store, run.id)
            assert store.run(run.id).pid == owner.pid  # nothing written
        finally:
            assert owner.stdin is not None
            owner.stdin.close()
            owner.wait(30)
        out = resume_run(store, run.id)
        assert out.run.status == "finished" and out.run.pid == os.getpid()


# Counts a bigram (or runs lr-find) on ``tiny`` in its own process: it reads its examples
# only once another process holds the lock and its heartbeat has given up (a fit or a
# range test longer than the bound), then goes on; it reports its one line on stderr.
NOTHING_TO_SAVE = f"""
import importlib, sys, threading, time
from pathlib import Path
sys.path.insert(0, {str(REPO)!r})
from ngramlm import open_store
from ngramlm.errors import NgramlmError
from ngramlm.stages import counted, run

for module, name, value in {BOUNDS!r}:
    setattr(importlib.import_module(module), name, value)
here = Path.cwd()

def beating():
    return any(t.name.startswith("heartbeat-") for t in threading.enumerate())

for module in (counted, run):
    def slow(*args, read=module.load_examples, **kw):
        (here / "ready").touch()
        while not (here / "locked").exists() or beating():
            time.sleep(0.01)
        return read(*args, **kw)
    module.load_examples = slow
try:
    with open_store(sys.argv[1]) as exp:
        if sys.argv[2] == "count":
            exp.train("tiny", model="bigram")
        else:
            exp.lr_find("tiny", steps=100, threads=1)
except NgramlmError as err:
    print(err, file=sys.stderr, flush=True)
    sys.exit(err.exit_code)
"""


@pytest.mark.parametrize("what", ["count", "lr-find"])
def test_a_count_or_lr_find_behind_a_lock_held_past_the_bound_stops_with_one_line(
    db_url: str, words_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """Their heartbeat gave up, a count and an lr-find stop as training does: one line,
    nothing recorded (no curve, no checkpoint, no loss); a count resumes to the losses of
    an uninterrupted count once its process has exited (old: they went on to the end)."""
    small_bounds(monkeypatch)
    with tiny_store(db_url, words_file) as store:
        with open_store(db_url) as exp:
            full = exp.train("tiny", model="bigram").run  # run 1: the uninterrupted count
        proc = subprocess.Popen(
            [sys.executable, "-c", NOTHING_TO_SAVE, db_url, what],
            cwd=tmp_path,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(tmp_path / "ready", proc)
        with held_lock(db_url):
            (tmp_path / "locked").touch()
            _, err = proc.communicate(timeout=60)  # it ends while the lock is held
        run_id = full.id + 1
        lines = err.strip().splitlines()
        assert proc.returncode == StoreError.exit_code and len(lines) == 1, err
        assert lines[0].startswith(f"run {run_id}: the store stayed unwritable (no heartbeat")
        stopped = "counting stopped" if what == "count" else "lr-find stopped at step 0 of 100"
        assert "lock" in lines[0] and f"{stopped} and nothing of it is recorded" in lines[0]
        run = store.run(run_id)
        assert run.stored_status == "running"  # its end could not be written either
        assert (run.train_loss, run.dev_loss, run.steps_done) == (None, None, 0)
        assert store.metrics(run_id) == [] and store.checkpoint(run_id) is None
        if what == "count":
            resumed = resume_run(store, run_id).run
            assert resumed.status == "finished"
            assert (resumed.train_loss, resumed.dev_loss) == (full.train_loss, full.dev_loss)
