"""The locked test split: once per run, ever; immutable in the database; isolated in code."""

from __future__ import annotations

import ast
import json
import multiprocessing
from pathlib import Path

import pytest
import sqlalchemy as sa

from ngramlm.store import Store

from .conftest import REPO
from .helpers import age_heartbeat, cli_tiny_run, tiny_store, train_tiny


@pytest.fixture
def trained(cli, db_url: str, words_file: Path) -> str:
    return str(cli_tiny_run(cli, db_url, words_file, "--steps", "200", "--n-hidden", "16")["run"])


def evaluations(url: str) -> list[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT run_id, test_loss FROM evaluations")).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_finalize_once_then_refused_showing_the_record(cli, db_url: str, trained: str) -> None:
    first = cli("--db", db_url, "finalize", trained, "--json")
    assert first.code == 0, first.err
    data = json.loads(first.out)
    assert data["created"] is True and data["test_examples"] > 0
    assert 1.0 < data["test_loss"] < 5.0
    second = cli("--db", db_url, "finalize", trained, "--json")
    assert second.code != 0 and "finalized already" in second.err
    again = json.loads(second.out)
    assert again["created"] is False and again["test_loss"] == data["test_loss"]
    assert evaluations(db_url) == [(int(trained), data["test_loss"])]


def _finalize(url: str, run: str) -> int:
    from ngramlm.cli import main

    try:
        main(["--db", url, "finalize", run, "--json"])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.slow  # processes racing
def test_concurrent_finalize_records_exactly_one(db_url: str, trained: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        codes = pool.starmap(_finalize, [(db_url, trained)] * 4)
    assert sorted(codes) == [0, 5, 5, 5]
    assert len(evaluations(db_url)) == 1


@pytest.mark.parametrize(
    "sql", ["UPDATE evaluations SET test_loss = 0.1", "DELETE FROM evaluations"]
)
def test_database_refuses_to_change_an_evaluation(cli, db_url: str, trained: str, sql: str) -> None:
    assert cli("--db", db_url, "finalize", trained).code == 0
    before = evaluations(db_url)
    engine = sa.create_engine(db_url)
    with pytest.raises(sa.exc.DBAPIError, match="immutable"), engine.begin() as conn:
        conn.execute(sa.text(sql))
    engine.dispose()
    assert evaluations(db_url) == before


def test_refuses_unfinished_lr_find_and_tampered(cli, db_url: str, trained: str) -> None:
    r = cli(
        "--db", db_url, "lr-find", "--dataset", "tiny", "--steps", "20", "--n-hidden", "8", "--json"
    )
    lr_run = str(json.loads(r.out)["run"])
    r = cli("--db", db_url, "finalize", lr_run)
    assert r.code != 0 and "lr_find run" in r.err
    # A crashed run.
    r = cli(
        "--db", db_url, "train", "--dataset", "tiny", "--steps", "50", "--n-hidden", "8", "--json"
    )
    crashed = json.loads(r.out)["run"]
    age_heartbeat(db_url, crashed)
    r = cli("--db", db_url, "finalize", str(crashed))
    assert r.code != 0 and "is crashed" in r.err
    # A checkpoint altered after training: swap in another run's checkpoint bytes (both
    # are one part) and their length.
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        other = conn.execute(
            sa.text("SELECT data FROM checkpoint_parts WHERE run_id = :r"), {"r": crashed}
        ).scalar_one()
        conn.execute(
            sa.text("UPDATE checkpoint_parts SET data = :d WHERE run_id = :r"),
            {"d": other, "r": int(trained)},
        )
        conn.execute(
            sa.text("UPDATE checkpoints SET size = :n WHERE run_id = :r"),
            {"n": len(other), "r": int(trained)},
        )
    engine.dispose()
    r = cli("--db", db_url, "finalize", trained)
    assert r.code != 0 and "sha256" in r.err
    assert evaluations(db_url) == []


@pytest.mark.slow  # trains a sweep
def test_non_best_sweep_run_needs_yes(cli, sqlite_url: str, words_file: Path) -> None:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    r = cli(
        "--db",
        sqlite_url,
        "sweep",
        "--dataset",
        "tiny",
        "--lr-grid",
        "0.001,0.3",
        "--steps",
        "100",
        "--n-hidden",
        "8",
        "--json",
    )
    data = json.loads(r.out)
    worst = max(data["runs"], key=lambda x: x["dev_loss"])["run"]
    r = cli("--db", sqlite_url, "finalize", str(worst))
    assert r.code != 0 and "leaks the test set" in r.err and "--yes" in r.err
    assert evaluations(sqlite_url) == []
    assert cli("--db", sqlite_url, "finalize", str(worst), "--yes").code == 0
    assert cli("--db", sqlite_url, "finalize", str(data["best_run"])).code == 0


def test_bad_run_ids(cli, sqlite_url: str) -> None:
    for bad, needle in (
        ("0", "not valid"),
        ("-1", "No such option"),
        ("12abc", "not valid"),
        ("1; DELETE FROM runs", "not valid"),
        ("424242", "no run 424242"),
    ):
        r = cli("--db", sqlite_url, "finalize", bad)
        assert r.code != 0 and needle in r.err, (bad, r.err)


def test_only_finalize_reads_the_test_split() -> None:
    """No module but ngramlm/stages/finalize.py asks the store for test words, and only the store
    module knows how to select them."""
    package = REPO / "ngramlm"
    offenders = []
    for path in package.rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        tree = ast.parse(path.read_text(), filename=rel)
        for node in ast.walk(tree):
            calls = isinstance(node, ast.Attribute) and node.attr == "finalize_with_test_words"
            if calls and rel != "ngramlm/stages/finalize.py":
                offenders.append(f"{rel}:{node.lineno} calls finalize_with_test_words")
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "split"
                and isinstance(node.value, ast.Name)
                and node.value.id == "Word"
            ) and not rel.startswith("ngramlm/store/"):
                offenders.append(f"{rel}:{node.lineno} queries Word.split")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "words"
            ) and any(isinstance(a, ast.Constant) and a.value == "test" for a in node.args):
                offenders.append(f"{rel}:{node.lineno} asks for test words")
    assert offenders == []
    calls = [p for p in package.rglob("*.py") if "finalize_with_test_words(" in p.read_text()]
    assert sorted(p.relative_to(REPO).as_posix() for p in calls) == [
        "ngramlm/stages/finalize.py",
        "ngramlm/store/evaluations.py",
    ]


def test_store_words_refuses_the_test_split(sqlite_url: str, words_file: Path) -> None:
    from ngramlm.stages.prepare import prepare

    with Store(sqlite_url) as s:
        ds = prepare(s, words_file, "tiny", 42, unit="char").dataset
        with pytest.raises(ValueError, match="train and dev only"):
            s.words(ds.id, "test")


# --- the test path and the dev path compute the same number ------------------------------

FAMILIES = {
    "mlp": ("default", {"n_embd": 4, "n_hidden": 16, "steps": 200, "batch_size": 16}),
    "mlp-batchnorm": ("default", {"n_embd": 4, "n_hidden": 16, "steps": 200, "norm": "batch"}),
    "wavenet": ("wavenet", {"n_embd": 4, "n_hidden": 16, "steps": 200, "batch_size": 16}),
    "kneser-ney": (None, {"order": 3, "smoothing": 0.8}),
    # trained and evaluated on windows (block 5: the longer names' later targets too)
    "transformer": (
        "transformer",
        {"n_layers": 1, "n_head": 2, "n_embd": 8, "block_size": 5, "steps": 200, "batch_size": 16},
    ),
    "gru": ("gru", {"n_embd": 4, "n_hidden": 8, "block_size": 5, "steps": 200}),
}


def _brute_force_nll(model, X, Y) -> float:  # type: ignore[no-untyped-def]
    """Mean -log p(y | x), example by example, without ngramlm.evaluation."""
    import torch
    import torch.nn.functional as F

    if isinstance(model, torch.nn.Module):
        was = model.training
        model.eval()
        with torch.no_grad():
            loss = F.cross_entropy(model(X)[0].double(), Y).item()
        model.train(was)
        return float(loss)
    import math

    return -math.fsum(
        math.log(model.prob(x, y)) for x, y in zip(X.tolist(), Y.tolist(), strict=True)
    ) / len(Y)


@pytest.mark.parametrize("kind", list(FAMILIES))
def test_finalize_path_equals_the_loops_dev_path_on_the_same_words(
    sqlite_url: str, words_file: Path, kind: str
) -> None:
    """``finalize._test_loss`` given the dev words gives the dev loss the training loop
    recorded (``evaluation.evaluate_set`` on the same examples), and both equal plain
    cross-entropy computed example by example."""
    import torch

    from ngramlm import checkpoint
    from ngramlm.data import build_examples
    from ngramlm.evaluation import EvalSet, evaluate_set
    from ngramlm.models import family, preset_config
    from ngramlm.stages.finalize import _test_loss

    preset, options = FAMILIES[kind]
    model_name = "kneser-ney" if kind == "kneser-ney" else None
    with tiny_store(sqlite_url, words_file) as s:
        ds = s.dataset("tiny")
        cfg = preset_config(preset, options, ds.vocab_size, model=model_name)
        out = train_tiny(s, cfg)
        run = s.run(out.run.id)
        ckpt = s.checkpoint(run.id)
        dev_words = s.words(ds.id, "dev")
    assert run.status == "finished" and ckpt is not None and run.dev_loss is not None
    test_path, n = _test_loss(run, ckpt, dev_words)
    X, Y = build_examples(dev_words, ds.vocab, cfg.model.block_size)
    assert n == X.shape[0] == sum(len(w) + 1 for w in dev_words)
    # a sequence family's loop scored windows: the same terms, summed in other chunks
    windows = family(cfg.family).sequence
    assert test_path == pytest.approx(run.dev_loss, abs=1e-6 if windows else 1e-9)
    model = checkpoint.load_model(ckpt.data, ckpt.sha256).model
    if isinstance(model, torch.nn.Module):  # the loop's own call, on the loaded weights
        loop = evaluate_set(model, EvalSet.of(X, Y, ds.vocab_size))
        assert loop == pytest.approx(test_path, abs=1e-9)
        assert model.mean_nll(X, Y) == pytest.approx(test_path, abs=1e-9)
    # float32 logits, float64 sums: agree to float32 rounding
    assert _brute_force_nll(model, X, Y) == pytest.approx(test_path, abs=1e-6)


@pytest.mark.parametrize(
    "args",
    [
        ["--steps", "200", "--n-hidden", "16"],
        ["--preset", "wavenet", "--steps", "200", "--n-hidden", "16", "--n-embd", "4"],
        ["--model", "kneser-ney", "--order", "4"],
    ],
    ids=["mlp", "wavenet", "kneser-ney"],
)
def test_finalizing_a_run_whose_test_words_are_its_dev_words_gives_its_dev_loss(
    cli, sqlite_url: str, words_file: Path, args: list[str]
) -> None:
    """A dataset built by hand whose test split is a copy of its dev split: the locked
    test loss must be the dev loss that training recorded, on as many examples."""
    from ngramlm.data import Vocab, content_sha256, read_words, split_words

    words = read_words(words_file)
    split = split_words(words, 42)
    splits = {"train": split.train, "dev": split.dev, "test": list(split.dev)}
    with Store(sqlite_url) as s:
        s.add_dataset(name="mirror", sha256=content_sha256(words), source_path=str(words_file),
                      seed=42, vocab=Vocab.from_words(words), splits=splits,
                      n_duplicates=0)  # fmt: skip
    r = cli("--db", sqlite_url, "train", "--dataset", "mirror", *args, "--json")
    assert r.code == 0, r.err
    trained = json.loads(r.out)
    r = cli("--db", sqlite_url, "finalize", str(trained["run"]), "--json")
    assert r.code == 0, r.err
    fin = json.loads(r.out)
    assert fin["created"] is True
    assert fin["test_examples"] == sum(len(w) + 1 for w in split.dev)
    assert fin["test_loss"] == pytest.approx(trained["dev_loss"], abs=1e-9)
    assert fin["dev_loss"] == trained["dev_loss"]
