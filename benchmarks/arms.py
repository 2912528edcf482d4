"""One benchmark arm per call, run in a fresh spawned process by ``__main__``."""

from __future__ import annotations

import contextlib
import io
import resource
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from ngramlm.data import Split, Vocab
    from ngramlm.store import Store
    from ngramlm.store.records import DatasetRecord


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _examples(
    words_path: str,
) -> tuple[Vocab, Split, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    from ngramlm.data import Vocab, build_examples, read_words, split_words

    words = read_words(Path(words_path))
    split = split_words(words, 42)
    vocab = Vocab.from_words(words)
    return (
        vocab,
        split,
        (*build_examples(split.train, vocab, 3), *build_examples(split.dev, vocab, 3)),
    )


def _store_with(words_path: str, tmp: str) -> tuple[Store, DatasetRecord]:
    from ngramlm.stages.prepare import prepare
    from ngramlm.store import Store

    store = Store(f"sqlite:///{tmp}/bench.db")
    ds = prepare(store, Path(words_path), "bench", 42, unit="char").dataset
    return store, ds


def _api() -> tuple[Any, Any, Any, Any]:
    """(preset_config, start_run, Examples, train) of the ngramlm on sys.path: this one,
    or an earlier checkout given to ``--against`` (before the model-family interface,
    configs came from ``config.resolve``, the loop from ``engine``, runs from ``train``)."""
    try:
        from ngramlm.models import preset_config
        from ngramlm.training.loop import Examples, train
    except ImportError:
        from ngramlm.engine import Examples, train  # type: ignore[no-redef]

        from ngramlm.config import resolve as preset_config  # type: ignore[attr-defined,no-redef]
        from ngramlm.training.loop import start_run as old_run  # type: ignore[attr-defined]

        return preset_config, old_run, Examples, train
    try:
        from ngramlm.stages.plan import Plan
    except ImportError:  # before the plan: start_run took the dataset and config
        from ngramlm.stages.run import start_run as before_plan

        return preset_config, before_plan, Examples, train
    from ngramlm.stages.run import start_run as run_plan

    def start_run(s: Any, ds: Any, cfg: Any, preset: str | None = None) -> Any:
        return run_plan(s, Plan.of(ds, cfg, preset=preset))

    return preset_config, start_run, Examples, train


def use_source(path: str | None) -> None:
    """Pool initializer: import ngramlm from ``path`` (an earlier checkout) in this process."""
    if path:
        import sys

        sys.path.insert(0, path)


def run_arm(name: str, kw: dict[str, Any]) -> dict[str, Any]:
    if "threads" in kw:
        torch.set_num_threads(kw["threads"])
    return globals()[f"arm_{name}"](**kw)


def arm_baseline(words: str, steps: int, threads: int) -> dict[str, Any]:
    from benchmarks import baseline

    _, _, ex = _examples(words)
    r = baseline.run(*ex, steps=steps)
    return {**r, "steps_per_s": steps / r["train_seconds"], "peak_mb": _peak_mb()}


def _train(words: str, steps: int, preset: str, store: bool) -> dict[str, Any]:
    preset_config, start_run, Examples, train = _api()

    with tempfile.TemporaryDirectory() as tmp:
        s, ds = _store_with(words, tmp)
        cfg = preset_config(preset, {"steps": steps}, ds.vocab_size)
        t0 = time.perf_counter()
        if store:
            out = start_run(s, ds, cfg, preset=preset)
            points, tr, dv = out.result.points, out.run.train_loss, out.run.dev_loss
        else:  # the same work without the store: examples built from the file, no writes
            _, _, ex = _examples(words)
            res = train(cfg, Examples(*ex), torch.device("cpu"))
            points, tr, dv = res.points, res.train_loss, res.dev_loss
        wall = time.perf_counter() - t0
        s.close()
    reach = next((p.elapsed_s for p in points if (p.dev_loss or 9) <= 2.17), None)
    return {"steps": steps, "wall_seconds": wall, "steps_per_s": steps / wall,
            "train_loss": tr, "dev_loss": dv, "seconds_to_2_17": reach,
            "peak_mb": _peak_mb()}  # fmt: skip


def arm_lecture(words: str, steps: int, threads: int) -> dict[str, Any]:
    return _train(words, steps, "lecture", store=True)


def arm_engine_only(words: str, steps: int, threads: int) -> dict[str, Any]:
    return _train(words, steps, "lecture", store=False)


def arm_default_to_217(words: str, steps: int, threads: int) -> dict[str, Any]:
    return _train(words, steps, "default", store=True)


def arm_sweep8(words: str, steps: int, threads: int) -> dict[str, Any]:
    import threading

    from ngramlm.stages import sweep

    preset_config = _api()[0]
    with tempfile.TemporaryDirectory() as tmp:
        s, ds = _store_with(words, tmp)
        base = preset_config("lecture", {"steps": steps}, ds.vocab_size)
        try:
            from ngramlm.stages.grid import parse_lr_grid
        except ImportError:  # an earlier checkout: it lived in the sweep module
            parse_lr_grid = getattr(sweep, "parse_lr_grid")  # noqa: B009
        lrs = parse_lr_grid("0.01:1:8")
        t0 = time.perf_counter()
        sw = sweep.create(s, ds, base, lrs, {}, 1, "bench")
        sweep.work(s, sw.id, resume=False, stop=threading.Event())
        wall = time.perf_counter() - t0
        st = sweep.status(s, sw.id)
        best = st.best
        s.close()
    return {"points": len(lrs), "finished": st.done, "wall_seconds": wall,
            "steps_per_s": len(lrs) * steps / wall,
            "train_loss": best.train_loss if best else None,
            "dev_loss": best.dev_loss if best else None, "peak_mb": _peak_mb()}  # fmt: skip


def arm_report10k(runs: int) -> dict[str, Any]:
    import json
    import subprocess
    import sys

    import sqlalchemy as sa

    from ngramlm.cli import main
    from ngramlm.models import preset_config
    from ngramlm.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/report.db"
        Store(url).close()
        cfg = preset_config("default").to_json()
        now = "2026-11-28 00:00:00.000000"
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO datasets (id, name, sha256, source_path, seed, vocab, n_words,"
                " n_train, n_dev, n_test, n_duplicates, created_at) VALUES"
                f" (1, 'bench', 'x', 'x', 42, '[]', 10, 8, 1, 1, 0, '{now}')"
            )
            conn.exec_driver_sql(
                "INSERT INTO runs (id, dataset_id, kind, status, config, config_hash, seed,"
                " block_size, n_embd, n_hidden, n_layers, batch_size, steps, optimizer, lr,"
                " created_at, heartbeat_at, steps_done, train_seconds, train_loss, dev_loss,"
                " host,"
                " pid, version) VALUES (?, 1, 'train', 'finished', ?, 'h', 42, 3, 10, 200, 1, 32,"
                f" 200000, 'sgd', 0.1, '{now}', '{now}', 200000, 60.0, 2.1, 2.15, 'h', 1, '0.1')",
                [(i, cfg) for i in range(1, runs + 1)],
            )
            conn.exec_driver_sql(
                "INSERT INTO metrics (run_id, step, elapsed_s, lr, batch_loss, train_loss,"
                " dev_loss) VALUES (?, ?, 1.0, 0.1, 2.2, 2.2, 2.2)",
                [(i, k * 10_000) for i in range(1, runs + 1) for k in range(1, 21)],
            )
        engine.dispose()

        def timed(*args: str) -> float:
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):
                main(["--db", url, *args])
            if "--json" in args:
                assert len(json.loads(out.getvalue())["runs"]) == runs
            return time.perf_counter() - t0

        timed("report")  # warm the imports

        def median(*args: str) -> float:
            return sorted(timed(*args) for _ in range(5))[2]

        table_s = median("report")
        json_s = median("report", "--json")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ngramlm", "--db", url, "report"], check=True,
                       capture_output=True)  # fmt: skip
        command_s = time.perf_counter() - t0
    return {"runs": runs, "table_s": table_s, "json_s": json_s, "command_s": command_s,
            "wall_seconds": command_s, "peak_mb": _peak_mb()}  # fmt: skip


def arm_models(
    words: str, threads: int, finalize: bool, steps: int | None = None
) -> dict[str, Any]:
    """(6) Model quality: ``--preset best`` from scratch, beside the n-gram baselines, in
    one fresh store; with ``finalize`` each is evaluated on the test split once.
    ``steps``: train ``best`` for that many steps instead of its 60,000 (a smoke run)."""
    from ngramlm.models import preset_config
    from ngramlm.stages.finalize import finalize as finalize_run
    from ngramlm.stages.plan import Plan
    from ngramlm.stages.report import lectures_split
    from ngramlm.stages.run import start_run

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        s, ds = _store_with(words, tmp)
        lectures = lectures_split(ds)  # the lecture's figures hold on its names alone
        runs = []
        for model, order in (("bigram", 2), ("kneser-ney", 5), ("kneser-ney", 6)):
            counted = preset_config(None, {"order": order}, ds.vocab_size, model=model)
            runs.append((f"{model}-{order}", start_run(s, Plan.of(ds, counted)).run))
        cfg = preset_config("best", {}, ds.vocab_size)
        if steps is not None:  # a shorter run keeps its warm-up under a tenth of it
            assert cfg.train is not None
            short = {
                "steps": steps,
                "warmup": min(cfg.train.warmup, steps // 10),
                "eval_every": steps,
            }
            cfg = preset_config("best", short, ds.vocab_size)
        t0 = time.perf_counter()
        runs.append(("best", start_run(s, Plan.of(ds, cfg, preset="best")).run))
        best_wall = time.perf_counter() - t0
        for name, run in runs:
            test = finalize_run(s, run.id).evaluation.test_loss if finalize else None
            out[name] = {"run": run.id, "train_loss": run.train_loss, "dev_loss": run.dev_loss,
                         "test_loss": test, "seconds": run.train_seconds}  # fmt: skip
        s.close()
    out["best"]["wall_seconds"] = best_wall
    return {**out, "wall_seconds": best_wall, "peak_mb": _peak_mb(), "lectures_split": lectures}
