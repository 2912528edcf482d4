"""One owner per live run: the heartbeat comes from a timer, so a run busy in a long
evaluation (or a batched group, a checkpoint, a fit) stays ``running``, and ``--resume``
refuses a live run, naming its host and pid, and writes nothing (issue 19)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
import torch

from ngramlm.errors import ClaimedError
from ngramlm.stages import lease as run_module
from ngramlm.stages.plan import Plan
from ngramlm.stages.run import Progress, execute_batched, new_run
from ngramlm.store import Store
from ngramlm.store.records import HEARTBEAT_S, STALE_AFTER_S
from ngramlm.training.loop import EvalPoint

from .conftest import count_rows
from .helpers import tiny_config, tiny_store, train_tiny

TRAIN = ["--dataset", "tiny", "--n-embd", "4", "--n-hidden", "16", "--batch-size", "16",
         "--steps", "20", "--eval-every", "10", "--threads", "1"]  # fmt: skip


def age_heartbeats(url: str, seconds: float = 3600) -> None:
    """Make every heartbeat look ``seconds`` old: as if the runs had been silent that long
    (an evaluation longer than the stale bound, without waiting for one)."""
    old = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=seconds)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE runs SET heartbeat_at=:t"), {"t": old})
    engine.dispose()


def statuses(url: str) -> dict[int, str]:
    with Store(url) as s:
        return {r.id: r.status for r in s.runs()}


def wait_for(what: object, until: float, proc: subprocess.Popen[str] | None = None) -> None:
    """Poll ``what()`` until it is true; fail (with the subprocess's stderr) at ``until``."""
    while not what():  # type: ignore[operator]
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the run ended early: {proc.communicate()[1]}")
        if time.monotonic() > until:
            pytest.fail(f"still not true after the deadline: {what}")
        time.sleep(0.1)


def test_the_stale_bound_is_a_few_heartbeats() -> None:
    assert 3 * HEARTBEAT_S <= STALE_AFTER_S <= 10 * HEARTBEAT_S


@pytest.mark.slow
def test_a_run_held_in_a_long_evaluation_stays_running_and_refuses_a_second_owner(
    db_url: str, words_file: Path, tmp_path: Path, cli
) -> None:
    assert cli("--db", db_url, "prepare", str(words_file), "--name", "tiny").code == 0
    hold = tmp_path / "hold-eval"
    hold.mkdir()
    (hold / "hold").touch()  # the first evaluation waits until the test removes this
    env = {**os.environ, "NGRAMLM_DB": db_url, "NGRAMLM_TEST_HOLD_EVAL": str(hold)}
    proc = subprocess.Popen([sys.executable, "-m", "ngramlm", "train", *TRAIN, "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        wait_for(lambda: (hold / "evaluating").exists(), time.monotonic() + 120, proc)
        # The evaluation has lasted longer than the stale bound (as far as the store can
        # tell): the old code, which beat only between steps, reads as crashed for good.
        age_heartbeats(db_url)
        wait_for(lambda: statuses(db_url) == {1: "running"}, time.monotonic() + 3 * HEARTBEAT_S)
        assert proc.poll() is None and (hold / "hold").exists()  # still in that evaluation
        report = cli("--db", db_url, "report", "--json")
        assert report.code == 0 and '"status": "running"' in report.out, report.out

        with Store(db_url) as s:
            before = s.run(1)
        metrics = count_rows(db_url, "metrics")
        second = cli("--db", db_url, "train", "--resume", "1")
        assert second.code != 0
        lines = second.err.strip().splitlines()
        assert len(lines) == 1, second.err
        assert f"run 1 is running on {socket.gethostname()} (pid {proc.pid}" in lines[0]
        with Store(db_url) as s:  # nothing written: the owner is untouched
            after = s.run(1)
        assert (after.host, after.pid, after.stored_status) == (before.host, proc.pid, "running")
        assert count_rows(db_url, "runs") == 1 and count_rows(db_url, "metrics") == metrics
    finally:
        (hold / "hold").unlink(missing_ok=True)
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert statuses(db_url) == {1: "finished"}


class HoldAtEval(Progress):
    """Holds the main thread at the first evaluation until released: a run that is busy
    (as in a long evaluation) and writes nothing meanwhile."""

    def __init__(self) -> None:
        self.held, self.release = threading.Event(), threading.Event()

    def evaluated(self, point: EvalPoint) -> None:
        self.held.set()
        assert self.release.wait(120)


def test_every_member_of_a_batched_group_beats_while_it_is_busy(
    db_url: str, words_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_module, "HEARTBEAT_S", 0.1)
    with tiny_store(db_url, words_file) as store:
        ds = store.dataset("tiny")
        cfgs = [tiny_config(store, steps=20, eval_every=10, lr=lr) for lr in (0.1, 0.2)]
        cpu = torch.device("cpu")
        runs = [store.create_run(new_run(Plan.of(ds, c, threads=1), "train", None)) for c in cfgs]
        progress, stop = HoldAtEval(), threading.Event()
        worker = threading.Thread(
            target=execute_batched, args=(store, runs, ds, cfgs, cpu, progress, stop)
        )
        worker.start()
        try:
            assert progress.held.wait(120)
            age_heartbeats(db_url)
            want = {r.id: "running" for r in runs}
            wait_for(lambda: statuses(db_url) == want, time.monotonic() + 60)
            for r in runs:
                with pytest.raises(ClaimedError, match=f"pid {os.getpid()}"):
                    store.claim_for_resume(r.id, host="elsewhere", pid=1)
        finally:
            progress.release.set()
            worker.join(120)
        assert statuses(db_url) == {r.id: "finished" for r in runs}


def test_the_heartbeat_thread_ends_with_the_run(
    sqlite_url: str, words_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_module, "HEARTBEAT_S", 0.05)
    with tiny_store(sqlite_url, words_file) as store:
        out = train_tiny(store, tiny_config(store, steps=50))
        assert out.run.status == "finished"
        assert not [t for t in threading.enumerate() if t.name.startswith("heartbeat-")]


def test_a_dead_owner_is_taken_over_once_stale_and_a_live_one_is_named(
    db_url: str, words_file: Path
) -> None:
    with tiny_store(db_url, words_file) as store:
        ds = store.dataset("tiny")
        cfg = tiny_config(store, steps=50)
        run = store.create_run(new_run(Plan.of(ds, cfg, threads=1), "train", None))
        with pytest.raises(
            ClaimedError, match=r"run 1 is running on .* \(pid \d+, heartbeat \d+s ago\)"
        ):
            store.claim_for_resume(run.id, host="other", pid=2)
        age_heartbeats(db_url, STALE_AFTER_S + 5)
        claimed, _ = store.claim_for_resume(run.id, host="other", pid=2)
        assert (claimed.host, claimed.pid, claimed.status) == ("other", 2, "running")
        # the old owner, if it were only stalled, no longer owns the run: its beat changes nothing
        assert store.heartbeat([run.id], host=socket.gethostname(), pid=os.getpid()) == 0
        assert store.heartbeat([run.id], host="other", pid=2) == 1


def set_owner(url: str, run_id: int, pid: int, beat_age_s: float) -> None:
    old = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=beat_age_s)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE runs SET pid=:p, heartbeat_at=:t WHERE id=:i"),
            {"p": pid, "t": old, "i": run_id},
        )
    engine.dispose()


def test_a_running_run_whose_process_exited_on_this_host_resumes_after_two_missed_beats(
    db_url: str, words_file: Path
) -> None:
    """A process that died where it could not write its end (a full disk) leaves its run
    ``running``; on its own host, a resume takes it once it has missed two heartbeats,
    without waiting for the stale bound. A live owner is refused, however quiet."""
    from ngramlm.stages.run import owner_exited, resume_run

    with tiny_store(db_url, words_file) as store:
        ds = store.dataset("tiny")
        cfg = tiny_config(store, steps=50)
        run = store.create_run(new_run(Plan.of(ds, cfg, threads=1), "train", None))
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        assert owner_exited(socket.gethostname(), dead.pid)
        assert not owner_exited(socket.gethostname(), os.getppid())  # alive
        assert not owner_exited("another-host", dead.pid)  # cannot be seen from here

        set_owner(db_url, run.id, dead.pid, HEARTBEAT_S / 2)  # it beat a moment ago
        with pytest.raises(ClaimedError, match=f"pid {dead.pid}"):
            resume_run(store, run.id)
        set_owner(db_url, run.id, os.getppid(), 3 * HEARTBEAT_S)  # quiet, but alive
        with pytest.raises(ClaimedError, match=f"pid {os.getppid()}"):
            resume_run(store, run.id)
        assert count_rows(db_url, "checkpoints") == 0 and store.run(run.id).pid == os.getppid()
        set_owner(db_url, run.id, dead.pid, 3 * HEARTBEAT_S)  # gone, two beats missed
        out = resume_run(store, run.id)
        assert out.run.status == "finished" and out.run.pid == os.getpid()
