"""The Python API: the store, its runs and their models, from a notebook or a script.

Everything ``ngramlm`` does on the command line is here as a method of ``Experiments``,
the handle on one store that ``open_store`` returns; the CLI itself calls these methods,
so both take one code path and keep the same guarantees::

    import ngramlm

    exp = ngramlm.open_store("sqlite:///ngramlm.db")  # default: $NGRAMLM_DB or ngramlm.db
    ds = exp.prepare()                                # the bundled names
    run = exp.train(ds, preset="default", steps=2000)  # recorded like `ngramlm train`
    exp.runs_frame()                                  # `report --csv`'s rows (pandas)
    model = exp.load_model(run)                       # a torch.nn.Module in eval mode
    exp.sample(run, n=5)                              # ['emma', ...]
    exp.plot_curves(run)                              # a matplotlib Figure

Datasets, runs, curve points, sweeps and evaluations are the frozen records the store
returns (``DatasetRecord``, ``RunRecord``, ``MetricRecord``, ``SweepRecord``,
``EvaluationRecord``). A run is given as its id, a ``RunRecord`` or ``"last"`` (the
newest training run). Errors are the CLI's: an ``NgramlmError`` whose message names the
problem and the fix.

The test split stays locked: no function here returns test words, and ``finalize`` is
the only way to a test loss, once per run, ever, with the CLI's refusals.

torch, matplotlib and pandas are imported when a method needs them, never by
``import ngramlm``. pandas is optional: ``pip install 'ngramlm[pandas]'``.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ngramlm.data import UNK, Vocab
from ngramlm.errors import (
    ConflictError,
    InputError,
    NgramlmError,
    NotFoundError,
    WorkersDied,
)
from ngramlm.stages.prepare import DEFAULT_SEED, check_name, resolve_dataset
from ngramlm.stages.report import FIELDS, SORTS, STATUSES, rows
from ngramlm.store import Store
from ngramlm.store.connection import DEFAULT_URL
from ngramlm.store.records import (
    DatasetRecord,
    EvaluationRecord,
    MetricRecord,
    RunRecord,
    SweepRecord,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ngramlm.config import RunConfig
    from ngramlm.models.neural import NeuralLM
    from ngramlm.models.ngram import BackoffModel, CountModel
    from ngramlm.plots import Figure
    from ngramlm.stages.arpa import ArpaExport
    from ngramlm.stages.run import Outcome, Progress
    from ngramlm.stages.sweep import SweepStatus
    from ngramlm.training.threads import SweepPlan

__all__ = [
    "DEFAULT_URL",
    "KINDS",
    "AlreadyFinalized",
    "DatasetRecord",
    "EvaluationRecord",
    "Experiments",
    "MetricRecord",
    "MissingExtra",
    "NgramlmError",
    "RunRecord",
    "Samples",
    "SweepRecord",
    "WorkersDied",
    "open_store",
]

KINDS = ("train", "lr_find")  # what ``runs(kind=...)`` takes
CURVE_FIELDS = ("step", "elapsed_s", "lr", "batch_loss", "train_loss", "dev_loss")
MAX_SAMPLES = 100_000
TOP_WORDS = 100  # a word model's embedding figure shows its commonest tokens only
POLL_S = 0.5  # how often a sweep's progress is reported while workers run

RunRef = int | str | RunRecord
SweepRef = int | str | SweepRecord


def open_store(url: str | None = None) -> Experiments:
    """The store at ``url``, opened now (and created at the current schema if new).

    ``url`` is what the CLI's ``--db`` takes: ``sqlite:///FILE.db`` or
    ``postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB``; by default ``$NGRAMLM_DB``, else
    ``sqlite:///ngramlm.db`` in the working directory. Use it as a context manager, or
    call ``close()``, to release the connection."""
    exp = Experiments(url)
    exp.store  # noqa: B018 - open it now: a bad URL or an old schema fails here
    return exp


class AlreadyFinalized(ConflictError):
    """``finalize`` on a run that was finalized already: the test split is evaluated once
    per run, ever. ``evaluation`` is the recorded result (nothing was evaluated again)."""

    def __init__(self, run: RunRecord, evaluation: EvaluationRecord) -> None:
        super().__init__(
            f"run {run.id} was finalized already; the test split is evaluated once per run, "
            f"ever (recorded test loss {evaluation.test_loss:.4f} on "
            f"{evaluation.created_at:%Y-%m-%d %H:%M} UTC)"
        )
        self.run = run
        self.evaluation = evaluation


@dataclass(frozen=True)
class Samples:
    """Words sampled from a run's checkpoint at ``step``; ``marked`` pairs each word with
    where it occurs: ``train``, ``dev`` or ``new`` (a test word reads as ``new``)."""

    run: int
    step: int
    marked: tuple[tuple[str, str], ...]

    @property
    def words(self) -> list[str]:
        return [w for w, _ in self.marked]


# --- ids -------------------------------------------------------------------------------

_ID = re.compile(r"^[0-9]{1,18}$")


def parse_id(text: str | int, what: str = "run") -> int:
    """Run and sweep ids are positive integers; anything else is refused before any query."""
    if isinstance(text, bool) or (isinstance(text, int) and text < 1):
        raise InputError(f"{what} id {text!r} is not valid; give a positive number (e.g. 12)")
    if isinstance(text, int):
        return text
    if not _ID.match(text.strip()) or int(text) < 1:
        raise InputError(
            f"{what} id {text!r} is not valid; give the number shown by `ngramlm report` "
            f"(e.g. 12){' or last' if what == 'run' else ''}"
        )
    return int(text)


# --- threads ---------------------------------------------------------------------------


def check_workers(workers: int | None) -> None:
    """The API's worker count: 0 trains in this process, 1 to 256 start processes,
    None: as many as the policy finds useful (``training.threads``)."""
    if workers is not None and (isinstance(workers, bool) or not 0 <= workers <= 256):
        raise InputError(f"--workers must be between 0 (in this process) and 256, got {workers}")


def check_threads(threads: int | None) -> None:
    if threads is not None and (isinstance(threads, bool) or not 1 <= threads <= 1024):
        raise InputError(f"--threads must be between 1 and 1024, got {threads}")


def auto_threads(cfg: RunConfig) -> int:
    """The threads a run of ``cfg`` takes without ``--threads`` (``training.threads``:
    one for a small model; the usable cores that are free now for a large one)."""
    from ngramlm.training.threads import threads_for

    return threads_for(cfg)


def _short_run_warmup(model: str | None, preset: str | None, given: dict[str, Any]) -> None:
    """``--steps N`` shorter than the preset's warm-up (``--preset best``: 500 steps):
    warm up for a tenth of the run instead, as ``--epochs`` does, unless ``--warmup``
    was given. A run the preset's warm-up fits keeps it (its numbers do not move)."""
    from ngramlm.models import resolve

    steps = given.get("steps")
    if "warmup" in given or not isinstance(steps, int) or steps <= 0:
        return
    base, _ = resolve(model, preset, {**given, "steps": None}, vocab_size=27)
    if base.train is not None and base.train.warmup >= steps:
        given["warmup"] = steps // 10


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """torch's CPU threads set to ``threads`` (None: unchanged) for the block, then back."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- the handle on a store ---------------------------------------------------------------


class Experiments:
    """One store: its datasets, runs, sweeps, models and figures.

    ``Experiments(url)`` opens the store on first use (``open_store`` opens it at once);
    ``Experiments(store=...)`` wraps a ``Store`` that is already open (what the CLI
    does). Methods that train or sample import torch when called."""

    def __init__(self, url: str | None = None, *, store: Store | None = None) -> None:
        if store is not None:
            self.url = store.url.render_as_string(hide_password=False)
        else:
            self.url = url or os.environ.get("NGRAMLM_DB") or DEFAULT_URL
        self._store = store

    @property
    def store(self) -> Store:
        """The underlying ``Store`` (opened, and created at head if new, on first use)."""
        if self._store is None:
            self._store = Store(self.url)
        return self._store

    @property
    def where(self) -> str:
        """The store's name for messages (never with a password)."""
        return self.store.where

    def close(self) -> None:
        """Release the store's connections (it opens again on the next use)."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Experiments:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        from ngramlm.store.connection import mask

        return f"Experiments({self.where if self._store is not None else mask(self.url)!r})"

    # --- datasets ----------------------------------------------------------------------

    def prepare(
        self,
        path: str | Path | None = None,
        name: str | None = None,
        seed: int = DEFAULT_SEED,
        *,
        unit: str = "char",
        min_count: int = 1,
        split: str = "shuffled",
    ) -> DatasetRecord:
        """``ngramlm prepare``: read a word list (default: the bundled names) or, with
        ``unit="word"``, a corpus of one sentence a line; split it (``"shuffled"``: 80/10/10
        by line with ``random.Random(seed)``; ``"ordered:TRAIN,DEV"``: file order, by
        tokens) and record it. ``min_count``: words seen fewer times in train are
        ``<unk>``. The same content under the same name again is a no-op; other content
        under an existing name is refused."""
        from ngramlm.stages.prepare import load, record

        words = load(
            Path(path) if path is not None else None,
            name,
            seed,
            unit=unit,
            min_count=min_count,
            split=split,
        )
        return record(self.store, words).dataset

    def datasets(self) -> list[DatasetRecord]:
        """Every dataset in the store, oldest first."""
        return self.store.datasets()

    def dataset(self, name: str | DatasetRecord | None = None) -> DatasetRecord:
        """The dataset named ``name``; None: the bundled names (prepared on first use)."""
        if isinstance(name, DatasetRecord):
            return name
        return resolve_dataset(self.store, name)

    def words(self, dataset: str | DatasetRecord, split: str = "train") -> list[str]:
        """A dataset's train or dev words in split order. The test split is locked:
        only ``finalize`` evaluates on it, and no function returns its words."""
        if split not in ("train", "dev"):
            raise InputError(
                f"split {split!r}: words() gives 'train' or 'dev'; the test split is locked "
                "(finalize(run) evaluates a finished run on it, once)"
            )
        return self.store.words(self.dataset(dataset).id, split)

    # --- runs --------------------------------------------------------------------------

    def run(self, run: RunRef) -> RunRecord:
        """One run, by id, record (read again) or ``"last"`` (the newest training run)."""
        return self.store.run(self.run_id(run))

    def runs(
        self,
        dataset: str | DatasetRecord | None = None,
        sweep: SweepRef | None = None,
        status: str | None = None,
        kind: str | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, filtered like ``ngramlm report``: by dataset name, sweep,
        status (``running``, ``finished``, ``failed``, ``killed``, ``crashed``: a
        running run with a stale heartbeat) and kind (``train`` or ``lr_find``)."""
        if status is not None and status not in STATUSES:
            raise InputError(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
        if kind is not None and kind not in KINDS:
            raise InputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if isinstance(dataset, str):
            check_name(dataset)
        if sweep is not None:
            sid = self.sweep_id(sweep)
            self.store.sweep(sid)  # an unknown sweep is refused by name
            found = sorted(self.store.sweep_runs(sid), key=lambda r: -r.id)
        else:
            found = self.store.runs()
        if dataset is not None:
            ds = self.dataset(dataset)
            found = [r for r in found if r.dataset_id == ds.id]
        return [
            r
            for r in found
            if (kind is None or r.kind == kind) and (status is None or r.status == status)
        ]

    def report_rows(
        self,
        dataset: str | DatasetRecord | None = None,
        sweep: SweepRef | None = None,
        status: str | None = None,
        kind: str | None = None,
        *,
        sort: str = "id",
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The rows of ``ngramlm report --json/--csv`` (fields ``report.FIELDS``) for the
        runs ``runs`` selects; ``sort`` is ``dev``, ``train``, ``id`` or ``time``."""
        if sort not in SORTS:
            raise InputError(f"--sort must be one of {', '.join(SORTS)}, got {sort!r}")
        if limit is not None and limit < 1:
            raise InputError(f"--limit must be at least 1, got {limit}")
        selected = self.runs(dataset, sweep, status, kind)
        return rows(selected, self.store.evaluations(), sort=sort, limit=limit)

    def runs_frame(
        self,
        dataset: str | DatasetRecord | None = None,
        sweep: SweepRef | None = None,
        status: str | None = None,
        kind: str | None = None,
        *,
        sort: str = "id",
        limit: int | None = None,
    ) -> pd.DataFrame:
        """``report_rows`` as a pandas DataFrame whose columns are exactly ``report
        --csv``'s. Needs pandas: ``pip install 'ngramlm[pandas]'``."""
        pd = _pandas()
        data = self.report_rows(dataset, sweep, status, kind, sort=sort, limit=limit)
        return pd.DataFrame(data, columns=list(FIELDS))

    def curve(self, run: RunRef) -> list[MetricRecord]:
        """The run's curve: a point per evaluation (step, elapsed_s, lr, batch_loss,
        train_loss, dev_loss; an lr-find run has (lr, batch_loss) per step)."""
        return self.store.metrics(self.run_id(run))

    def curve_frame(self, run: RunRef) -> pd.DataFrame:
        """``curve`` as a DataFrame (columns ``CURVE_FIELDS``). Needs pandas."""
        pd = _pandas()
        points = self.curve(run)
        return pd.DataFrame(
            [[getattr(p, f) for f in CURVE_FIELDS] for p in points], columns=list(CURVE_FIELDS)
        )

    def evaluation(self, run: RunRef) -> EvaluationRecord | None:
        """The run's recorded test evaluation, if it was finalized (reads nothing of the
        test split)."""
        return self.store.evaluation(self.run_id(run))

    # --- models --------------------------------------------------------------------------

    def load_model(self, run: RunRef) -> NeuralLM | CountModel | BackoffModel:
        """The run's model from its last checkpoint, on the CPU, with its vocabulary.

        A network (``mlp``, ``wavenet``) is its ``torch.nn.Module`` in eval mode:
        ``logits, _ = model(X)`` is the lecture's forward (``forward(idx, targets=None)``
        returns ``(logits, loss)``), ``model.logits(X)`` the same logits without a
        gradient. A count model (``bigram``, ``kneser-ney``) is its ``CountModel``, not a
        Module, with the same ``logits`` (an imported ``arpa`` run: its ``BackoffModel``).
        All have ``block_size``, ``vocab``, ``encode("emma")`` (ids), ``decode(ids)``
        (text) and ``mean_nll(X, Y)``."""
        from ngramlm import checkpoint

        rid = self.run_id(run)
        ckpt = self.store.checkpoint(rid)
        if ckpt is None:
            record = self.store.run(rid)
            raise NotFoundError(
                f"run {rid} has no checkpoint yet (a {record.kind} run, status "
                f"{record.status}); load it once it has trained"
            )
        loaded = checkpoint.load_model(ckpt.data, ckpt.sha256)
        model: NeuralLM | CountModel | BackoffModel = loaded.model  # type: ignore[assignment]
        model.vocab = loaded.tokens  # characters or words, as the dataset's unit
        return model

    def embeddings(self, run: RunRef) -> tuple[list[str], np.ndarray]:
        """A network's tokens (index 0 is the boundary: ``.`` for characters, ``</s>``
        for words) and its embedding table C as an array (V, n_embd); a word model's
        ``TOP_WORDS`` commonest tokens only; refused for count models."""
        labels, C, unit = self._embedding_table(run)
        if unit == "word":
            # A word vocabulary is in descending train count: its first rows (the
            # boundary and the commonest words) keep the figure readable.
            return labels[:TOP_WORDS], C[:TOP_WORDS]
        return labels, C

    def _embedding_table(self, run: RunRef) -> tuple[list[str], np.ndarray, str]:
        """Every token, the whole embedding table C (V, n_embd) and the unit, from the
        run's checkpoint; refused without a checkpoint and for count models."""
        from ngramlm import checkpoint
        from ngramlm.stages.report import counted

        record = self.run(run)
        ckpt = self.store.checkpoint(record.id)
        if ckpt is None:
            raise InputError(
                f"run {record.id} has no checkpoint (a {record.kind} run, status "
                f"{record.status}); only trained runs have embeddings to plot"
            )
        if counted(record):
            raise InputError(
                f"run {record.id} is a {record.model} model: it counts n-grams and has no "
                "embeddings; plot a trained network's (mlp, wavenet)"
            )
        loaded = checkpoint.from_bytes(ckpt.data, ckpt.sha256)
        C = loaded.state.model["C"].detach().to("cpu").double().numpy()  # (V, n_embd)
        vocab = Vocab(loaded.vocab, loaded.unit)
        return [vocab.boundary, *vocab.tokens], C, vocab.unit

    def neighbours(
        self, run: RunRef, words: Sequence[str] | None = None, k: int = 5
    ) -> list[tuple[str, list[tuple[str, float]]]]:
        """What a network's embeddings learnt (Bengio et al.'s point): for each of ``words``
        (default: the dataset's ten commonest tokens, boundary and ``<unk>`` aside), its
        ``k`` nearest tokens by cosine similarity of their embedding rows."""
        import numpy as np

        if isinstance(k, bool) or not 1 <= k <= 100:
            raise InputError(f"k must be between 1 and 100, got {k}")
        record = self.run(run)
        every, C, _ = self._embedding_table(record)  # one checkpoint read, whole table
        unit = C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)
        if words is None:
            words = [t for t in every[1:] if t != UNK][:10]
        index = {t: i for i, t in enumerate(every)}
        out = []
        for w in words:
            if w not in index:
                raise InputError(f"{w!r} is not in run {record.id}'s vocabulary")
            sims = unit @ unit[index[w]]
            sims[index[w]] = -np.inf
            best = np.argsort(-sims)[:k]
            out.append((w, [(every[j], float(sims[j])) for j in best]))
        return out

    def sample(
        self,
        run: RunRef,
        n: int = 20,
        seed: int = 42,
        temperature: float = 1.0,
        top_k: int | None = None,
        prefix: str = "",
    ) -> list[str]:
        """``ngramlm sample``: ``n`` words from the run's last checkpoint, drawn with a
        generator seeded by ``seed`` (the same run and seed give the same words);
        temperature 0 is greedy, ``top_k`` keeps the k likeliest, every word starts
        with ``prefix``."""
        return self.samples(run, n, seed, temperature, top_k, prefix).words

    def samples(
        self,
        run: RunRef,
        n: int = 20,
        seed: int = 42,
        temperature: float = 1.0,
        top_k: int | None = None,
        prefix: str = "",
    ) -> Samples:
        """``sample``'s words, each marked ``train``, ``dev`` or ``new`` as the CLI
        prints them (whether a word is in the test split is never revealed)."""
        import torch

        from ngramlm.sampling import sample

        if isinstance(n, bool) or not 1 <= n <= MAX_SAMPLES:
            raise InputError(f"-n must be between 1 and {MAX_SAMPLES}, got {n}")
        if seed < 0:
            raise InputError(f"--seed must be >= 0, got {seed}")
        rid = self.run_id(run)
        record = self.store.run(rid)
        if self.store.checkpoint(rid) is None:
            raise NotFoundError(f"run {rid} has no checkpoint yet; sample once it has trained")
        model = self.load_model(rid)
        ckpt = self.store.checkpoint(rid)
        assert ckpt is not None and model.vocab is not None
        g = torch.Generator().manual_seed(seed)
        words = sample(
            model, model.vocab, n, g, temperature=temperature, top_k=top_k, prefix=prefix
        )
        # Mark only what training could see: a word in the test split reads as "new"; a
        # sentence is compared as the model sees it (rare words as <unk>).
        vocab = model.vocab
        seen = {vocab.normalize(w): "train" for w in self.store.words(record.dataset_id, "train")}
        for w in self.store.words(record.dataset_id, "dev"):
            seen.setdefault(vocab.normalize(w), "dev")
        return Samples(rid, ckpt.step, tuple((w, seen.get(w, "new")) for w in words))

    # --- training ----------------------------------------------------------------------

    def config(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        model: str | None = None,
        preset: str | None = None,
        **overrides: Any,
    ) -> tuple[DatasetRecord, RunConfig, str | None]:
        """The dataset, the validated config and the preset that ``train`` would use.
        Options are checked before the store is touched (nothing is written for a bad
        one, and the bundled names are prepared only when ``dataset`` is None)."""
        from ngramlm.models import resolve

        given = {k: v for k, v in overrides.items() if v is not None}
        if "epochs" in given and "steps" in given:
            raise InputError("give --steps or --epochs, not both (an epoch sets the steps)")
        if "steps" in given:
            _short_run_warmup(model, preset, given)
        first, _ = resolve(model, preset, given, vocab_size=27)
        if isinstance(dataset, str):
            check_name(dataset)
        if dataset is None:  # a mixture: the dataset of the runs it mixes
            from ngramlm.stages.run import components_dataset

            dataset = components_dataset(self.store, first)
        ds = self.dataset(dataset)
        cfg, used = resolve(model, preset, given, ds.vocab_size)
        if cfg.train is not None and cfg.train.epochs > 0 and "steps" not in given:
            cfg = self._steps_from_epochs(ds, cfg, model, preset, given)
        return ds, cfg, used

    def _steps_from_epochs(
        self,
        ds: DatasetRecord,
        cfg: RunConfig,
        model: str | None,
        preset: str | None,
        given: dict[str, Any],
    ) -> RunConfig:
        """``--epochs E``: the steps of E passes over this dataset's train predictions
        (every token and one boundary a line), validated again with them."""
        from ngramlm.config import steps_for_epochs
        from ngramlm.models import resolve

        assert cfg.train is not None
        vocab = Vocab(ds.vocab, ds.unit)
        n_train = sum(len(vocab.split(w)) + 1 for w in self.store.words(ds.id, "train"))
        steps = steps_for_epochs(cfg.train, n_train)
        values = {**given, "epochs": cfg.train.epochs, "steps": steps}
        if not cfg.train.eval_every:  # evaluate once an epoch: full-split losses cost
            values["eval_every"] = steps_for_epochs(replace(cfg.train, epochs=1.0), n_train)
        if "warmup" not in given and cfg.train.warmup >= steps:  # a preset's, on a short run
            values["warmup"] = steps // 10
        return resolve(model, preset, values, ds.vocab_size)[0]

    def train(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        model: str | None = None,
        preset: str | None = None,
        name: str | None = None,
        threads: int | None = None,
        progress: Progress | None = None,
        **overrides: Any,
    ) -> RunRecord:
        """``ngramlm train``: train (or count) one model and record the run, its curve
        and checkpoints. ``model`` is the family (``mlp``, ``wavenet``, ``bigram``,
        ``kneser-ney``, ``modified-kn``, ``mixture``), ``preset`` a preset (``lecture``,
        ``default``, ``best``, ``bengio``, ``words``, ``wavenet``); ``overrides`` are the train
        options by their Python names (``steps=2000``, ``n_hidden=100``, ``order=4``...),
        refused by name when the family does not take them. ``threads`` as
        ``--threads`` (default: one thread for small models; restored afterwards).
        Ctrl-C (a kernel interrupt) stops at the next step with a checkpoint: the run is
        returned with status ``killed``."""
        return self.train_outcome(
            dataset,
            model=model,
            preset=preset,
            name=name,
            threads=threads,
            progress=progress,
            **overrides,
        ).run

    def train_outcome(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        model: str | None = None,
        preset: str | None = None,
        name: str | None = None,
        threads: int | None = None,
        progress: Progress | None = None,
        **overrides: Any,
    ) -> Outcome:
        """``train``, returning the runner's ``Outcome`` (the run and this session's
        curve points): what ``ngramlm train --json`` prints."""
        from ngramlm.stages.run import start_run, stop_on_signals

        check_threads(threads)
        ds, cfg, used = self.config(dataset, model=model, preset=preset, **overrides)
        with _torch_threads(threads or auto_threads(cfg)), stop_on_signals() as stop:
            return start_run(self.store, ds, cfg, preset=used, name=name, progress=progress,
                             stop=stop)  # fmt: skip

    def resume(
        self, run: RunRef, *, threads: int | None = None, progress: Progress | None = None
    ) -> RunRecord:
        """``ngramlm train --resume``: continue a killed, failed or crashed run from its
        last checkpoint; it ends with the losses of an uninterrupted run."""
        return self.resume_outcome(run, threads=threads, progress=progress).run

    def resume_outcome(
        self, run: RunRef, *, threads: int | None = None, progress: Progress | None = None
    ) -> Outcome:
        """``resume``, returning the runner's ``Outcome``."""
        from ngramlm.models import config_from_dict
        from ngramlm.stages.run import resume_run, stop_on_signals

        check_threads(threads)
        rid = self.run_id(run)
        if threads is None:  # as `train` chooses, for the recorded config
            threads = auto_threads(config_from_dict(self.store.run(rid).config))
        with _torch_threads(threads), stop_on_signals() as stop:
            return resume_run(self.store, rid, progress=progress, stop=stop)

    def lr_find(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        min_lr: float = 1e-3,
        max_lr: float = 1.0,
        steps: int = 1000,
        model: str | None = None,
        preset: str | None = None,
        name: str | None = None,
        threads: int | None = None,
        **overrides: Any,
    ) -> RunRecord:
        """``ngramlm lr-find``: the lecture's learning-rate range test (one SGD step per
        rate, log-spaced from ``min_lr`` to ``max_lr``), recorded as a run of kind
        ``lr_find`` whose ``extra["suggested_lr"]`` is the suggestion. The lecture's
        model unless ``model``/``preset`` say otherwise."""
        from ngramlm.stages.run import lr_find
        from ngramlm.training.lrfind import validate_range

        for key in ("lr", "lr_schedule", "warmup", "decay_at", "decay_factor"):
            if key in overrides:
                raise InputError(f"lr-find sets every step's rate itself: drop {key}")
        check_threads(threads)
        validate_range(min_lr, max_lr, steps)
        if model is None and preset is None:
            preset = "lecture"  # the lecture's model, as in makemore part 2
        given = {**overrides, "steps": steps, "lr": max_lr, "lr_schedule": "constant", "warmup": 0}
        ds, cfg, _ = self.config(dataset, model=model, preset=preset, **given)
        with _torch_threads(threads or auto_threads(cfg)):
            record, _, _, _ = lr_find(self.store, ds, cfg, min_lr=min_lr, max_lr=max_lr, name=name)
        return record

    # --- sweeps ------------------------------------------------------------------------

    def create_sweep(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        lr_grid: str | Sequence[float] | None = None,
        grid: Mapping[str, Sequence[Any]] | Sequence[str] | None = None,
        seeds: int = 1,
        model: str | None = None,
        preset: str | None = None,
        name: str | None = None,
        **overrides: Any,
    ) -> SweepRecord:
        """Write a sweep and all its points (lr x grid x seed replicates), training
        nothing. ``lr_grid``: ``"0.01,0.1,1"``, ``"1e-3:1:7"`` or a list of floats;
        ``grid``: ``{"n_hidden": [100, 200]}`` or ``["n_hidden=100,200"]``. Bad grids
        are refused before anything is written."""
        from ngramlm.models import resolve
        from ngramlm.stages import sweep as core

        if lr_grid is None and not grid:
            raise InputError("give --lr-grid (e.g. 0.01,0.1,1) and/or --grid KEY=V1,V2")
        given = {k: v for k, v in overrides.items() if v is not None}
        if lr_grid is not None and not isinstance(lr_grid, str):
            lr_grid = ",".join(str(x) for x in lr_grid)
        lrs = core.parse_lr_grid(lr_grid) if lr_grid is not None else []
        items = [grid] if isinstance(grid, str) else grid or []
        if isinstance(items, Mapping):
            items = [f"{k}={','.join(str(v) for v in vs)}" for k, vs in items.items()]
        if "steps" in given:
            _short_run_warmup(model, preset, given)
        base_check, _ = resolve(model, preset, given, vocab_size=27)
        parsed = core.parse_grid(list(items), base_check)
        if "lr" in parsed:
            if lrs:
                raise InputError(
                    "give the learning rates with --lr-grid or --grid lr=..., not both"
                )
            lrs = parsed.pop("lr")
        if not lrs and base_check.train is not None:
            lrs = [base_check.train.lr]
        core.expand(base_check, lrs, parsed, seeds)  # refuse bad grids before writing
        ds, base, _ = self.config(dataset, model=model, preset=preset, **given)
        return core.create(self.store, ds, base, lrs, parsed, seeds, name)

    def sweep_plan(
        self,
        sweep: SweepRef,
        *,
        workers: int | None = None,
        threads: int | None = None,
        resume: bool = False,
    ) -> SweepPlan:
        """The workers, threads per worker and batched points a worker takes that
        ``run_sweep`` would use for the points left (``workers``/``threads``: the user's;
        the rest as ``ngramlm.training.threads`` decides)."""
        from ngramlm.stages import sweep as core

        check_workers(workers)
        check_threads(threads)
        sid = self.sweep_id(sweep)
        self.store.sweep(sid)  # refuse an unknown sweep by name
        return core.plan(self.store, sid, resume=resume, workers=workers, threads=threads)

    def run_sweep(
        self,
        sweep: SweepRef,
        *,
        workers: int | None = None,
        threads: int | None = None,
        resume: bool = False,
        on_poll: Callable[[SweepStatus], None] | None = None,
    ) -> SweepStatus:
        """Train a sweep's open points (``ngramlm sweep --join``; ``resume=True``: also
        its killed and crashed points, as ``--resume``) with ``workers`` local
        processes of ``threads`` torch threads each (default: ``sweep_plan``'s, one
        single-threaded worker a usable core, at most one a point), or in this process
        when ``workers`` is 0. Workers are processes of their own: a script without an
        ``if __name__ == "__main__"`` guard is not run again, and they stop when this
        process dies. ``on_poll`` is called with the sweep's status while they run.
        Ctrl-C stops every worker cleanly (its points ``killed``). A worker that dies
        has its points marked crashed, and ``WorkersDied`` (an ``NgramlmError``) says
        how many points are left. Returns the sweep's status at the end."""
        from ngramlm.stages import sweep as core

        plan = self.sweep_plan(sweep, workers=workers, threads=threads, resume=resume)
        sid = self.sweep_id(sweep)
        if workers == 0:
            from ngramlm.stages.run import stop_on_signals

            with _torch_threads(plan.threads), stop_on_signals() as stop:
                core.work(self.store, sid, resume=resume, stop=stop, batch_size=plan.batch_size)
            return core.status(self.store, sid)
        procs = core.start_workers(self.url, sid, plan, resume)
        with _forward_signals(procs):
            return core.supervise(self.store, sid, procs, on_poll, POLL_S)

    def sweep(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        lr_grid: str | Sequence[float] | None = None,
        grid: Mapping[str, Sequence[Any]] | Sequence[str] | None = None,
        seeds: int = 1,
        workers: int | None = None,
        threads: int | None = None,
        model: str | None = None,
        preset: str | None = None,
        name: str | None = None,
        **overrides: Any,
    ) -> SweepRecord:
        """``ngramlm sweep``: ``create_sweep`` then ``run_sweep``; every point is an
        ordinary run of the sweep (``runs(sweep=...)``). ``workers`` and ``threads``
        as ``run_sweep``'s."""
        check_workers(workers)
        check_threads(threads)
        record = self.create_sweep(
            dataset,
            lr_grid=lr_grid,
            grid=grid,
            seeds=seeds,
            model=model,
            preset=preset,
            name=name,
            **overrides,
        )
        self.run_sweep(record, workers=workers, threads=threads)
        return self.store.sweep(record.id)

    def create_search(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        search: str = "tpe",
        space: Sequence[str] | Mapping[str, str] | None = None,
        trials: int | None = None,
        budget: str | None = None,
        prune: str | None = None,
        seed: int = 0,
        model: str | None = None,
        preset: str | None = None,
        name: str | None = None,
        **overrides: Any,
    ) -> SweepRecord:
        """Write a search (a sweep whose points its trials propose), training nothing.
        ``search``: ``tpe``, ``random`` or ``grid``; ``space``: ``["lr=1e-3:1e-1:log",
        "n_hidden=100,200"]`` or ``{"lr": "1e-3:1e-1:log"}``, None: the family's default
        for the dataset's unit (``docs/search.md``); ``trials`` and/or ``budget``
        (``"30m"``); ``prune="halving"``: successive halving at 1/9 and 1/3 of the steps.
        Bad input is refused before anything is written."""
        from ngramlm.models import family, resolve
        from ngramlm.stages import search as core
        from ngramlm.stages.space import parse_budget, parse_space

        if budget is not None and not isinstance(budget, str):
            raise InputError(f"--budget {budget!r} is not a duration; give e.g. 90s, 30m or 2h")
        budget_s = parse_budget(budget) if budget is not None else None
        items = [f"{k}={v}" for k, v in space.items()] if isinstance(space, Mapping) else space
        given = {k: v for k, v in overrides.items() if v is not None}
        first, _ = resolve(model, preset, given, vocab_size=27)
        # refuse bad input before the dataset is read (or the bundled names prepared)
        probe = items or [
            f"{k}={v}" for k, v in family(first.family).search_space("char")[1].items()
        ]
        core.check(first, parse_space(probe, first), search, trials, budget_s, prune)
        if isinstance(dataset, str):
            check_name(dataset)
        ds = self.dataset(dataset)
        if not items:
            default_preset, defaults = family(first.family).search_space(ds.unit)
            items = [f"{k}={v}" for k, v in defaults.items()]
            if model is None and preset is None:
                preset = default_preset
        ds, base, _ = self.config(ds, model=model, preset=preset, **given)
        dims = parse_space(items, base)
        return core.create(
            self.store,
            ds,
            base,
            dims,
            sampler=search,
            trials=trials,
            budget_s=budget_s,
            prune=prune,
            seed=seed,
            name=name,
        )

    def search(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        search: str = "tpe",
        space: Sequence[str] | Mapping[str, str] | None = None,
        trials: int | None = None,
        budget: str | None = None,
        prune: str | None = None,
        workers: int = 1,
        seed: int = 0,
        model: str | None = None,
        preset: str | None = None,
        name: str | None = None,
        **overrides: Any,
    ) -> SweepRecord:
        """``ngramlm sweep --search``: ``create_search`` then ``run_sweep`` (which also
        continues a search: ``resume=True`` after a kill, or from another machine on a
        PostgreSQL store). Every trial is an ordinary run of the sweep;
        ``search_trials``/``search_frame`` list them."""
        check_workers(workers)
        record = self.create_search(
            dataset,
            search=search,
            space=space,
            trials=trials,
            budget=budget,
            prune=prune,
            seed=seed,
            model=model,
            preset=preset,
            name=name,
            **overrides,
        )
        self.run_sweep(record, workers=workers)
        return self.store.sweep(record.id)

    def search_trials(self, sweep: SweepRef) -> list[dict[str, Any]]:
        """A search's trials in the order they started: run, status, dev loss (a pruned
        trial's where it stopped), its parameters, ``minutes`` from the search's start to
        its end, ``best_so_far``."""
        from ngramlm.stages import search as core

        sw = self._search(sweep)
        return core.trial_rows(sw, self.store.sweep_runs(sw.id), self.store.sweep_curves(sw.id))

    def search_frame(self, sweep: SweepRef) -> pd.DataFrame:
        """``search_trials`` as a DataFrame. Needs pandas."""
        return _pandas().DataFrame(self.search_trials(sweep))

    def search_importance(self, sweep: SweepRef) -> dict[str, float]:
        """Each searched parameter's importance for the dev loss (Optuna's evaluator over
        the finished trials; empty with fewer than two)."""
        from ngramlm.stages import search as core

        sw = self._search(sweep)
        return core.importance(sw, self.store.sweep_runs(sw.id), self.store.sweep_curves(sw.id))

    def _search(self, sweep: SweepRef) -> SweepRecord:
        sw = self.sweep_record(sweep)
        if "search" not in sw.spec:
            raise InputError(f"sweep {sw.id} is a grid, not a search; report --sweep shows it")
        return sw

    def sweep_record(self, sweep: SweepRef) -> SweepRecord:
        """One sweep, by id or record."""
        return self.store.sweep(self.sweep_id(sweep))

    def sweep_status(self, sweep: SweepRef) -> SweepStatus:
        """A sweep and its runs now (what ``run_sweep`` returns at its end)."""
        from ngramlm.stages import sweep as core

        return core.status(self.store, self.sweep_id(sweep))

    # --- the locked test split -----------------------------------------------------------

    def export_arpa(self, run: RunRef, path: str | Path) -> ArpaExport:
        """``ngramlm export RUN --arpa FILE``: a count run's model (bigram, kneser-ney,
        modified-kn, arpa) as an ARPA back-off file that KenLM, SRILM and decoders read
        (docs/arpa.md). Refused for a network, a run without a model, a missing folder."""
        from ngramlm.stages.arpa import export_arpa

        return export_arpa(self.store, self.run_id(run), Path(path))

    def import_arpa(
        self, path: str | Path, dataset: str | None = None, *, name: str | None = None
    ) -> RunRecord:
        """``ngramlm import FILE.arpa --dataset NAME``: an ARPA back-off model as a
        finished ``arpa`` run on the dataset, scored from the file's tables (train and dev
        losses recorded; test only through ``finalize``). A file that breaks the format
        (a missing section, wrong header counts, a probability above 1, an n-gram whose
        context is absent) or whose vocabulary is not the dataset's is refused before
        anything is written."""
        from ngramlm.stages.arpa import import_arpa

        ds = self.dataset(dataset)
        return import_arpa(self.store, Path(path), ds.name, name)

    def finalize(self, run: RunRef, yes: bool = False) -> EvaluationRecord:
        """``ngramlm finalize``: evaluate a finished training run's final checkpoint on
        the test split and record it; once per run, ever (``AlreadyFinalized``, a
        ``ConflictError``, afterwards, carrying the recorded result). Refused: runs
        not finished, lr-find runs, a checkpoint altered since training, and a sweep
        run that is not its sweep's best on dev unless ``yes`` (choosing by test loss
        leaks the test set into the choice)."""
        from ngramlm.stages.finalize import finalize

        result = finalize(self.store, self.run_id(run), yes=yes)
        if not result.created:
            raise AlreadyFinalized(result.run, result.evaluation)
        return result.evaluation

    # --- figures -----------------------------------------------------------------------

    def plot_curves(self, *runs: RunRef, log_x: bool = False, x: str = "step") -> Figure:
        """Train (dashed) and dev (solid) loss against step, log y axis, the runs
        overlaid (a count model's losses are labelled lines beside the networks):
        ``ngramlm plot curves``. ``x="fraction"`` aligns runs by the fraction of their
        steps; ``log_x`` puts the step axis on a log scale."""
        from ngramlm import plots

        if not runs:
            raise InputError("plot_curves needs at least one run")
        ids = list(dict.fromkeys(self.run_id(r) for r in runs))  # in order, each once
        series = [(self.store.run(i), self.store.metrics(i)) for i in ids]
        return plots.curves_figure(series, log_x=log_x, x=x)

    def plot_lr_find(self, run: RunRef) -> Figure:
        """An lr-find run's loss against the learning rate, smoothed, with the suggested
        rate: ``ngramlm plot lr-find``."""
        from ngramlm import plots

        rid = self.run_id(run)
        return plots.lr_find_figure(self.store.run(rid), self.store.metrics(rid))

    def plot_embeddings(self, run: RunRef) -> Figure:
        """A network's character embeddings in 2-D (PCA when n_embd > 2), each point its
        character: ``ngramlm plot embeddings``."""
        from ngramlm import plots

        record = self.run(run)
        chars, C = self.embeddings(record)
        return plots.embeddings_figure(record, chars, C)

    def plot_search(self, sweep: SweepRef) -> Figure:
        """A search's best dev loss against wall time and its dev loss against each
        parameter: ``ngramlm plot search``."""
        from ngramlm import plots

        sw = self._search(sweep)
        return plots.search_figure(sw, self.search_trials(sw))

    def plot_sweep(self, sweep: SweepRef) -> Figure:
        """A sweep's dev loss against its swept value, a line per value of the other
        grid key: ``ngramlm plot sweep``."""
        from ngramlm import plots

        sid = self.sweep_id(sweep)
        return plots.sweep_figure(self.store.sweep(sid), self.store.sweep_runs(sid))

    # --- helpers -----------------------------------------------------------------------

    def run_id(self, run: RunRef) -> int:
        """The id of a run given as its id, its record or ``"last"``."""
        if isinstance(run, RunRecord):
            return run.id
        if isinstance(run, str) and run.strip() == "last":
            newest = self.store.runs(kind="train", limit=1)
            if not newest:
                raise NotFoundError(
                    f"{self.store.where} holds no training run yet; `ngramlm train` first"
                )
            return newest[0].id
        return parse_id(run, "run")

    @staticmethod
    def sweep_id(sweep: SweepRef) -> int:
        """The id of a sweep given as its id or its record."""
        if isinstance(sweep, SweepRecord):
            return sweep.id
        return parse_id(sweep, "sweep")


@contextmanager
def _forward_signals(procs: Sequence[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Ctrl-C and SIGTERM reach the sweep's workers as SIGTERM (each saves a checkpoint
    and marks its point killed); they are waited for however the block ends."""
    import signal

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


class MissingExtra(NgramlmError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


def _pandas() -> Any:
    """pandas, or an error naming the extra that installs it."""
    try:
        import pandas
    except ImportError:
        raise MissingExtra(
            "pandas is not installed; install it with pip install 'ngramlm[pandas]' "
            "(or use report_rows()/curve(), which need no pandas)"
        ) from None
    return pandas
