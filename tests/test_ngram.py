"""Count-based baselines: the bigram of makemore part 1 and interpolated Kneser-Ney."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ngramlm import checkpoint
from ngramlm.config import RunConfig
from ngramlm.data import Vocab, build_examples, read_words, split_words
from ngramlm.models import family_of, ngram, preset_config
from ngramlm.store import Store
from ngramlm.store.records import NewRun

from .conftest import MAKEMORE, count_rows

CORPUS = ["abba", "abc", "cab", "bca", "aab", "c", "acca", "bab", "abcab", "ca", "bb"]
VOCAB = Vocab.from_words(CORPUS)  # boundary + a, b, c: V = 4


def ngram_config(model: str, order: int, smoothing: float | None, V: int) -> ngram.NgramConfig:
    cls = ngram.BigramConfig if model == "bigram" else ngram.KneserNeyConfig
    return cls(vocab_size=V, order=order, smoothing=smoothing)


def fitted(model: str, order: int, smoothing: float) -> ngram.CountModel:
    cfg = ngram_config(model, order, smoothing, VOCAB.size)
    m = ngram.fit(cfg, *build_examples(CORPUS, VOCAB, order - 1))
    m.smoothing = smoothing
    return m


def every_context(order: int) -> list[tuple[int, ...]]:
    return list(itertools.product(range(VOCAB.size), repeat=order - 1))


@pytest.mark.parametrize(
    ("model", "order", "smoothing"),
    [("bigram", 2, 1.0), ("bigram", 2, 0.01)]
    + [("kneser-ney", n, d) for n in (2, 3, 4, 5) for d in (0.05, 0.5, 0.75, 1.0)],
)
def test_every_context_distribution_sums_to_one(model: str, order: int, smoothing: float) -> None:
    """Seen, partly seen and never seen contexts alike: a distribution over the vocabulary."""
    m = fitted(model, order, smoothing)
    for ctx in every_context(order):
        probs = [m.prob(ctx, w) for w in range(VOCAB.size)]
        assert all(p > 0 for p in probs), ctx
        assert math.fsum(probs) == pytest.approx(1.0, abs=1e-12), ctx
    # the vectorised path (log-probabilities for sampling) agrees
    lp = m.log_probs(torch.tensor(every_context(order)))
    assert torch.allclose(lp.double().exp().sum(1), torch.ones(lp.shape[0], dtype=torch.float64))


@pytest.mark.parametrize(("model", "order"), [("bigram", 2), ("kneser-ney", 3), ("kneser-ney", 5)])
def test_loss_from_count_arrays_equals_the_definition(model: str, order: int) -> None:
    """The per-position arrays used for losses and the discount search give exactly the
    probabilities ``prob`` computes from the definition, at any smoothing."""
    m = fitted(model, order, 0.6)
    X, Y = build_examples(["abcabc", "ccc", "ba", "a"], VOCAB, order - 1)
    stats = m.stats(X, Y)
    for smoothing in (0.3, 0.6, 0.9):
        m.smoothing = smoothing
        fast = m.probs_from_stats(stats, smoothing)
        slow = [m.prob(x, y) for x, y in zip(X.tolist(), Y.tolist(), strict=True)]
        assert fast.tolist() == pytest.approx(slow, rel=1e-12)
        expected = -sum(math.log(p) for p in slow) / len(slow)
        assert m.mean_nll(X, Y) == pytest.approx(expected, rel=1e-12)


def test_bigram_is_makemore_part_1() -> None:
    """Add-k counts: P(w | h) = (c(hw) + k) / (c(h) + k V), written out."""
    m = fitted("bigram", 2, 1.0)
    a, b = VOCAB.stoi["a"], VOCAB.stoi["b"]
    c_ab = sum(w[i : i + 2] == "ab" for w in CORPUS for i in range(len(w) - 1))
    c_a = sum(w.count("a") for w in CORPUS)
    assert m.prob([a], b) == pytest.approx((c_ab + 1) / (c_a + 4))
    # the boundary: how many words start with 'a'
    starts = sum(w.startswith("a") for w in CORPUS)
    assert m.prob([0], a) == pytest.approx((starts + 1) / (len(CORPUS) + 4))


def _nltk_fitted(order: int, discount: float, vocab: Vocab):  # type: ignore[no-untyped-def]
    nltk_lm = pytest.importorskip("nltk.lm")
    tok = [".", *vocab.chars]  # token id -> symbol for NLTK ('.' is the boundary)
    sentences = []
    for w in CORPUS:
        ids = [0] * (order - 1) + vocab.encode(w) + [0]
        grams = []
        for end in range(order - 1, len(ids)):
            grams += [
                tuple(tok[i] for i in ids[end - k + 1 : end + 1]) for k in range(1, order + 1)
            ]
        sentences.append(grams)
    lm = nltk_lm.KneserNeyInterpolated(order, discount=discount)
    lm.fit(sentences, vocabulary_text=tok)
    return lm, tok


@pytest.mark.parametrize("order", [2, 3, 4])
@pytest.mark.parametrize("discount", [0.1, 0.75])
def test_kneser_ney_matches_nltk(order: int, discount: float) -> None:
    """NLTK's KneserNeyInterpolated with the same discount gives the same probability for
    every context and character, to rounding, once fitted on the same n-grams.

    Padding is the one difference in how the two are fed. NLTK's own pipeline pads each
    sentence with order-1 ``<s>`` and order-1 ``</s>`` and counts lower-order n-grams
    *inside the padding* as well (``(<s>, <s>)``, ``(</s>, </s>)``...), which adds
    continuation counts that no prediction uses. ngramlm pads like makemore (order-1
    boundary tokens before, one after) and counts only the n-grams that end at a predicted
    token, so NLTK is fitted here on exactly those (every order, each the suffix of an
    order-N one). Raw counts at the top order, continuation counts below, the discount,
    the interpolation weights and unseen contexts passing straight through then agree.
    (The end of the recursion differs only for a character never seen after another
    one: see the next test.)
    """
    m = fitted("kneser-ney", order, discount)
    lm, tok = _nltk_fitted(order, discount, VOCAB)
    compared = 0
    for ctx in every_context(order):
        context = tuple(tok[i] for i in ctx)
        for w in range(VOCAB.size):
            assert m.prob(ctx, w) == pytest.approx(lm.score(tok[w], context), abs=1e-12)
            compared += 1
    assert compared == VOCAB.size**order


def test_kneser_ney_unseen_character_differs_from_nltk_only_at_order_one() -> None:
    """A character of the vocabulary that train never shows ('d': in dev or test only).

    NLTK ends the recursion at the undiscounted continuation unigram N1+(·w) / N1+(··),
    which gives such a character probability 0 in every context (a log-loss of infinity
    the first time dev or test holds it). ngramlm discounts that level too and gives the
    freed mass to the uniform distribution 1/V (Chen & Goodman's order 0), so every
    character keeps a non-zero probability and each distribution still sums to 1. When
    every character has been seen after another (the previous test) the two unigram
    levels are identical. Swapping NLTK's order-1 level into ours (``unigram=``) makes
    the two agree again everywhere: that level is the only difference.
    """
    vocab = Vocab(("a", "b", "c", "d"), "char")
    order, discount = 3, 0.75
    cfg = ngram_config("kneser-ney", order, discount, vocab.size)
    m = ngram.fit(cfg, *build_examples(CORPUS, vocab, order - 1))
    m.smoothing = discount
    lm, tok = _nltk_fitted(order, discount, vocab)
    d = vocab.stoi["d"]
    nltk_unigram = [lm.estimator.unigram_score(t) for t in tok]
    assert nltk_unigram[d] == 0
    for ctx in itertools.product(range(vocab.size), repeat=order - 1):
        context = tuple(tok[i] for i in ctx)
        assert lm.score("d", context) == 0
        assert m.prob(ctx, d) > 0
        assert math.fsum(m.prob(ctx, w) for w in range(vocab.size)) == pytest.approx(1, abs=1e-12)
        for w in range(vocab.size):
            swapped = m.prob(ctx, w, unigram=nltk_unigram)
            assert swapped == pytest.approx(lm.score(tok[w], context), abs=1e-12)


def test_discount_chosen_on_dev_is_the_best_of_its_search() -> None:
    m = fitted("kneser-ney", 3, 0.5)
    X, Y = build_examples(["abca", "cab", "bba", "acb"], VOCAB, 2)
    stats = m.stats(X, Y)
    best, tried = ngram.choose_smoothing(m, stats)
    assert 0 < best <= 1
    best_loss = m.nll(stats, best)
    assert best_loss == min(v for _, v in tried)
    for d in (0.05, 0.2, 0.4, 0.6, 0.8, 1.0):
        assert best_loss <= m.nll(stats, d) + 1e-9


def test_discount_get_is_kenlms_amount_of_min_count_3() -> None:
    """KenLM's Get(count) = amount[min(count, 3)], a count of 0 discounted by nothing, for
    the tables' int arrays and the statistics' float tensors alike."""
    d = ngram.Discount(0.25, 0.5, 0.75)
    counts = [0, 1, 2, 3, 4, 17]
    expected = [0.0, 0.25, 0.5, 0.75, 0.75, 0.75]
    assert d.get(np.array(counts)).tolist() == expected
    assert d.get(torch.tensor(counts, dtype=torch.float64)).tolist() == expected


@pytest.mark.parametrize("order", [2, 3, 4])
def test_plain_kneser_ney_is_the_modified_formula_with_one_discount(order: int) -> None:
    """Plain Kneser-Ney is modified Kneser-Ney's one formula at D1 = D2 = D3 = D: a
    modified model given Discount(D, D, D) at every order scores every context and token
    (definition, distributions, per-position statistics) as the plain model at D, which
    is NLTK's interpolated Kneser-Ney (``test_kneser_ney_matches_nltk``)."""
    D = 0.6
    plain = fitted("kneser-ney", order, D)
    cfg = ngram.ModifiedKneserNeyConfig(vocab_size=VOCAB.size, order=order)
    modified = ngram.fit(cfg, *build_examples(CORPUS, VOCAB, order - 1))
    assert plain.discounts == [(D, D, D)] * order
    assert modified.discounts != plain.discounts  # estimated from counts of counts
    modified.estimated = [ngram.Discount(D, D, D)] * order
    for ctx in every_context(order):
        probs = [plain.prob(ctx, w) for w in range(VOCAB.size)]
        assert [modified.prob(ctx, w) for w in range(VOCAB.size)] == probs
        assert modified.distribution(ctx).tolist() == pytest.approx(probs, rel=1e-12)
    X, Y = build_examples(["abcabc", "ccc", "ba", "a"], VOCAB, order - 1)
    assert torch.equal(modified.log_probs_of(X, Y), plain.log_probs_of(X, Y))


SAME_BYTES = """
import torch
from ngramlm import checkpoint
from ngramlm.config import RunConfig
from ngramlm.data import Vocab
from ngramlm.models import ngram, preset_config
from ngramlm.training.loop import TrainState
v = Vocab.from_words(["abc", "cab", "ba"])
X = torch.tensor([[0, 0], [0, 1], [1, 2], [2, 3]])
Y = torch.tensor([1, 2, 3, 0])
m = ngram.fit(ngram.KneserNeyConfig(vocab_size=4, order=3, smoothing=0.7), X, Y)
print(checkpoint.counted_blob(m, RunConfig(m.cfg), v).sha256)
state = TrainState(step=3, model={"w": torch.arange(6.0)}, optimizer={}, rng=torch.zeros(2))
print(checkpoint.to_blob(state, preset_config("lecture"), v).sha256)
"""


@pytest.mark.slow
def test_checkpoints_are_the_same_bytes_in_every_process() -> None:
    """The same model gives the same checkpoint sha256 from one process to the next
    (safetensors alone writes its metadata in a per-process order)."""
    import subprocess
    import sys

    shas = [
        subprocess.run(
            [sys.executable, "-c", SAME_BYTES], capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(4)
    ]
    assert len(shas[0]) == 2 and all(s == shas[0] for s in shas)


@pytest.mark.slow  # fits in subprocesses
def test_count_checkpoint_bytes_are_unchanged_by_the_sorted_tables() -> None:
    """The sorted-array tables write the very bytes the dict-of-strings counts wrote
    (sha256 pinned from ngramlm before the rewrite): old stores' count checkpoints load
    and verify, and a refit gives the same sha."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", SAME_BYTES], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "0690e5a89d0fb2ccec47e8140027cdfa47f4ba635b1f966264da53e1554ad583"


def test_checkpoint_round_trip_is_safetensors_and_exact() -> None:
    m = fitted("kneser-ney", 4, 0.7)
    blob = checkpoint.counted_blob(m, RunConfig(m.cfg), VOCAB)
    loaded = checkpoint.load_model(blob.join(), blob.sha256)
    again, vocab = loaded.model, loaded.vocab
    assert isinstance(again, ngram.CountModel)
    assert vocab == VOCAB and again.smoothing == 0.7
    assert np.array_equal(again.counts, m.counts)
    assert np.array_equal(again.tables.grams(), m.tables.grams())
    for ctx in every_context(4)[:20]:
        assert [again.prob(ctx, w) for w in range(4)] == [m.prob(ctx, w) for w in range(4)]
    assert not blob.join().startswith(b"\x80")  # not a pickle


# --- the command line --------------------------------------------------------------------


@pytest.fixture
def prepared(cli, db_url: str, words_file: Path) -> str:
    assert cli("--db", db_url, "prepare", words_file).code == 0
    return db_url


def test_bigram_and_kneser_ney_are_ordinary_runs(cli, prepared: str) -> None:
    url = prepared
    r = cli("--db", url, "train", "--dataset", "tiny", "--model", "bigram", "--json")
    assert r.code == 0, r.err
    bigram = json.loads(r.out)
    assert bigram["model"] == "bigram" and bigram["smoothing"] == 1.0
    assert bigram["status"] == "finished" and bigram["config"]["model"]["order"] == 2
    r = cli("--db", url, "train", "--dataset", "tiny", "--model", "kneser-ney", "--order", "3",
            "--json")  # fmt: skip
    assert r.code == 0, r.err
    kn = json.loads(r.out)
    assert kn["model"] == "kneser-ney" and 0 < kn["smoothing"] <= 1
    assert kn["dev_loss"] < bigram["dev_loss"] + 0.5
    # reported like any run, with its family
    rows = {x["run"]: x for x in json.loads(cli("--db", url, "report", "--json").out)["runs"]}
    assert rows[kn["run"]]["model"] == "kneser-ney" and rows[kn["run"]]["block_size"] == 2
    # no made-up MLP hyperparameters for a count model
    assert rows[kn["run"]]["n_hidden"] is None and rows[kn["run"]]["lr"] is None
    assert rows[kn["run"]]["precision"] is None  # counted, not trained in any precision
    csv_header = cli("--db", url, "report", "--csv").out.splitlines()[0]
    assert csv_header.startswith("run,dataset,sweep,kind,name,status,")  # positions kept
    assert csv_header.endswith(
        ",best_in_sweep,model,precision,category,last_eval_step,last_train_loss,last_dev_loss"
    )  # appended, in that order
    one = json.loads(cli("--db", url, "report", str(kn["run"]), "--json").out)
    assert one["diagnosis"][0]["rule"] == "counted" and one["samples"]
    # sampled and finalized like any run
    r = cli("--db", url, "sample", str(kn["run"]), "-n", "5", "--json")
    assert r.code == 0, r.err
    assert len(json.loads(r.out)["words"]) == 5
    r = cli("--db", url, "finalize", str(kn["run"]), "--json")
    assert r.code == 0, r.err
    assert 0 < json.loads(r.out)["test_loss"] < 5
    assert cli("--db", url, "finalize", str(kn["run"])).code != 0  # once, ever
    # the paper's Table 1: baselines first, then the MLPs
    r = cli("--db", url, "train", "--dataset", "tiny", "--steps", "100", "--n-hidden", "8",
            "--json")  # fmt: skip
    assert r.code == 0, r.err
    table = json.loads(cli("--db", url, "report", "--compare", "--dataset", "tiny", "--json").out)
    assert [x["model"] for x in table["models"]] == ["bigram", "kneser-ney", "mlp"]
    assert table["models"][1]["test_loss"] is not None and table["models"][2]["params"] > 0
    plain = cli("--db", url, "report", "--dataset", "tiny")
    assert "ngramlm report --compare --dataset tiny" in plain.out  # points to Table 1
    text = cli("--db", url, "report", "--compare", "--dataset", "tiny")
    assert text.code == 0 and "kneser-ney 3-gram" in text.out and "bigram add-1" in text.out


def test_given_smoothing_is_kept(cli, prepared: str) -> None:
    r = cli("--db", prepared, "train", "--dataset", "tiny", "--model", "kneser-ney",
            "--order", "4", "--discount", "0.5", "--json")  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["smoothing"] == 0.5 and out["config"]["model"]["smoothing"] == 0.5
    r = cli("--db", prepared, "train", "--dataset", "tiny", "--model", "bigram",
            "--smoothing", "auto", "--json")  # fmt: skip
    assert r.code == 0, r.err
    assert json.loads(r.out)["smoothing"] != 1.0  # chosen on dev


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "trigram"], "--model must be one of"),
        (["--model", "kneser-ney"], "needs --order"),
        (["--model", "kneser-ney", "--order", "9"], "--order must be between 2 and 8"),
        (["--model", "kneser-ney", "--order", "1"], "--order must be between 2 and 8"),
        (["--model", "kneser-ney", "--order", "3", "--smoothing", "1.5"], "in (0, 1]"),
        (["--model", "kneser-ney", "--order", "3", "--smoothing", "nan"], "in (0, 1]"),
        (["--model", "bigram", "--smoothing", "0"], "add-k"),
        (["--model", "bigram", "--smoothing", "lots"], "a number or 'auto'"),
        (["--model", "bigram", "--order", "3"], "bigram is order 2"),
        (
            ["--model", "bigram", "--n-hidden", "100"],
            "--n-hidden is not an option of",
        ),
        (
            ["--model", "bigram", "--preset", "best"],
            "is a mlp preset, not a bigram",
        ),
        (
            ["--model", "kneser-ney", "--order", "3", "--device", "cuda"],
            "--device is not an option of",
        ),
        (["--order", "3"], "--order is not an option of --model mlp"),
        (["--smoothing", "0.5"], "--smoothing is not an option of --model mlp"),
        (["--model", "bigram", "--resume", "1"], "--resume continues"),
    ],
)
def test_bad_count_model_options_refused(cli, prepared: str, args, message: str) -> None:
    before = count_rows(prepared, "runs")
    r = cli("--db", prepared, "train", "--dataset", "tiny", *args)
    assert r.code == 2, r.err
    assert message in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert count_rows(prepared, "runs") == before


@pytest.mark.slow  # trains and plots
def test_count_model_plots_as_a_baseline_line_and_has_no_embeddings(
    cli, prepared: str, tmp_path: Path
) -> None:
    r = cli("--db", prepared, "train", "--dataset", "tiny", "--model", "bigram", "--json")
    run = str(json.loads(r.out)["run"])
    r = cli("--db", prepared, "train", "--dataset", "tiny", "--steps", "40", "--n-hidden", "8",
            "--json")  # fmt: skip
    mlp = str(json.loads(r.out)["run"])
    out = tmp_path / "curves.png"
    r = cli("--db", prepared, "plot", "curves", mlp, run, "--out", out)
    assert r.code == 0, r.err
    assert out.read_bytes().startswith(b"\x89PNG")
    r = cli("--db", prepared, "plot", "embeddings", run)
    assert r.code != 0 and "has no embeddings" in r.err


def test_tampered_count_checkpoint_is_not_finalized(cli, prepared: str) -> None:
    r = cli("--db", prepared, "train", "--dataset", "tiny", "--model", "kneser-ney",
            "--order", "3", "--json")  # fmt: skip
    run = json.loads(r.out)["run"]
    store = Store(prepared)
    ckpt = store.checkpoint(run)
    assert ckpt is not None
    loaded = checkpoint.load_model(ckpt.data, ckpt.sha256)
    model = loaded.model
    assert isinstance(model, ngram.CountModel)
    model.counts = model.counts + 1
    blob = checkpoint.counted_blob(model, loaded.config, loaded.vocab)
    store.save_checkpoint(run, 1, blob)  # a different model under the run's id
    store.close()
    r = cli("--db", prepared, "finalize", str(run))
    assert r.code != 0 and "not the one recorded" in r.err
    assert count_rows(prepared, "evaluations") == 0
    # sample and report RUN read it no more than finalize does: one line, no samples
    for args in (["sample", str(run)], ["report", str(run)]):
        r = cli("--db", prepared, *args)
        assert r.code != 0, args
        assert "is not the one recorded at the end of training" in r.err, r.err
        assert r.err.count("\n") == 1 and "Traceback" not in r.err


@pytest.mark.skipif(not MAKEMORE.exists(), reason=f"the lecture's names.txt is not at {MAKEMORE}")
def test_lecture_numbers_on_the_lecture_names() -> None:
    """makemore part 1's add-1 bigram: loss ~2.45 on the names; Kneser-Ney far better."""
    words = read_words(MAKEMORE)
    split, vocab = split_words(words, 42), Vocab.from_words(words)
    losses = {}
    for model, order in (("bigram", 2), ("kneser-ney", 5)):
        train = build_examples(split.train, vocab, order - 1)
        m = ngram.fit(
            ngram_config(model, order, 1.0 if model == "bigram" else None, vocab.size), *train
        )
        X, Y = build_examples(split.dev, vocab, order - 1)
        stats = m.stats(X, Y)
        if model == "kneser-ney":
            m.smoothing, _ = ngram.choose_smoothing(m, stats)
        losses[model] = m.nll(stats)
    assert losses["bigram"] == pytest.approx(2.45, abs=0.01)
    assert 1.95 < losses["kneser-ney"] < 2.05


def test_crashed_count_run_resumes_by_counting_again(cli, prepared: str) -> None:
    """A count model has no state worth resuming: ``train --resume`` counts again and
    ends where an uninterrupted run does."""
    import os
    import socket

    from ngramlm import __version__
    from ngramlm.stages.plan import Plan
    from ngramlm.stages.run import start_run

    from .helpers import age_heartbeat

    store = Store(prepared)
    ds = store.dataset("tiny")
    cfg = preset_config(None, {"order": 3}, ds.vocab_size, model="kneser-ney")
    full = start_run(store, Plan.of(ds, cfg)).run
    died = store.create_run(NewRun(
        dataset_id=ds.id, kind="train", name=None, preset=None, config=cfg.to_dict(),
        config_hash=cfg.config_hash(), columns=family_of(cfg).columns(cfg), device="cpu",
        host=socket.gethostname(), pid=os.getpid(), version=__version__,
    ))  # fmt: skip
    store.close()
    age_heartbeat(prepared, died.id)
    r = cli("--db", prepared, "train", "--resume", str(died.id), "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["status"] == "finished" and out["model"] == "kneser-ney"
    assert (out["train_loss"], out["dev_loss"]) == (full.train_loss, full.dev_loss)


def test_report_compare_refusals(cli, prepared: str, tmp_path: Path) -> None:
    url = prepared
    assert cli("--db", url, "train", "--dataset", "tiny", "--model", "bigram").code == 0
    other = tmp_path / "other.txt"
    other.write_text("\n".join(f"w{'x' * (i % 5)}y{i % 7}" for i in range(50)) + "\n")
    assert cli("--db", url, "prepare", other, "--name", "other").code == 0
    assert cli("--db", url, "train", "--dataset", "other", "--model", "bigram").code == 0
    for args, message in (
        (["--compare"], "add --dataset NAME"),
        (["1", "--compare"], "drop the RUN or --sweep"),
        (["--compare", "--dataset", "other", "--status", "failed"], "drop --status and --sort"),
        (["--compare", "--dataset", "other", "--sort", "dev"], "drop --status and --sort"),
        (["--compare", "--dataset", "nope"], "no dataset named 'nope'"),
    ):
        r = cli("--db", url, "report", *args)
        assert r.code != 0 and message in r.err, (args, r.err)
        assert len(r.err.strip().splitlines()) == 1
    r = cli("--db", url, "report", "--compare", "--dataset", "other", "--csv")
    assert r.code == 0 and r.out.splitlines()[0].startswith("run,model,description")
    assert len(r.out.splitlines()) == 2


def test_stopped_count_run_is_killed_then_resumes(prepared: str) -> None:
    import threading

    from ngramlm.stages.plan import Plan
    from ngramlm.stages.run import resume_run, start_run

    store = Store(prepared)
    ds = store.dataset("tiny")
    cfg = preset_config(None, {"order": 4}, ds.vocab_size, model="kneser-ney")
    stop = threading.Event()
    stop.set()  # Ctrl-C arrived while counting
    killed = start_run(store, Plan.of(ds, cfg), stop=stop)
    assert killed.run.status == "killed" and killed.result.stopped
    assert store.checkpoint(killed.run.id) is None and store.metrics(killed.run.id) == []
    resumed = resume_run(store, killed.run.id)
    assert resumed.run.status == "finished" and resumed.run.dev_loss is not None
    assert len(store.metrics(killed.run.id)) == 1
    store.close()


@pytest.mark.parametrize("model", ["kneser-ney", "bigram"])
def test_losses_over_chunks_equal_one_pass(monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    """A split longer than a chunk is evaluated chunk by chunk (bounded memory for any
    split): the same loss and per-example log-probabilities as one pass."""
    from ngramlm.models.ngram import kneser_ney

    order = 2 if model == "bigram" else 4
    m = fitted(model, order, 0.6)
    X, Y = build_examples(CORPUS * 3, VOCAB, order - 1)
    whole, each = m.mean_nll(X, Y), m.log_probs_of(X, Y)
    monkeypatch.setattr(kneser_ney, "CHUNK", 7)
    assert Y.shape[0] > 7 * 5
    assert m.mean_nll(X, Y) == pytest.approx(whole, rel=1e-12)
    assert torch.equal(m.log_probs_of(X, Y), each)
