"""The Python API (``ngramlm.api``, re-exported by ``ngramlm``): every function against a
real SQLite store, the same rows, models, words, figures and refusals as the CLI, the
README's example and docs/notebook.ipynb executed as written, and ``mypy --strict``."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import ngramlm
from ngramlm import plots
from ngramlm.api import AlreadyFinalized, Experiments, MissingExtra, Samples, open_store
from ngramlm.data import build_examples
from ngramlm.errors import ConflictError, InputError, NgramlmError, NotFoundError
from ngramlm.stages.finalize import NeedsConfirmation

from .conftest import REPO, count_rows
from .helpers import REPORT_COLUMNS


@dataclass(frozen=True)
class Trained:
    """One store shared by the module's read-only tests."""

    url: str
    mlp: int  # default preset, 200 steps
    bigram: int
    lr_find: int
    sweep: int  # two points (lr 0.05, 0.2), trained in this process


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    import random

    root = tmp_path_factory.mktemp("api")
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 7))) for _ in range(200)]
    (root / "tiny.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    url = f"sqlite:///{root / 'store.db'}"
    with open_store(url) as exp:
        ds = exp.prepare(root / "tiny.txt")
        lf = exp.lr_find(ds, steps=60, threads=1)
        sw = exp.sweep(ds, lr_grid=[0.05, 0.2], steps=60, n_hidden=16, workers=0)
        bigram = exp.train(ds, model="bigram")
        mlp = exp.train(ds, preset="default", steps=200, n_hidden=32, threads=1)
    return Trained(url, mlp.run.id, bigram.run.id, lf.id, sw.id)


# --- the package -------------------------------------------------------------------------


def test_import_ngramlm_stays_light() -> None:
    """``import ngramlm`` and its API names import neither torch, matplotlib nor pandas
    (the CLI starts through the same package)."""
    code = (
        "import sys, ngramlm; ngramlm.open_store; ngramlm.Experiments; ngramlm.RunRecord; "
        "print(*(m in sys.modules for m in ('torch', 'matplotlib', 'pandas')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_public_names_are_listed_and_documented() -> None:
    from ngramlm import api

    # every public name of the API, and only those, is re-exported by the root package
    exported = {n for n in vars(api) if not n.startswith("_") and n != "annotations"}
    exported -= {m for m in exported if type(getattr(api, m)).__name__ == "module"}
    # ... and the dashboard, ngramlm.web's (above the API: it reads the store through it)
    assert set(ngramlm.__all__) == {*exported, "__version__", "dashboard"}
    from ngramlm import web

    assert ngramlm.dashboard is web.dashboard and (web.dashboard.__doc__ or "").strip()
    for name in exported:
        value = getattr(ngramlm, name)
        assert value is getattr(api, name), name
        if callable(value):
            assert (value.__doc__ or "").strip(), f"{name} has no docstring"
    public = [m for m in dir(Experiments) if not m.startswith("_")]  # every mixin's
    for name in public:
        assert (getattr(Experiments, name).__doc__ or "").strip(), f"Experiments.{name}"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ngramlm.nope  # noqa: B018


@pytest.mark.slow  # runs mypy --strict
def test_the_public_module_is_mypy_strict_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "ngramlm/api", "ngramlm/__init__.py"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


# --- the store, datasets and runs ----------------------------------------------------------


def test_open_store_defaults_to_the_cli_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store() as exp:
        assert exp.url == "sqlite:///ngramlm.db"
        assert exp.datasets() == []
    assert (tmp_path / "ngramlm.db").exists()
    monkeypatch.setenv("NGRAMLM_DB", f"sqlite:///{tmp_path / 'env.db'}")
    with open_store() as exp:
        assert exp.where == str(tmp_path / "env.db")
    with pytest.raises(InputError, match="not a database URL"):
        open_store("nonsense")


def test_datasets(sqlite_url: str, words_file: Path, cli) -> None:  # type: ignore[no-untyped-def]
    with open_store(sqlite_url) as exp:
        prepared = exp.prepare(words_file)
        ds = prepared.dataset
        assert prepared.created and ds.name == "tiny" and ds.n_words == 200
        again = exp.prepare(str(words_file))  # the same content again: a no-op
        assert again.dataset == ds and not again.created and again.examples == prepared.examples
        assert exp.dataset(prepared) == ds  # the result is taken as its dataset
        assert exp.datasets() == [ds]
        assert exp.dataset("tiny") == ds and exp.dataset(ds) == ds
        assert len(exp.words(ds, "train")) == ds.n_train
        assert exp.words("tiny", "dev") == exp.words(ds, "dev")
        with pytest.raises(NotFoundError) as err:
            exp.dataset("nope")
    r = cli("--db", sqlite_url, "report", "--dataset", "nope")
    assert r.code == NotFoundError.exit_code and str(err.value) in r.err.replace("\n", "")
    with open_store(sqlite_url) as exp, pytest.raises(InputError, match="dataset name"):
        exp.dataset("../x")


def test_the_test_split_is_not_readable(trained: Trained) -> None:
    with open_store(trained.url) as exp:
        for split in ("test", "all", ""):
            with pytest.raises(InputError, match="locked"):
                exp.words("tiny", split)
    api_source = "".join(p.read_text() for p in (REPO / "ngramlm" / "api").glob("*.py"))
    assert "finalize_with_test_words" not in api_source  # only finalize.py reads them


@pytest.mark.parametrize("value", [3.5, None, object(), ["tiny"], b"1"])
def test_a_wrong_kind_of_run_or_dataset_is_the_apis_own_error(
    trained: Trained, value: object
) -> None:
    """Raw misuse of the API (a float, a list, any object for a run or a dataset) is an
    ``InputError`` naming what a run or dataset is given as, never an AttributeError."""
    with open_store(trained.url) as exp:
        with pytest.raises(InputError, match=r"a run is given as its id, its RunRecord"):
            exp.sample(value, n=1)  # type: ignore[arg-type]
        if value is not None:  # None: the bundled names, a dataset by design
            with pytest.raises(InputError, match=r"a dataset is given as its name"):
                exp.dataset(value)  # type: ignore[arg-type]
            with pytest.raises(InputError, match=r"a dataset is given as its name"):
                exp.train(value, steps=1)  # type: ignore[arg-type]


def test_runs_are_filtered_like_report(trained: Trained) -> None:
    with open_store(trained.url) as exp:
        everything = exp.runs()
        assert [r.id for r in everything] == sorted((r.id for r in everything), reverse=True)
        assert len(everything) == 5
        assert [r.id for r in exp.runs(kind="lr_find")] == [trained.lr_find]
        assert {r.id for r in exp.runs(sweep=trained.sweep)} == {
            r.id for r in everything if r.sweep_id == trained.sweep
        }
        assert exp.runs(sweep=exp.sweep_record(trained.sweep)) == exp.runs(sweep=trained.sweep)
        assert len(exp.runs(dataset="tiny", status="finished", kind="train")) == 4
        assert exp.runs(status="crashed") == []
        assert exp.run(trained.mlp) == exp.run(exp.run(trained.mlp)) == exp.run("last")
        with pytest.raises(InputError, match="--status must be one of"):
            exp.runs(status="done")
        with pytest.raises(InputError, match="kind must be one of"):
            exp.runs(kind="sweep")
        with pytest.raises(NotFoundError, match="no sweep 99"):
            exp.runs(sweep=99)
        with pytest.raises(NotFoundError, match="no run 424242"):
            exp.run(424242)
        for bad in ("12abc", "-1", 0, True):
            with pytest.raises(InputError, match="not valid"):
                exp.run(bad)  # type: ignore[arg-type]


def test_runs_frame_has_report_csvs_columns_and_rows(trained: Trained, cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("--db", trained.url, "report", "--csv")
    assert r.code == 0, r.err
    table = list(csv.reader(io.StringIO(r.out)))
    with open_store(trained.url) as exp:
        df = exp.runs_frame()
        rows = exp.report_rows()
        assert tuple(df.columns) == tuple(table[0]) == REPORT_COLUMNS
        assert [str(x) for x in df["run"]] == [row[0] for row in table[1:]]
        assert df["dev_loss"].tolist()[-1] == rows[-1]["dev_loss"]
        assert df["best_in_sweep"].sum() == 1
        assert len(exp.runs_frame(kind="lr_find")) == 1
        assert exp.report_rows(sort="dev", limit=2)[0]["dev_loss"] == min(
            x["dev_loss"] for x in rows if x["dev_loss"] is not None
        )
        with pytest.raises(InputError, match="--sort must be one of"):
            exp.runs_frame(sort="best")


def test_a_clear_error_names_the_pandas_extra(
    trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now fails
    with open_store(trained.url) as exp:
        for call in (exp.runs_frame, lambda: exp.curve_frame(trained.mlp)):
            with pytest.raises(MissingExtra, match=re.escape("pip install 'ngramlm[pandas]'")):
                call()
        assert isinstance(MissingExtra("x"), ImportError)
        assert isinstance(MissingExtra("x"), NgramlmError)
        assert exp.report_rows() and exp.curve(trained.mlp)  # no pandas needed


def test_curves_as_records_and_frames(trained: Trained) -> None:
    with open_store(trained.url) as exp:
        points = exp.curve(trained.mlp)
        assert len(points) == 21 and points[0].step == 0 and points[-1].step == 200
        assert points[-1].dev_loss == exp.run(trained.mlp).dev_loss
        df = exp.curve_frame(trained.mlp)
        assert list(df.columns) == ["step", "elapsed_s", "lr", "batch_loss", "train_loss",
                                    "dev_loss"]  # fmt: skip
        assert df["dev_loss"].tolist() == [p.dev_loss for p in points]
        assert len(exp.curve(trained.lr_find)) == 60


# --- models and samples ------------------------------------------------------------------


def _dev_examples(exp: Experiments, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    ds = exp.dataset("tiny")
    return build_examples(exp.words(ds, "dev"), ds.vocab, block_size)


def test_load_model_gives_the_stored_dev_loss(trained: Trained) -> None:
    with open_store(trained.url) as exp:
        run = exp.run(trained.mlp)
        model = exp.load_model(run)
        assert isinstance(model, torch.nn.Module) and not model.training
        X, Y = _dev_examples(exp, model.block_size)
        assert model.mean_nll(X, Y) == pytest.approx(run.dev_loss, abs=1e-9)
        logits, loss = model(X, Y)  # the lecture's forward: (logits, loss)
        assert logits.shape == (len(X), 27) and loss is not None
        assert torch.equal(model.logits(X), logits.detach())
        assert model.encode("emma") == [5, 13, 13, 1]
        assert model.decode([0, 5, 13, 13, 1, 0]) == "emma"
        assert model.vocab == exp.dataset("tiny").vocab

        counted = exp.load_model(trained.bigram)
        assert not isinstance(counted, torch.nn.Module)  # a CountModel: counts, no weights
        X, Y = _dev_examples(exp, counted.block_size)
        assert counted.mean_nll(X, Y) == pytest.approx(exp.run(trained.bigram).dev_loss, 1e-12)
        assert counted.decode(counted.encode("abc")) == "abc"


def test_the_lectures_sampling_loop_runs_on_a_loaded_model(trained: Trained) -> None:
    with open_store(trained.url) as exp:
        model = exp.load_model(trained.mlp)
    g = torch.Generator().manual_seed(2147483647)
    for _ in range(3):
        out: list[int] = []
        context = [0] * model.block_size
        while len(out) < 30:
            logits, _ = model(torch.tensor([context]))
            probs = torch.softmax(logits, dim=1)
            ix = int(torch.multinomial(probs, num_samples=1, generator=g).item())
            context = [*context[1:], ix]
            if ix == 0:
                break
            out.append(ix)
        assert isinstance(model.decode(out), str)


def test_sample_gives_the_clis_words(trained: Trained, cli) -> None:  # type: ignore[no-untyped-def]
    import json

    r = cli("--db", trained.url, "sample", str(trained.mlp), "-n", "6", "--seed", "3", "--json")
    data = json.loads(r.out)
    with open_store(trained.url) as exp:
        marked = exp.sample(trained.mlp, n=6, seed=3)
        assert marked.words == [w["word"] for w in data["words"]]
        assert isinstance(marked, Samples) and marked.step == data["step"] == 200
        assert marked.run.id == trained.mlp == data["run"]
        assert [list(m) for m in marked.marked] == [[w["word"], w["in"]] for w in data["words"]]
        assert all(w.startswith("ab") for w in exp.sample(trained.mlp, 4, prefix="ab").words)
        assert len(exp.sample(trained.mlp, 5, top_k=3).words) == 5
        with pytest.raises(InputError, match="-n must be between"):
            exp.sample(trained.mlp, n=0)
        with pytest.raises(InputError, match="--temperature"):
            exp.sample(trained.mlp, temperature=-1)
        with pytest.raises(NotFoundError, match="no checkpoint"):
            exp.sample(trained.lr_find)


def test_embeddings_and_figures(trained: Trained, cli) -> None:  # type: ignore[no-untyped-def]
    """Each plot_* returns a Figure; `ngramlm plot` writes that same figure."""
    from matplotlib.figure import Figure

    with open_store(trained.url) as exp:
        chars, C = exp.embeddings(trained.mlp)
        assert chars[0] == "." and C.shape == (27, 10)
        figures = {
            "curves": (exp.plot_curves(trained.mlp, trained.bigram),
                       [str(trained.mlp), str(trained.bigram)]),
            "embeddings": (exp.plot_embeddings(trained.mlp), [str(trained.mlp)]),
            "lr-find": (exp.plot_lr_find(trained.lr_find), [str(trained.lr_find)]),
            "sweep": (exp.plot_sweep(trained.sweep), [str(trained.sweep)]),
        }  # fmt: skip
        for kind, (fig, args) in figures.items():
            assert isinstance(fig, Figure)
            out = Path(f"{kind}.png")
            r = cli("--db", trained.url, "plot", kind, *args, "--out", str(out))
            assert r.code == 0, r.err
            mine = plots.save(fig, Path(f"api-{kind}.png"))
            assert mine.read_bytes() == out.read_bytes(), kind
        with pytest.raises(InputError, match="lr-find run"):
            exp.plot_curves(trained.lr_find)
        with pytest.raises(InputError, match="no embeddings"):
            exp.plot_embeddings(trained.bigram)
        with pytest.raises(InputError, match="at least one run"):
            exp.plot_curves()


# --- training, sweeps, lr-find ------------------------------------------------------------


def test_train_runs_what_the_cli_runs(sqlite_url: str, words_file: Path, cli) -> None:  # type: ignore[no-untyped-def]
    import json

    with open_store(sqlite_url) as exp:
        ds = exp.prepare(words_file)
        outcome = exp.train(ds, preset="lecture", steps=120, n_hidden=20, name="api")
        counted = exp.train("tiny", model="kneser-ney", order=3).run
        run = outcome.run
    r = cli("--db", sqlite_url, "train", "--dataset", "tiny", "--preset", "lecture",
            "--steps", "120", "--n-hidden", "20", "--json")  # fmt: skip
    data = json.loads(r.out)
    assert run.status == "finished" and run.name == "api" and run.preset == "lecture"
    assert data["config"] == run.config and data["dev_loss"] == run.dev_loss
    assert data["train_loss"] == run.train_loss
    assert [p.step for p in outcome.result.points] == [p["step"] for p in data["curve"]]
    assert counted.model == "kneser-ney" and counted.block_size == 2
    with open_store(sqlite_url) as exp:
        assert exp.run(data["run"]).config_hash == run.config_hash


def test_bad_options_are_refused_before_anything_is_written(sqlite_url: str, cli) -> None:  # type: ignore[no-untyped-def]
    exp = Experiments(sqlite_url)
    cases = [
        (dict(steps=0), "--steps"),
        (dict(order=3), "--order is not an option of --model mlp"),
        (dict(preset="nope"), "unknown preset"),
        (dict(model="gpt"), "--model must be one of"),
        (dict(threads=0), "--threads"),
        (dict(dataset="../x"), "dataset name"),
    ]
    for kwargs, needle in cases:
        with pytest.raises(InputError) as err:
            exp.train(**kwargs)
        assert needle in str(err.value)
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()  # the store never opened
    r = cli("--db", sqlite_url, "train", "--order", "3")
    assert "--order is not an option of --model mlp" in r.err
    with open_store(sqlite_url) as exp:
        with pytest.raises(NotFoundError, match="no dataset named 'nope'"):
            exp.train("nope")
        with pytest.raises(InputError, match="drop lr"):
            exp.lr_find(lr=0.1)
        with pytest.raises(InputError, match="--lr-grid"):
            exp.sweep(lr_grid="a,b", workers=0)
        with pytest.raises(InputError, match="give --lr-grid"):
            exp.create_sweep()
        with pytest.raises(InputError, match="unknown hyperparameter"):
            exp.create_sweep(grid={"width": [1, 2]})
    assert count_rows(sqlite_url, "runs") == 0 and count_rows(sqlite_url, "sweeps") == 0


def test_sweep_and_lr_find(trained: Trained) -> None:
    with open_store(trained.url) as exp:
        sw = exp.sweep_record(trained.sweep)
        assert sw.n_points == 2 and sw.spec["lr_grid"] == [0.05, 0.2]
        points = exp.runs(sweep=sw)
        assert {r.lr for r in points} == {0.05, 0.2}
        assert all(r.status == "finished" and r.n_hidden == 16 for r in points)
        lf = exp.run(trained.lr_find)
        assert lf.kind == "lr_find" and 1e-3 <= lf.extra["suggested_lr"] <= 1.0
        assert lf.preset is None and lf.n_hidden == 200  # the lecture's model


def test_create_sweep_takes_a_grid_mapping_and_join_trains_it(
    sqlite_url: str, words_file: Path
) -> None:
    with open_store(sqlite_url) as exp:
        exp.prepare(words_file)
        sw = exp.create_sweep("tiny", grid={"n_hidden": [8, 12]}, seeds=2, steps=40)
        assert sw.n_points == 4 and exp.runs(sweep=sw) == []
        status = exp.run_sweep(sw, workers=0)
        assert status.done == 4 and status.best is not None
        with pytest.raises(InputError, match="--workers"):
            exp.run_sweep(sw, workers=-1)


def test_a_grid_mapping_stays_data_and_is_checked_as_such(
    sqlite_url: str, words_file: Path
) -> None:
    with open_store(sqlite_url) as exp:
        exp.prepare(words_file)
        bad = [
            ({"n_hidden": "8,12"}, "give a list of values"),  # not split as text
            ({"n_hidden": [8.5]}, "8.5 is not a valid int"),
            ({"n_hidden": [True]}, "True is not a valid int"),
            ({"width": [1]}, "unknown hyperparameter 'width'"),
            ({"n_hidden": []}, "n_hidden has no values"),
        ]
        for grid, needle in bad:
            with pytest.raises(InputError, match=re.escape(needle)):
                exp.create_sweep("tiny", grid=grid, steps=40)
        with pytest.raises(InputError, match="finite number > 0"):
            exp.create_sweep("tiny", lr_grid=[0.1, -1.0], steps=40)
    assert count_rows(sqlite_url, "sweeps") == 0  # nothing written for any of them
    with open_store(sqlite_url) as exp:
        sw = exp.create_sweep("tiny", grid={"n_hidden": [8, 12], "lr": [1, 0.1]}, steps=40)
        assert sw.spec["grid"] == {"n_hidden": [8, 12]} and sw.spec["lr_grid"] == [1.0, 0.1]


# --- the locked test split ----------------------------------------------------------------


def test_finalize_once_with_the_clis_refusals(sqlite_url: str, words_file: Path, cli) -> None:  # type: ignore[no-untyped-def]
    with open_store(sqlite_url) as exp:
        exp.prepare(words_file)
        sw = exp.sweep("tiny", lr_grid=[0.01, 0.3], steps=60, n_hidden=8, workers=0)
        worst, best = sorted(exp.runs(sweep=sw), key=lambda r: -(r.dev_loss or 0.0))
        lf = exp.lr_find("tiny", steps=20)
        with pytest.raises(NeedsConfirmation, match="--yes"):
            exp.finalize(worst)
        with pytest.raises(InputError, match="only training runs are finalized"):
            exp.finalize(lf)
        assert exp.evaluation(best) is None
        result = exp.finalize(best)
        evaluation = result.evaluation
        assert result.run.id == evaluation.run_id == best.id and evaluation.test_loss > 0
        assert exp.evaluation(best) == evaluation
        with pytest.raises(AlreadyFinalized) as again:
            exp.finalize(best)
        assert isinstance(again.value, ConflictError) and again.value.evaluation == evaluation
        assert again.value.run.id == best.id  # the recorded result: what the CLI prints
        assert exp.finalize(worst, yes=True).evaluation.run_id == worst.id
        assert exp.runs_frame()["test_loss"].notna().sum() == 2
    r = cli("--db", sqlite_url, "finalize", str(best.id))
    assert r.code == 5 and "finalized already" in r.err


# --- the docs, executed -------------------------------------------------------------------


def readme_example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API (notebooks)", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "README's Python API section has no ```python block"
    return str(blocks[0])


@pytest.mark.slow
def test_the_readme_example_runs_as_written(tmp_path: Path) -> None:
    """As after README's command 1, which installs no pandas: the example must not need it."""
    code = "import sys\nsys.modules['pandas'] = None  # as if not installed\n" + readme_example()
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "curves.png").exists()


@pytest.mark.slow
def test_the_notebook_runs(
    tmp_path: Path, words_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/notebook.ipynb, every cell, in a fresh kernel of this Python, on a tiny corpus.
    Its outputs are never committed."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = REPO / "docs" / "notebook.ipynb"
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells and all(not c.outputs and c.execution_count is None for c in code_cells)
    monkeypatch.setenv("NGRAMLM_NOTEBOOK_WORDS", str(words_file))
    monkeypatch.setenv("NGRAMLM_NOTEBOOK_STEPS", "100")
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # this checkout's ngramlm in the kernel
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert errors == []
    text = "".join(o.get("text", "") for c in code_cells for o in c.outputs)
    assert "finished" in text
