"""Shared test setup, written once: tiny datasets and runs, corpora, stop hooks, the
resume-equals-uninterrupted check. Test modules import from here (and from conftest.py,
for its fixtures' constants); no test module imports another (tests/test_layers.py)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ngramlm.config import RunConfig
from ngramlm.models import preset_config
from ngramlm.stages.plan import Plan
from ngramlm.stages.prepare import prepare
from ngramlm.stages.run import Progress, resume_run, start_run
from ngramlm.store import Store

# --- a tiny character dataset and a run on it ------------------------------------------

# A model small enough to train 600 steps in about a second on one thread.
TINY = {"n_embd": 4, "n_hidden": 16, "steps": 600, "batch_size": 16, "eval_every": 100}
# The same model as command-line options.
TINY_ARGS = ["--n-embd", "4", "--n-hidden", "16", "--batch-size", "16"]


def tiny_words(path: Path) -> Path:
    """200 made-up names (2 to 7 letters) written to ``path``: conftest's ``words_file``."""
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 7))) for _ in range(200)]
    path.write_text("\n".join(words) + "\n", encoding="utf-8")
    return path


def ngramlm_json(url: str, *args: str, cwd: Path) -> dict:
    """``python -m ngramlm ARGS --json`` in a subprocess on the store at ``url`` (for a
    module-scoped fixture, where the in-process ``cli`` fixture cannot be used)."""
    env = {**os.environ, "NGRAMLM_DB": url, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "ngramlm", *args, "--json"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@contextmanager
def tiny_store(url: str, words_file: Path) -> Iterator[Store]:
    """The store at ``url`` with ``words_file`` prepared as the dataset ``tiny`` (seed 42)."""
    store = Store(url)
    try:
        prepare(store, words_file, "tiny", 42, unit="char")
        yield store
    finally:
        store.close()


def tiny_config(store: Store, preset: str | None = "default", **kw: object) -> RunConfig:
    """``TINY`` (with ``kw`` over it) for the dataset ``tiny`` of ``store``."""
    return preset_config(preset, {**TINY, **kw}, store.dataset("tiny").vocab_size)


def train_tiny(store: Store, cfg: RunConfig, **kw: Any) -> Any:
    """Train ``cfg`` on the dataset ``tiny``; ``kw`` goes to ``start_run`` (progress, stop)."""
    return start_run(store, Plan.of(store.dataset("tiny"), cfg), **kw)


def cli_train(cli: Callable[..., Any], url: str, *args: object) -> dict:
    """``ngramlm --db URL train ARGS --json``, which must succeed: its JSON."""
    r = cli("--db", url, "train", *args, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def cli_tiny_run(cli: Callable[..., Any], url: str, words_file: Path, *args: object) -> dict:
    """``ngramlm prepare WORDS_FILE`` (the dataset ``tiny``), then ``train --dataset tiny
    ARGS --json``: the run's JSON."""
    assert cli("--db", url, "prepare", words_file).code == 0
    return cli_train(cli, url, "--dataset", "tiny", *args)


def curve(store: Store, run_id: int) -> list[tuple]:
    """A run's stored curve: (step, train, dev, batch loss) at each evaluation."""
    return [(m.step, m.train_loss, m.dev_loss, m.batch_loss) for m in store.metrics(run_id)]


class StopAt(Progress):
    """Asks the run to stop once it has done ``step`` steps (like Ctrl-C would)."""

    def __init__(self, stop: threading.Event, step: int) -> None:
        self.stop_event, self.at = stop, step

    def update(self, step: int, batch_loss: float, elapsed_s: float) -> None:
        if step >= self.at:
            self.stop_event.set()


def assert_resume_equals_uninterrupted(
    store: Store,
    cfg: RunConfig,
    at: int,
    stopper: Callable[[threading.Event], Progress] | None = None,
) -> tuple[Any, list[tuple]]:
    """Train ``cfg`` on ``tiny`` once uninterrupted, once stopped by ``stopper`` (by
    default at step ``at``), which must leave a killed run with its checkpoint at ``at``;
    resume that one: it finishes with the very losses and curve of the uninterrupted run.
    Returns the uninterrupted outcome and the curve the killed run had stored."""
    full = train_tiny(store, cfg)
    stop = threading.Event()
    progress = stopper(stop) if stopper is not None else StopAt(stop, at)
    killed = train_tiny(store, cfg, progress=progress, stop=stop)
    assert killed.run.status == "killed" and killed.run.steps_done == at
    assert store.checkpoint(killed.run.id).step == at  # type: ignore[union-attr]
    at_kill = curve(store, killed.run.id)
    resumed = resume_run(store, killed.run.id)
    assert resumed.run.status == "finished"
    assert resumed.run.steps_done == full.run.steps_done == cfg.train.steps
    assert resumed.run.train_loss == full.run.train_loss
    assert resumed.run.dev_loss == full.run.dev_loss
    assert curve(store, resumed.run.id) == curve(store, full.run.id)
    return full, at_kill


def age_heartbeat(url: str, run_id: int, seconds: float = 3600) -> None:
    """Mark run ``run_id`` ``running`` with a heartbeat ``seconds`` old: with the default,
    a run whose process died without a word (it reads as crashed)."""
    old = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=seconds)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE runs SET status='running', heartbeat_at=:t WHERE id=:i"),
            {"t": old, "i": run_id},
        )
    engine.dispose()


# --- a tiny word corpus ------------------------------------------------------------------

WORDS = ["the", "cat", "dog", "sat", "on", "a", "mat", "and", "ran", "to", "big", "red", "house"]


def corpus(
    n: int = 300, seed: int = 0, lengths: tuple[int, int] = (1, 8), rare_every: int = 50
) -> list[str]:
    """``n`` sentences over a small Zipf-like vocabulary (``WORDS``), each of ``lengths``
    words, with a rare word ``rareI`` after every ``rare_every``-th."""
    rng = random.Random(seed)
    weights = [1 / (i + 1) for i in range(len(WORDS))]
    lines = []
    for i in range(n):
        words = rng.choices(WORDS, weights, k=rng.randint(*lengths))
        if i % rare_every == 0:
            words.append(f"rare{i}")
        lines.append(" ".join(words))
    return lines


def word_corpus(path: Path, n: int = 400, seed: int = 0) -> Path:
    """``n`` sentences (about 1,800 tokens for 400), a few rare words among them, written
    to ``path``: a corpus in Brown's format (one sentence a line) in milliseconds."""
    path.write_text("\n".join(corpus(n, seed, (2, 7), 40)) + "\n", encoding="utf-8")
    return path


def sentences_file(path: Path, n: int = 300) -> Path:
    """``corpus(n)`` written to ``path``, one sentence a line."""
    path.write_text("\n".join(corpus(n)) + "\n", encoding="utf-8")
    return path


def prepare_words(cli: Callable[..., Any], url: str, path: Path, *args: str) -> dict:
    """``ngramlm prepare PATH --unit word ARGS --json``, which must succeed: its JSON."""
    r = cli("--db", url, "prepare", path, "--unit", "word", *args, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


# --- NLTK's brown package, in miniature --------------------------------------------------

# NLTK's files as shipped: each sentence a tab-indented line, blank lines between.
BROWN_FILES = {
    "ca01": (
        "\n\n\tThe/at Fulton/np-tl County/nn-tl Grand/jj-tl Jury/nn-tl said/vbd Friday/nr "
        "``/`` no/at evidence/nn ''/'' ./.\n\n\n"
        "\tThe/at jury/nn further/rbr said/vbd ,/, 1-1/2/cd minutes/nns ./.\n\n"
    ),
    "ca02": "\n\n\tAustin/np-hl ,/,-hl Texas/np-hl\n\n\n\tA/at verdict/nn came/vbd ./.  \n",
    "cb01": "\n\n\tAs/cs a/at result/nn ./.\n",
}


def nltk_brown(root: Path) -> Path:
    """NLTK's ``corpora/brown`` under ``root``: ``BROWN_FILES`` beside README, CONTENTS
    and cats.txt."""
    brown = root / "corpora" / "brown"
    brown.mkdir(parents=True)
    for name in ("cb01", "ca02", "ca01"):  # written out of order: read in name order
        (brown / name).write_text(BROWN_FILES[name], encoding="utf-8")
    (brown / "README").write_text("BROWN CORPUS\n\nA/at note/nn\n", encoding="utf-8")
    (brown / "CONTENTS").write_text("ca01 A01 News\n", encoding="utf-8")
    (brown / "cats.txt").write_text("ca01 news\nca02 news\ncb01 editorial\n", encoding="utf-8")
    return brown


# --- what a user sees --------------------------------------------------------------------

# The columns of ``report --json``/``--csv`` and ``runs_frame()``, in their order, written
# out: a column renamed, dropped or moved in the code fails the tests that read this.
REPORT_COLUMNS = (
    "run", "dataset", "sweep", "kind", "name", "status", "block_size", "n_embd",
    "n_hidden", "n_layers", "batch_size", "optimizer", "lr", "steps", "steps_done", "seed",
    "train_loss", "dev_loss", "gap", "test_loss", "seconds", "created_at", "best_in_sweep",
    "model", "precision", "category", "last_eval_step", "last_train_loss", "last_dev_loss",
)  # fmt: skip


# --- the dashboard ------------------------------------------------------------------------


def dashboard_store(root: Path) -> tuple[str, dict[str, int]]:
    """A small store for the dashboard's tests, under ``root``: the dataset ``tiny`` with
    two MLP runs (``first`` finalized), a Kneser-Ney model, a 3-trial random search
    (halving off, no closing mixture) and a 2-point lr grid. Returns its URL and the ids
    (``first``, ``second``, ``kn``, ``search``, ``grid``)."""
    import ngramlm

    url = f"sqlite:///{root / 'store.db'}"
    words = tiny_words(root / "tiny.txt")
    small = {**TINY, "steps": 300, "eval_every": 50}
    with ngramlm.open_store(url) as exp:
        ds = exp.prepare(words, "tiny")
        first = exp.train(ds, name="first", **small).run.id
        second = exp.train(ds, **{**small, "lr": 0.05}).run.id
        kn = exp.train(ds, model="kneser-ney", order=3).run.id
        exp.finalize(first)
        search = exp.search(ds, search="random", trials=3, mix=False, workers=0,
                            space=["lr=0.01:0.5:log", "n_hidden=8:32"],
                            **{**small, "steps": 100, "eval_every": 20}).id  # fmt: skip
        grid = exp.sweep(ds, lr_grid="0.05,0.2", workers=0, **{**small, "steps": 60}).id
    return url, {"first": first, "second": second, "kn": kn, "search": search, "grid": grid}


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` (urllib): the status, the headers and the body, for any status."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def live_run(url: str) -> int:
    """A training run of ``tiny`` in the store at ``url``, created ``running`` as a
    training process creates it, with its step-0 evaluation: its id."""
    from ngramlm.stages.run import new_run
    from ngramlm.store.records import MetricRecord

    with Store(url) as store:
        plan = Plan.of(store.dataset("tiny"), tiny_config(store, steps=1000))
        run = store.create_run(new_run(plan, "train", "live"))
        store.add_metrics(run.id, [MetricRecord(0, 0.0, 0.1, None, 3.3, 3.31)], steps_done=0)
    return run.id


def evaluate_live(url: str, run_id: int, step: int, loss: float) -> None:
    """One more evaluation of ``live_run``'s run, written as its training loop writes it
    (a batch of curve points and a heartbeat, in one transaction)."""
    from ngramlm.store.records import MetricRecord

    with Store(url) as store:
        point = MetricRecord(step, step / 100, 0.1, loss + 0.02, loss, loss + 0.05)
        store.add_metrics(run_id, [point], steps_done=step)


def pruning_search(root: Path) -> tuple[str, int, int]:
    """A store under ``root`` with a 6-trial random search that prunes (``--prune
    halving``, one dimension, lr) and a 2-trial one that does not: (URL, their ids)."""
    import ngramlm

    url = f"sqlite:///{root / 'prune.db'}"
    with ngramlm.open_store(url) as exp:
        ds = exp.prepare(tiny_words(root / "tiny.txt"), "tiny")
        pruned = exp.search(ds, search="random", trials=6, mix=False, workers=0,
                            prune="halving", space=["lr=0.001:1.0:log"],
                            **{**TINY, "steps": 90, "eval_every": 10}).id  # fmt: skip
        plain = exp.search(ds, search="random", trials=2, mix=False, workers=0,
                           space=["lr=0.01:0.5:log"], **{**TINY, "steps": 30}).id  # fmt: skip
    return url, pruned, plain
