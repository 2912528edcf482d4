"""A split's tokens as one int32 stream and its examples as windows over it (issue 21):
the same rows as ``build_examples``, in the same order, so training, counting and
evaluating on the views give exactly the numbers of the materialised tensors."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ngramlm import data, evaluation
from ngramlm.data import TokenStream, Vocab, Windows, build_examples, token_counts, token_examples
from ngramlm.evaluation import EvalSet
from ngramlm.models import family_of, preset_config
from ngramlm.models.ngram import kneser_ney
from ngramlm.stages.plan import Plan
from ngramlm.stages.prepare import prepare
from ngramlm.stages.run import load_examples, start_run
from ngramlm.store import Store
from ngramlm.training.loop import Examples, train

REPO = Path(__file__).resolve().parents[1]


def old_build_examples(
    words: list[str], vocab: Vocab, block_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """build_examples as it was before the token stream: one int64 row an example."""
    seqs: list[int] = []
    starts: list[int] = []
    for w in words:
        base = len(seqs)
        ids = vocab.encode(w)
        seqs.extend([0] * block_size + ids + [0])
        starts.extend(range(base, base + len(ids) + 1))
    seq = torch.tensor(seqs, dtype=torch.long)
    idx = torch.tensor(starts, dtype=torch.long)
    return seq.unfold(0, block_size, 1)[idx].contiguous(), seq[idx + block_size]


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(60)]
    return [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 12))) for _ in range(n)]


def names(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("abcdefg") for _ in range(rng.randint(1, 8))) for _ in range(n)]


@pytest.mark.parametrize("unit", ["char", "word"])
@pytest.mark.parametrize("block_size", [1, 3, 6])
def test_windows_hold_the_rows_of_build_examples_in_its_order(unit: str, block_size: int) -> None:
    lines = names(300) if unit == "char" else sentences(300)
    vocab = (
        Vocab.from_words(lines)
        if unit == "char"
        else Vocab.from_counts(token_counts(lines[:200], "word"), 2)
    )
    Xo, Yo = old_build_examples(lines, vocab, block_size)
    X, Y = build_examples(lines, vocab, block_size)
    assert torch.equal(X, Xo) and torch.equal(Y, Yo) and X.dtype == Y.dtype == torch.long
    Xw, Yw = token_examples(lines, vocab, block_size)
    assert isinstance(Xw, Windows) and Xw.shape == tuple(Xo.shape) and Yw.shape == tuple(Yo.shape)
    assert Xw.stream.tokens.dtype == torch.int32  # 4 bytes a token, whatever the block size
    ix = torch.randint(0, len(Xo), (500,), generator=torch.Generator().manual_seed(1))
    assert torch.equal(Xw[ix], Xo[ix]) and torch.equal(Yw[ix], Yo[ix])
    assert torch.equal(Xw[ix.view(20, 25)], Xo[ix].view(20, 25, block_size))  # a batched draw
    assert torch.equal(Xw[7:301:5], Xo[7:301:5]) and torch.equal(Yw[-9:], Yo[-9:])
    last = Xw[:, -1:]
    assert isinstance(last, Windows) and torch.equal(last[ix], Xo[ix][:, -1:])


def test_an_empty_split_and_an_unknown_character() -> None:
    vocab = Vocab(("a", "b"), "char")
    X, Y = build_examples([], vocab, 3)
    assert X.shape == (0, 3) and Y.shape == (0,)
    with pytest.raises(data.InputError, match="character 'z' is not in this dataset's vocabulary"):
        TokenStream.of(["ab", "ba", "abz"], vocab, 3)


def test_a_stream_built_in_many_batches_of_lines_is_one_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = sentences(500)
    vocab = Vocab.from_counts(token_counts(lines, "word"))
    whole = TokenStream.of(lines, vocab, 4)
    monkeypatch.setattr(data.examples, "LINES_AT_ONCE", 7)
    batched = TokenStream.of(lines, vocab, 4)
    assert torch.equal(whole.tokens, batched.tokens) and torch.equal(whole.ends, batched.ends)


@pytest.mark.parametrize("block_size", [3, 5])
def test_evaluation_sets_from_views_in_chunks_are_the_same_sets(
    block_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = sentences(400)
    vocab = Vocab.from_counts(token_counts(lines, "word"))
    X, Y = build_examples(lines, vocab, block_size)
    Xw, Yw = token_examples(lines, vocab, block_size)
    whole = EvalSet.of(X, Y, vocab.size)
    monkeypatch.setattr(evaluation, "EVAL_CHUNK", 97)
    for V in (vocab.size, 2**20):  # int64 keys; a vocabulary too large for them
        es = EvalSet.of(Xw, Yw, V)  # type: ignore[arg-type]
        U, inverse = torch.unique(X, dim=0, return_inverse=True)
        order = torch.argsort(inverse, stable=True)
        assert torch.equal(es.U, U) and torch.equal(es.inverse, inverse[order])
        assert torch.equal(es.Y, Y[order]) and torch.equal(es.order, order)  # type: ignore[arg-type]
    assert torch.equal(whole.U, EvalSet.of(Xw, Yw, vocab.size).U)  # type: ignore[arg-type]


def test_training_on_views_gives_the_losses_of_tensors() -> None:
    lines = names(400)
    vocab = Vocab.from_words(lines)
    tensors = Examples(
        *build_examples(lines[:320], vocab, 3), *build_examples(lines[320:], vocab, 3)
    )
    views = Examples(*token_examples(lines[:320], vocab, 3), *token_examples(lines[320:], vocab, 3))  # type: ignore[arg-type]
    common = {"n_embd": 4, "n_hidden": 16, "batch_size": 16, "steps": 60, "eval_every": 30}
    for extra in ({}, {"optimizer": "adamw", "dropout": 0.1}):  # the fast step, autograd
        cfg = preset_config("default", {**common, **extra}, vocab.size)
        a = train(cfg, tensors, torch.device("cpu"))
        b = train(cfg, views, torch.device("cpu"))
        assert [(p.train_loss, p.dev_loss) for p in a.points] == [
            (p.train_loss, p.dev_loss) for p in b.points
        ]
        assert a.state.batch_loss_sum == b.state.batch_loss_sum


@pytest.mark.parametrize("model", ["modified-kn", "kneser-ney", "bigram"])
def test_counting_views_in_chunks_gives_the_model_of_tensors(
    model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = sentences(600)
    vocab = Vocab.from_counts(token_counts(lines[:500], "word"), 2)
    order = 2 if model == "bigram" else 4
    cfg = preset_config(None, {"order": order}, vocab.size, model=model).model
    fam = family_of(preset_config(None, {"order": order}, vocab.size, model=model))
    tr, dev = (
        build_examples(lines[:500], vocab, order - 1),
        build_examples(lines[500:], vocab, order - 1),
    )
    a = fam.fit(cfg, *tr)  # type: ignore[attr-defined]
    extra_a, dev_a = fam.tune_and_score(a, *dev)  # type: ignore[attr-defined]
    monkeypatch.setattr(kneser_ney, "CHUNK", 101)
    trw, devw = (
        token_examples(lines[:500], vocab, order - 1),
        token_examples(lines[500:], vocab, order - 1),
    )
    b = fam.fit(cfg, *trw)  # type: ignore[attr-defined]
    extra_b, dev_b = fam.tune_and_score(b, *devw)  # type: ignore[attr-defined]
    assert extra_a == extra_b and dev_a == pytest.approx(dev_b, rel=1e-12)
    assert a.mean_nll(*tr) == pytest.approx(b.mean_nll(*trw), rel=1e-12)
    assert torch.equal(torch.from_numpy(a.tables.grams()), torch.from_numpy(b.tables.grams()))


def test_a_large_split_is_loaded_as_views_with_the_same_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(sentences(400)) + "\n")
    losses = []
    for threshold in (data.MATERIALIZE_BYTES, 0):
        monkeypatch.setattr(data.examples, "MATERIALIZE_BYTES", threshold)
        store = Store(f"sqlite:///{tmp_path / f'store-{threshold}.db'}")
        ds = prepare(store, corpus, "c", 42, unit="word", split="ordered:2000,300").dataset
        ex = load_examples(store, ds, 3)
        assert isinstance(ex.Xtr, Windows) == (threshold == 0)
        runs = []
        for values, model in (({"order": 4}, "modified-kn"), ({"block_size": 3, "steps": 40,
                              "eval_every": 20, "n_embd": 4, "n_hidden": 8}, None)):  # fmt: skip
            cfg = preset_config(None, values, ds.vocab_size, model=model)
            record = start_run(store, Plan.of(ds, cfg)).run
            runs.append((record.train_loss, record.dev_loss))
        losses.append(runs)
        store.close()
    assert losses[0] == losses[1]


def test_a_checkpoint_larger_than_the_disk_fails_its_run_in_one_line(
    small_disk: Path, tmp_path: Path
) -> None:
    """A store keeps a checkpoint of any length (in parts); one that the disk under an
    SQLite store cannot hold (written twice: the write-ahead log, then the file) is
    refused before it is written, and a smaller one is stored on that same disk."""
    from ngramlm.errors import DiskFullError

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(sentences(12_000)) + "\n")
    store = Store(f"sqlite:///{small_disk / 'store.db'}")
    ds = prepare(store, corpus, "c", 42, unit="word").dataset
    cfg = preset_config(None, {"order": 8}, ds.vocab_size, model="modified-kn")  # ~3.6 MB
    with pytest.raises(DiskFullError, match=r"run 1's checkpoint is \d+\.\d MB; storing it "
                       r"needs about .* free; free some space, give --db a store on a larger "
                       r"disk, or count fewer n-grams"):  # fmt: skip
        start_run(store, Plan.of(ds, cfg))
    (run,) = store.runs()
    assert run.status == "failed" and store.checkpoint(run.id) is None
    cfg = preset_config(None, {"order": 2}, ds.vocab_size, model="modified-kn")
    done = start_run(store, Plan.of(ds, cfg)).run
    assert done.status == "finished" and store.checkpoint(done.id) is not None
    store.close()


# --- prepare on a disk too small for the corpus -----------------------------------------


def test_prepare_refuses_a_corpus_larger_than_the_disk_in_one_line(
    small_disk: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "big.txt"  # ~2.4 MB of text: the store would need about 7 MB
    corpus.write_text("\n".join(sentences(60_000)) + "\n")
    db = small_disk / "store.db"
    cmd = [sys.executable, "-m", "ngramlm", "--db", f"sqlite:///{db}", "prepare", str(corpus),
           "--unit", "word"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 4, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"{corpus}: recording its 60,000 lines needs about" in lines[0]
    assert "free some space, or give --db a store on a larger disk" in lines[0]
    if db.exists():  # the schema may be there; no dataset and no words are
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT count(*) FROM datasets").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM words").fetchone() == (0,)
        conn.close()
    small = tmp_path / "small.txt"  # a corpus that fits is prepared on the same disk
    small.write_text("\n".join(sentences(500)) + "\n")
    cmd[cmd.index(str(corpus))] = str(small)
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


# --- the scaling benchmark, at a smoke size ------------------------------------------------


BROWN = Path(os.environ.get("NGRAMLM_BROWN", REPO.parent / "shared" / "data" / "brown.txt"))


@pytest.mark.slow  # ~60 s: every step of the benchmark in its own process, twice
def test_the_scaling_benchmark_writes_its_table_and_plot(tmp_path: Path) -> None:
    if not BROWN.exists():
        pytest.skip(f"the Brown corpus is not at {BROWN}; set NGRAMLM_BROWN")
    env = {**os.environ, "NGRAMLM_BROWN": str(BROWN), "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "benchmarks.scaling", "--sizes", "2e4,5e4", "--steps", "2",
           "--out", str(tmp_path), "--tmp", str(tmp_path)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = (tmp_path / "scaling.md").read_text()
    assert "python -m benchmarks.scaling --sizes 2e4,5e4" in table
    rows = [line for line in table.splitlines() if line.startswith("| 2") or line.startswith("| 5")]
    assert len(rows) == 2, table
    assert (tmp_path / "scaling.png").stat().st_size > 10_000
