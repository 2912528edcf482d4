"""A user's first day with training (issue 19): the step-0 losses, progress that moves
(by time, and through an evaluation), Ctrl-C during an evaluation, a preset's warm-up on
a short run, bare commands, evaluation that costs a bounded share, the diagnosis."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from ngramlm import checkpoint
from ngramlm.config import RunConfig, TrainConfig
from ngramlm.evaluation import EvalSet, evaluate_set
from ngramlm.stages.diagnose import Finding, diagnose
from ngramlm.stages.run import Progress, load_examples, resume_run
from ngramlm.store import Store
from ngramlm.store.records import RunRecord
from ngramlm.training import body, evaluating, loop
from ngramlm.training.loop import EvalPoint, Examples, Hooks, train

from .conftest import REPO
from .helpers import (
    age_heartbeat,
    assert_resume_equals_uninterrupted,
    curve,
    tiny_config,
    train_tiny,
)

CPU = torch.device("cpu")


def tiny(store: Store, **kw: object) -> tuple[RunConfig, Examples]:
    """A 300-step tiny run on the CPU, and its examples (``store`` is conftest's)."""
    cfg = tiny_config(store, steps=300, device="cpu", **kw)
    return cfg, load_examples(store, store.dataset("tiny"), cfg.model.block_size)


class Recorder(Hooks):
    def __init__(self) -> None:
        self.progress: list[int] = []
        self.evaluating: list[tuple[str, int, int]] = []
        self.points: list[EvalPoint] = []

    def on_progress(self, step: int, batch_loss: float, elapsed_s: float) -> None:
        self.progress.append(step)

    def on_evaluating(self, split: str, done: int, total: int) -> None:
        self.evaluating.append((split, done, total))

    def on_eval(self, point: EvalPoint) -> None:
        self.points.append(point)


# --- 1. the losses of the initial weights ------------------------------------------------


def test_a_run_records_its_step_0_losses_near_ln_v(store: Store) -> None:
    """makemore part 3's first check: the initial loss is about ln V (uniform)."""
    ds = store.dataset("tiny")
    out = train_tiny(store, tiny(store)[0])
    first = store.metrics(out.run.id)[0]
    assert first.step == 0 and first.batch_loss is None
    assert first.train_loss == pytest.approx(math.log(ds.vocab_size), abs=0.05)
    assert first.dev_loss == pytest.approx(math.log(ds.vocab_size), abs=0.05)
    assert [p.step for p in out.result.points] == [0, 100, 200, 300]


def test_the_step_0_evaluation_draws_nothing_from_the_generator(store: Store) -> None:
    """Same losses, same generator state at the end, with or without it (dropout on:
    an evaluation in training mode would draw masks)."""
    cfg, ex = tiny(store, dropout=0.2)
    plain = train(cfg, ex, CPU)
    with_0 = train(cfg, ex, CPU, eval_at_start=True)
    assert [p.step for p in with_0.points] == [0, *(p.step for p in plain.points)]
    same = lambda p: (p.step, p.train_loss, p.dev_loss, p.batch_loss)  # noqa: E731
    assert [same(p) for p in with_0.points[1:]] == [same(p) for p in plain.points]
    assert torch.equal(with_0.state.rng, plain.state.rng)


def test_plots_draw_the_step_0_point(store: Store) -> None:
    from ngramlm.plots import curves_figure

    out = train_tiny(store, tiny(store)[0])
    fig = curves_figure([(out.run, store.metrics(out.run.id))])
    assert all(line.get_xdata()[0] == 0 for line in fig.axes[0].get_lines())  # type: ignore[index]


# --- 2. progress by time and through an evaluation ----------------------------------------


def test_progress_is_reported_by_time_too(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every PROGRESS_S seconds, not only every 250 steps: with 0 s, every step."""
    monkeypatch.setattr(body, "PROGRESS_S", 0.0)  # the loop body reads it
    cfg, ex = tiny(store)
    rec = Recorder()
    train(cfg, ex, CPU, rec)
    assert rec.progress == list(range(1, 301))


def test_an_evaluation_reports_its_chunks(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import ngramlm.evaluation as evaluation

    cfg, ex = tiny(store)
    V = store.dataset("tiny").vocab_size
    monkeypatch.setattr(evaluation, "EVAL_FLOATS", 40 * V)  # 40 contexts a chunk
    rec = Recorder()
    train(cfg, ex, CPU, rec, eval_at_start=True)
    n_train = EvalSet.of(ex.Xtr, ex.Ytr, V).U.shape[0]
    n_dev = EvalSet.of(ex.Xdev, ex.Ydev, V).U.shape[0]
    tr, dv = -(-n_train // 40), -(-n_dev // 40)
    one = [("train", i, tr) for i in range(tr + 1)] + [("dev", i, dv) for i in range(dv + 1)]
    assert tr > 2 and rec.evaluating == one * 4  # steps 0, 100, 200, 300


class Captured:
    """The CLI's progress in plain (non-terminal) mode, every line printed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import ngramlm.cli.progress as cli_progress
        from ngramlm.cli.common import err_console

        monkeypatch.setattr(cli_progress, "PLAIN_EVERY_S", 0.0)
        self.console, self.progress = err_console, cli_progress.RichProgress()
        assert not self.progress.live  # pytest's stderr is no terminal


def test_plain_progress_shows_a_dash_until_a_loss_is_known_and_the_threads(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    cap = Captured(monkeypatch)
    run = train_tiny(store, tiny(store)[0]).run
    p = cap.progress
    with cap.console.capture() as out:
        p.start(run, 300, 0)
        p.update(10, 3.25, 0.5)
        p.evaluating("dev sample", 3, 7)
        p.evaluated(EvalPoint(100, 1.0, 0.1, 2.9, 2.8, 2.85, sampled=True))
        p.update(110, 2.75, 1.5)
    lines = out.get().splitlines()
    assert "nan" not in out.get()
    assert lines[0] == f"run {run.id}: training 300 steps on {torch.get_num_threads()} thread"
    assert "loss 3.2500  dev —" in lines[1]
    assert "evaluating dev sample 3/7" in lines[2]
    assert "train 2.8000  dev 2.8500 (samples)" in lines[3]
    assert "dev 2.8500 (sample)" in lines[4]


# --- 3. Ctrl-C during an evaluation -------------------------------------------------------


class StopInEvaluation(Progress):
    """Asks the run to stop (as Ctrl-C does) in the middle of its ``n``-th evaluation's
    dev split (from 0), after its first chunk."""

    def __init__(self, stop: threading.Event, n: int) -> None:
        self.stop_event, self.n, self.done = stop, n, 0

    def evaluated(self, point: EvalPoint) -> None:
        self.done += 1

    def evaluating(self, split: str, done: int, total: int) -> None:
        if split == "dev" and done == 1 and self.done == self.n:
            self.stop_event.set()


@pytest.mark.parametrize("at", [0, 200, 300])  # step 0's, an intermediate, the last
def test_a_stop_during_an_evaluation_is_killed_and_resumes_equal(
    store: Store, monkeypatch: pytest.MonkeyPatch, at: int
) -> None:
    import ngramlm.evaluation as evaluation

    ds = store.dataset("tiny")
    monkeypatch.setattr(evaluation, "EVAL_FLOATS", 40 * ds.vocab_size)  # chunks to stop in
    stopper = lambda stop: StopInEvaluation(stop, at // 100)  # noqa: E731
    _, at_kill = assert_resume_equals_uninterrupted(store, tiny(store)[0], at, stopper)
    # the killed run's curve ended before the evaluation it was stopped in
    assert [point[0] for point in at_kill] == [0, 100, 200, 300][: at // 100]


def test_a_stop_after_the_step_0_evaluation_resumes_without_a_second_one(store: Store) -> None:
    class StopAfterStep0(Progress):
        def __init__(self, stop: threading.Event) -> None:
            self.stop_event = stop

        def evaluated(self, point: EvalPoint) -> None:
            self.stop_event.set()

    cfg = tiny(store)[0]
    full = train_tiny(store, cfg)
    stop = threading.Event()
    killed = train_tiny(store, cfg, progress=StopAfterStep0(stop), stop=stop)
    assert killed.run.status == "killed" and [m.step for m in store.metrics(killed.run.id)] == [0]
    resume_run(store, killed.run.id)
    assert curve(store, killed.run.id) == curve(store, full.run.id)


# Trains a tiny 300-step run in its own process and dies (SIGKILL, without a word) in its
# final evaluation, its train split done: the run's fourth evaluation (0, 100, 200, 300).
DIES_IN_FINAL = f"""
import os, signal, sys
sys.path.insert(0, {str(REPO)!r})
from ngramlm.stages.run import Progress
from ngramlm.store import Store
from tests.helpers import tiny_config, train_tiny

class DieInFinal(Progress):
    evaluations = 0
    def evaluated(self, point):
        self.evaluations += 1
    def evaluating(self, split, done, total):
        if self.evaluations == 3 and split == "dev":
            os.kill(os.getpid(), signal.SIGKILL)

store = Store(sys.argv[1])
train_tiny(store, tiny_config(store, steps=300, device="cpu"), progress=DieInFinal())
"""


def test_a_run_killed_in_its_final_evaluation_resumes_with_every_step_trained(
    store: Store, sqlite_url: str
) -> None:
    """The last step is checkpointed before the final evaluation (old: after it, so a
    kill there lost the steps since the last checkpoint, 201-300 here): the resume trains
    nothing, takes the evaluation again and ends as an uninterrupted run."""
    full = train_tiny(store, tiny(store)[0])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    died = subprocess.run([sys.executable, "-c", DIES_IN_FINAL, sqlite_url], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert died.returncode == -signal.SIGKILL, died.stderr
    run_id = full.run.id + 1
    assert store.checkpoint(run_id).step == 300  # type: ignore[union-attr]
    assert [m.step for m in store.metrics(run_id)] == [0, 100, 200]  # not its last point
    age_heartbeat(sqlite_url, run_id)

    class From(Progress):
        def start(self, run: RunRecord, total: int, initial: int) -> None:
            self.initial = initial

    started = From()
    resumed = resume_run(store, run_id, progress=started).run
    assert started.initial == 300  # no step trained again
    assert resumed.status == "finished" and resumed.steps_done == 300
    assert (resumed.train_loss, resumed.dev_loss) == (full.run.train_loss, full.run.dev_loss)
    assert curve(store, run_id) == curve(store, full.run.id)


# --- 8. evaluation that costs a bounded share ---------------------------------------------


def costly(monkeypatch: pytest.MonkeyPatch, vocab_size: int) -> None:
    """Make the tiny character splits count as costly ones: past 64 distinct contexts,
    so their samples are 64 examples."""
    monkeypatch.setattr(evaluating, "COSTLY_LOGITS", 64 * vocab_size)


def test_intermediate_evaluations_of_a_costly_split_use_fixed_samples(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, ex = tiny(store)
    whole = train(cfg, ex, CPU, eval_at_start=True)
    costly(monkeypatch, cfg.model.vocab_size)
    rec = Recorder()
    out = train(cfg, ex, CPU, rec, eval_at_start=True)
    assert [(p.step, p.sampled) for p in out.points] == [
        (0, True), (100, True), (200, True), (300, False)
    ]  # fmt: skip
    assert {s for s, _, _ in rec.evaluating} == {"train sample", "dev sample", "train", "dev"}
    # the final losses are the whole splits' (and the training the same)
    assert (out.train_loss, out.dev_loss) == (whole.train_loss, whole.dev_loss)
    # an intermediate dev loss is that of 64 evenly spaced dev examples
    assert out.points[0].dev_loss != whole.points[0].dev_loss
    model, _, _ = loop.build(cfg, CPU, "fp32")
    n, V = ex.Xdev.shape[0], cfg.model.vocab_size
    ix = torch.arange(64) * n // 64
    assert out.points[0].dev_loss == evaluate_set(model, EvalSet.of(ex.Xdev[ix], ex.Ydev[ix], V))


def test_final_losses_of_a_split_past_the_size_are_on_a_fixed_seeded_sample(
    cli, store: Store, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past FINAL_TRAIN targets the final train loss is measured on a fixed sample of that
    many (one target from each of as many equal slices), the same for every run; dev,
    under FINAL_DEV, stays whole; the record and ``report RUN`` say which."""
    cfg, ex = tiny(store)
    n = ex.Ytr.shape[0]
    whole = train_tiny(store, cfg).run
    monkeypatch.setattr(evaluating, "FINAL_TRAIN", 500)
    runs = [train_tiny(store, cfg).run for _ in range(2)]
    assert runs[0].extra == runs[1].extra == {"final_sample": {"train": [500, n]}}
    assert runs[0].train_loss == runs[1].train_loss != whole.train_loss  # the same sample
    assert runs[0].dev_loss == whole.dev_loss  # dev whole, and the training unchanged
    sample, _, _ = evaluating.final_set(ex.Xtr, ex.Ytr, cfg.model.vocab_size, 500)
    ckpt = store.checkpoint(runs[0].id)
    assert ckpt is not None
    model = checkpoint.load_model(ckpt.data, ckpt.sha256).model
    assert runs[0].train_loss == evaluate_set(model, sample)  # measured on that sample
    r = cli("--db", sqlite_url, "report", str(runs[0].id))
    assert r.code == 0 and f"measured on a fixed sample: train 500 of {n:,} targets" in r.out
    assert "fixed sample" not in cli("--db", sqlite_url, "report", str(whole.id)).out


def test_a_final_sample_is_one_seeded_target_from_each_equal_slice() -> None:
    """Deterministic (seeded, on the CPU), spread over the whole split, and no sample at
    all up to the size: the whole split's set, rows and all."""
    n, k, V = 5_000, 1_000, 6_000
    X = torch.stack([torch.arange(n), torch.arange(n) % 7], 1)  # row i says i
    Y = torch.arange(n) % V
    es, Xs, Ys = evaluating.final_set(X, Y, V, k)
    ix = Xs[:, 0]
    assert es.Y.shape[0] == k and torch.equal(Ys, Y[ix])
    assert torch.equal(ix // (n // k), torch.arange(k))  # one from each slice of 5
    assert len(set((ix % (n // k)).tolist())) == n // k  # drawn, not every 5th
    again = evaluating.final_set(X, Y, V, k)
    assert torch.equal(again[1], Xs) and torch.equal(again[0].U, es.U)
    full, Xf, Yf = evaluating.final_set(X, Y, V, n)
    assert Xf is X and Yf is Y and full.Y.shape[0] == n


def test_a_short_run_on_costly_splits_evaluates_a_bounded_number_of_times(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Default eval_every: intermediate evaluations cost at most EVAL_SHARE of the steps
    (a step = STEP_FORWARDS x batch contexts, an evaluation = the samples' contexts)."""
    cfg, ex = tiny(store, eval_every=0, batch_size=8)
    costly(monkeypatch, cfg.model.vocab_size)
    out = train(cfg, ex, CPU, eval_at_start=True)
    splits = evaluating.Splits.of(ex, cfg.model.vocab_size)
    per_eval = splits.train_probe.U.shape[0] + splits.dev_probe.U.shape[0]
    assert splits.costly and per_eval <= 128
    evals = int(evaluating.EVAL_SHARE * 300 * evaluating.STEP_FORWARDS * 8 // per_eval)
    every = -(-300 // evals)
    assert 1 < evals < 20 and [p.step for p in out.points] == [0, *range(every, 301, every)]
    # a longer run gets its 20; a cheap split always does (the names: as before)
    assert evaluating.eval_interval(TrainConfig(steps=200_000, batch_size=8), splits) == 10_000
    monkeypatch.setattr(evaluating, "COSTLY_LOGITS", 2**30)
    assert [p.step for p in train(cfg, ex, CPU).points] == list(range(15, 301, 15))


# --- 4. a preset's warm-up on a short run -------------------------------------------------


def test_a_short_run_of_a_warming_up_preset_warms_up_for_a_tenth(
    cli, sqlite_url: str, words_file: Path
) -> None:
    """--preset best warms up for 500 steps: --steps 300 took it whole and was refused."""
    import ngramlm

    assert cli("--db", sqlite_url, "prepare", words_file, "--name", "tiny").code == 0
    with ngramlm.open_store(sqlite_url) as exp:
        assert exp.config("tiny", preset="best", steps=300)[1].train.warmup == 30
        assert exp.config("tiny", preset="best", steps=5000)[1].train.warmup == 500  # fits
        assert exp.config("tiny", preset="best", steps=300, warmup=7)[1].train.warmup == 7
        sweep = exp.create_sweep("tiny", preset="best", steps=300, lr_grid="0.001,0.002")
        assert sweep.n_points == 2  # a sweep of it too: refused before
    r = cli("--db", sqlite_url, "train", "--dataset", "tiny", "--preset", "best",
            "--steps", "300", "--warmup", "500")  # fmt: skip
    assert r.code == 2 and r.err.strip().splitlines() == [
        "error: --warmup 500 must be smaller than --steps 300"
    ]  # the user's own warm-up is kept, and refused


# --- 5. bare commands ---------------------------------------------------------------------


@pytest.mark.parametrize(("args", "code"), [([], 0), (["db"], 2), (["plot"], 2)])
def test_a_bare_command_shows_its_help_without_an_empty_error(
    cli, args: list[str], code: int
) -> None:
    r = cli(*args)
    assert r.code == code and "Usage" in r.out + r.err and "Commands" in r.out + r.err
    assert "error" not in r.err


# --- 9. the diagnosis ---------------------------------------------------------------------


def diagnosis(train_loss: float, dev_loss: float, devs: list[float]) -> list[Finding]:
    """``diagnose`` of a finished MLP run whose curve has ``devs`` at equal intervals
    from step 0 to its last step (300 per point), the train loss on the same curve."""
    from datetime import datetime, timezone

    from ngramlm.store.records import MetricRecord, RunRecord

    now = datetime.now(timezone.utc)
    steps = 300 * (len(devs) - 1)
    run = RunRecord(
        id=1, dataset_id=1, dataset="d", kind="train", name=None, stored_status="finished",
        preset="default", config_json='{"family": "mlp", "model": {}, "train": {}}',
        steps=steps, config_hash="h", seed=1, created_at=now, started_at=now, ended_at=now,
        heartbeat_at=now, steps_done=steps, train_seconds=1.0, train_loss=train_loss,
        dev_loss=dev_loss, checkpoint_sha256=None, extra={}, host="h", pid=1, version="v",
        device="cpu", error=None, model="mlp",
    )  # fmt: skip
    curve = [MetricRecord(300 * i, 0.0, 0.1, None, d, d) for i, d in enumerate(devs)]
    return diagnose(run, curve)


def test_a_short_run_still_falling_is_told_to_train_longer_not_to_grow() -> None:
    """A 300-step run: train ≈ dev because neither has got far, not for want of units."""
    found = diagnosis(2.62, 2.63, [3.30, 2.63])
    assert [f.rule for f in found] == ["undertrained", "still-falling"]
    assert "train longer" in found[0].message and "--n-hidden" not in found[0].message


def test_a_small_gap_with_dev_at_its_lowest_is_not_called_overfitting() -> None:
    """The default preset's run: train 2.0451, dev 2.1093 (README), dev flat at its end."""
    found = diagnosis(2.0451, 2.1093, [3.30, 2.30, 2.15, 2.11, 2.1095, 2.1093])
    assert [f.rule for f in found] == ["balanced", "plateaued"]
    assert "not overfitting" in found[0].message and "regularise" not in found[0].message
    # dev rising from its lowest is overfitting, whatever the size of the gap
    rose = diagnosis(1.70, 2.15, [3.30, 2.20, 2.10, 2.12, 2.15])
    assert rose[0].rule == "overfit" and "since its lowest (step 600)" in rose[0].message
