"""Words as tokens: ``prepare --unit word``, ``--min-count``, ``--split ordered``, every
command on a word dataset, and modified Kneser-Ney."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import pytest

from ngramlm.data import (
    UNK,
    SplitSpec,
    Vocab,
    build_examples,
    parse_sentences,
    split_ordered,
    token_counts,
)
from ngramlm.errors import InputError
from ngramlm.models import ngram

from .conftest import BROWN, count_rows
from .helpers import WORDS, corpus, prepare_words, sentences_file


@pytest.fixture
def sentences(tmp_path: Path) -> Path:
    return sentences_file(tmp_path / "sents.txt")


# --- the vocabulary and the split ------------------------------------------------------


def test_word_vocab_encodes_decodes_and_maps_rare_words_to_unk() -> None:
    counts = token_counts(["a b a", "c a b"], "word")
    v = Vocab.from_counts(counts, min_count=2)
    assert v.tokens == ("a", "b", UNK)  # descending train count, <unk> an ordinary token
    assert v.size == 4 and v.boundary == "</s>" and v.itos[0] == "</s>"
    assert v.encode("a  c\tb zzz") == [1, 3, 2, 3]
    assert v.decode([1, 3, 2, 0]) == "a <unk> b"
    assert v.normalize("c  a") == "<unk> a"
    with pytest.raises(InputError, match="word 'zzz' is not in this dataset's vocabulary"):
        v.encode("a zzz", strict=True)
    X, Y = build_examples(["a c"], v, 2)
    assert X.tolist() == [[0, 0], [0, 1], [1, 3]] and Y.tolist() == [1, 3, 0]
    # min-count 1 keeps every train word, and <unk> is still there for dev and test
    assert Vocab.from_counts(counts).tokens == ("a", "b", "c", UNK)


def test_ordered_split_assigns_a_straddling_line_to_the_split_it_starts_in() -> None:
    lines = ["w " * n for n in (3, 2, 4, 1, 5, 2, 3)]  # 20 tokens
    s = split_ordered(lines, 5, 6, "word")  # lines start at tokens 0 3 5 9 10 15 17
    assert [len(p) for p in (s.train, s.dev, s.test)] == [2, 3, 2]
    s = split_ordered(lines, 4, 6, "word")  # line 1 (tokens 3-4) straddles 4: train
    assert [len(p) for p in (s.train, s.dev, s.test)] == [2, 2, 3]
    with pytest.raises(InputError, match="leaving none for test"):
        split_ordered(lines, 15, 5, "word")
    with pytest.raises(InputError, match="leaves the dev split empty"):
        split_ordered(lines, 4, 1, "word")  # dev would start and end at line 2


@pytest.mark.parametrize(
    "text", ["ordered", "ordered:10", "ordered:a,b", "random", "ordered:0,5", "ordered:5,-1"]
)
def test_malformed_split_spec(text: str) -> None:
    with pytest.raises(InputError, match="--split"):
        SplitSpec.parse(text)


def test_sentences_are_normalised() -> None:
    raw = b"  the  cat\tsat \r\n\r\n\n a  dog\n"
    assert parse_sentences(raw, "x") == ["the cat sat", "a dog"]


# --- prepare --unit word --------------------------------------------------------------


def test_prepare_words_reports_vocab_unk_and_exact_counts(cli, db_url: str, tmp_path: Path) -> None:
    # token counts 3 2 4 1 5 2 3 -> ordered:4,6: train lines 0-1, dev 2-3, test 4-6
    lines = ["a b c", "a b", "a b d e", "d", "a b a b z", "c c", "e f a"]
    path = tmp_path / "small.txt"
    path.write_text("\n".join(lines) + "\n")
    data = prepare_words(cli, db_url, path, "--split", "ordered:4,6", "--min-count", "2")
    assert data["unit"] == "word" and data["min_count"] == 2 and data["split"] == "ordered:4,6"
    assert data["words"] == {"train": 2, "dev": 2, "test": 3, "total": 7}
    assert data["tokens"] == {"train": 5, "dev": 5, "test": 10}
    assert data["examples"] == {"train": 7, "dev": 7, "test": 13}
    # train counts a 2, b 2, c 1: the vocabulary is a, b, <unk> (c is rare; d, e unseen)
    assert data["vocab"] == ["a", "b", UNK] and data["vocab_size"] == 4
    assert data["unk_rate"]["train"] == pytest.approx(1 / 5)
    assert data["unk_rate"]["dev"] == pytest.approx(3 / 5)  # d e d
    assert data["unk_rate"]["test"] == pytest.approx(5 / 10)  # z c c e f
    again = cli("--db", db_url, "prepare", path, "--unit", "word", "--split", "ordered:4,6")
    assert again.code != 0 and "immutable" in again.err  # another min-count, same name


def test_dev_and_test_never_influence_the_vocabulary(cli, sqlite_url: str, tmp_path: Path) -> None:
    base = [f"w{i} common" for i in range(20)]
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("\n".join([*base, "dev only words", "test only"]) + "\n")
    b.write_text("\n".join([*base, "other dev stuff", "more test"]) + "\n")
    va = prepare_words(cli, sqlite_url, a, "--split", "ordered:40,3", "--name", "a")["vocab"]
    vb = prepare_words(cli, sqlite_url, b, "--split", "ordered:40,3", "--name", "b")["vocab"]
    assert va == vb and "dev" not in va and "common" in va


def test_char_datasets_keep_their_defaults(cli, sqlite_url: str, words_file: Path) -> None:
    r = cli("--db", sqlite_url, "prepare", words_file, "--json")
    data = json.loads(r.out)
    assert (data["unit"], data["min_count"], data["split"]) == ("char", 1, "shuffled")
    r = cli("--db", sqlite_url, "prepare", words_file, "--min-count", "2", "--name", "x")
    assert r.code != 0 and "--min-count applies to --unit word only" in r.err


@pytest.mark.parametrize(
    ("content", "args", "needle"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", (), "NUL byte (is this a binary file?)"),
        (b"caf\xe9 au lait\n", (), "line 1: not valid UTF-8"),
        (b"", (), "holds no sentences (empty or only blank lines)"),
        (b"\n  \n\t\r\n", (), "holds no sentences"),
        (b"ok line\n" + b"x" * 101 + b" y\n", (), "line 2: a token of 101 characters"),
        (b"a b\n" * 20, ("--min-count", "100"), "--min-count 100 keeps no word"),
        (b"a b\n" * 20, ("--split", "ordered:30,20"), "leaving none for test"),
        (b"a b\n" * 20, ("--split", "ordered:1,1"), "leaves the dev split empty"),
        (b"a b\n" * 20, ("--split", "ordered=30,5"), "--split must be 'shuffled' or"),
        (b"a b\n" * 20, ("--unit", "byte"), "--unit must be char"),
        (b"a b\n" * 20, ("--min-count", "0"), "--min-count must be a whole number >= 1"),
    ],
)
def test_bad_word_input_is_one_line_and_writes_nothing(
    cli, sqlite_url: str, tmp_path: Path, content: bytes, args: tuple[str, ...], needle: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    unit = () if "--unit" in args else ("--unit", "word")
    r = cli("--db", sqlite_url, "prepare", path, *unit, *args)
    assert r.code != 0
    assert needle in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert count_rows(sqlite_url, "datasets") == 0


# --- every command on a word dataset -----------------------------------------------------


@pytest.mark.parametrize(
    "model", [["--model", "modified-kn", "--order", "3"], ["--model", "kneser-ney", "--order", "2"]]
)
def test_count_models_train_report_sample_finalize(
    cli, sqlite_url: str, sentences: Path, model: list[str]
) -> None:
    prepare_words(cli, sqlite_url, sentences, "--min-count", "2")
    r = cli("--db", sqlite_url, "train", "--dataset", "sents", *model, "-q", "--json")
    assert r.code == 0, r.err
    run = str(json.loads(r.out)["run"])
    rep = json.loads(cli("--db", sqlite_url, "report", run, "--json").out)
    assert rep["dev_loss"] < math.log(len(WORDS) + 2)  # better than uniform
    for s in rep["samples"]:
        assert s["in"] in {"train", "dev", "new"}
    out = json.loads(cli("--db", sqlite_url, "sample", run, "-n", "50", "--json").out)["words"]
    assert all(set(w["word"].split()) <= {*WORDS, UNK} for w in out)
    assert {w["in"] for w in out} & {"train", "dev"}  # short sentences repeat train ones
    pre = cli("--db", sqlite_url, "sample", run, "--prefix", "the  cat", "-n", "5", "--json")
    assert all(w["word"].startswith("the cat") for w in json.loads(pre.out)["words"])
    bad = cli("--db", sqlite_url, "sample", run, "--prefix", "the zebra")
    assert bad.code != 0 and "--prefix: word 'zebra' is not in" in bad.err
    assert len(bad.err.strip().splitlines()) == 1
    fin = cli("--db", sqlite_url, "finalize", run, "--json")
    assert fin.code == 0, fin.err


def test_mlp_trains_on_words_and_plots_the_commonest(
    cli, sqlite_url: str, sentences: Path, tmp_path: Path
) -> None:
    prepare_words(cli, sqlite_url, sentences)
    r = cli(
        "--db", sqlite_url, "train", "--dataset", "sents", "--steps", "30", "--n-hidden", "16",
        "-q", "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    run = str(json.loads(r.out)["run"])
    out = json.loads(cli("--db", sqlite_url, "sample", run, "-n", "3", "--json").out)["words"]
    assert len(out) == 3
    pytest.importorskip("matplotlib")
    from ngramlm import open_store

    with open_store(sqlite_url) as exp:
        labels, C = exp.embeddings(int(run))
    assert labels[0] == "</s>" and labels[1] == "the" and len(labels) == C.shape[0]
    r = cli("--db", sqlite_url, "plot", "embeddings", run, "-o", tmp_path / "e.png")
    assert r.code == 0, r.err


# --- modified Kneser-Ney ---------------------------------------------------------------


def mkn(lines: list[str], order: int, min_count: int = 1) -> tuple[ngram.CountModel, Vocab]:
    v = Vocab.from_counts(token_counts(lines, "word"), min_count)
    cfg = ngram.ModifiedKneserNeyConfig(vocab_size=v.size, order=order)
    return ngram.fit(cfg, *build_examples(lines, v, order - 1)), v


@pytest.mark.parametrize("order", [2, 3, 4])
def test_modified_distributions_sum_to_one(order: int) -> None:
    m, v = mkn(corpus(120), order, min_count=2)
    rng = random.Random(order)
    seen = [tuple(x) for x in build_examples(corpus(120)[:20], v, order - 1)[0].tolist()]
    unseen = [tuple(rng.randrange(v.size) for _ in range(order - 1)) for _ in range(30)]
    for ctx in itertools.chain(seen[:30], unseen):
        probs = [m.prob(ctx, w) for w in range(v.size)]
        assert all(p > 0 for p in probs)
        assert math.fsum(probs) == pytest.approx(1.0, abs=1e-9)
        dist = m.distribution(ctx)  # the vectorised path sampling uses
        assert dist.tolist() == pytest.approx(probs, abs=1e-12)
    # per-position statistics (losses) agree with the definition
    X, Y = build_examples(corpus(40, seed=5), v, order - 1)
    fast = m.probs_from_stats(m.stats(X, Y), 0.0)
    slow = [m.prob(x, y) for x, y in zip(X.tolist(), Y.tolist(), strict=True)]
    assert fast.tolist() == pytest.approx(slow, rel=1e-12)


def test_modified_discounts_and_one_probability_by_hand() -> None:
    lines = ["c", "d c", "a a a", "d", "d c", "d c", "d a", "c b"]
    m, v = mkn(lines, 2)
    # Bigram counts ('.' the boundary): .d 5, c. 4, dc 3, .c 2, aa 2, a. 2, and count 1:
    # .a d. da cb b.  ->  n1 5, n2 3, n3 1, n4 1.
    Y = 5 / (5 + 2 * 3)
    D1, D2, D3 = 1 - 2 * Y * 3 / 5, 2 - 3 * Y * 1 / 3, 3 - 4 * Y * 1 / 1
    assert m.discounts[1] == pytest.approx((D1, D2, D3), abs=1e-12)
    assert pytest.approx((5 / 11, 17 / 11, 13 / 11)) == (D1, D2, D3)
    # Continuation counts N1+(.w): . 4 (c a d b), a 3 (. a d), c 2 (. d), d 1, b 1:
    # n1 2, n2 1, n3 1, n4 1, and 11 in all.
    y = 2 / (2 + 2 * 1)
    d1, d2, d3 = 1 - 2 * y * 1 / 2, 2 - 3 * y * 1 / 1, 3 - 4 * y * 1 / 1
    assert m.discounts[0] == pytest.approx((d1, d2, d3), abs=1e-12)
    V = v.size  # boundary, c d a b, <unk>
    assert V == 6
    p1_c = (2 - d2) / 11 + (d1 * 2 + d2 * 1 + d3 * 2) / 11 / V
    # After d: dc 3, d. 1, da 1 (5 in all): N1 2, N2 0, N3+ 1.
    p_c_d = (3 - D3) / 5 + (D1 * 2 + D2 * 0 + D3 * 1) / 5 * p1_c
    c, d = v.stoi["c"], v.stoi["d"]
    assert m.prob([d], c) == pytest.approx(p_c_d, abs=1e-12)
    assert p_c_d == pytest.approx(4 / 11 + 23 / 55 * 12.5 / 66, abs=1e-12)


def test_discounts_follow_counts_of_counts() -> None:
    counts = [1] * 10 + [2] * 4 + [3] * 3 + [4] * 2 + [9] * 5
    Y = 10 / (10 + 8)
    assert ngram.modified_discounts(counts) == pytest.approx(
        (1 - 2 * Y * 4 / 10, 2 - 3 * Y * 3 / 4, 3 - 4 * Y * 2 / 3)
    )
    # degenerate counts of counts are clamped to [MIN_DISCOUNT, r]
    _, low, _ = ngram.modified_discounts([1, 1, 2, *[3] * 10])  # D2 = 2 - 3/2 10
    assert low == ngram.MIN_DISCOUNT


def test_modified_refuses_a_discount(cli, sqlite_url: str, sentences: Path) -> None:
    prepare_words(cli, sqlite_url, sentences)
    r = cli("--db", sqlite_url, "train", "--dataset", "sents", "--model", "modified-kn",
            "--order", "3", "--smoothing", "0.5")  # fmt: skip
    assert r.code != 0 and "drop --smoothing" in r.err


@pytest.mark.skipif(not BROWN.exists(), reason=f"the Brown corpus is not at {BROWN}")
def test_brown_as_bengio_et_al(cli, sqlite_url: str) -> None:
    split = ("--split", "ordered:800000,200000")
    data = prepare_words(cli, sqlite_url, BROWN, "--min-count", "4", *split)
    assert data["vocab_size"] == 14115
    assert data["examples"] == {"train": 835524, "dev": 211711, "test": 171297}
    assert data["unk_rate"]["train"] == pytest.approx(0.0576, abs=5e-4)
    assert data["unk_rate"]["dev"] == pytest.approx(0.0928, abs=5e-4)
