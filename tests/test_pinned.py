"""Pinned numbers: absolute losses of short, fixed runs of every family.

Other tests compare runs with each other (same seed, same losses; resumed equals
uninterrupted); these compare them with numbers measured once, so a change that moves
every run the same way (an initialisation, the minibatch draw, the schedule, the
evaluation, the smoothing) is caught too.

How the values were measured: at the commit that added this file, on one CPU thread (as
tests/conftest.py sets), by running exactly the calls below and printing ``repr`` of the
losses. Tolerances:

* Neural runs are float32. The same config, seed and machine give bit-identical losses;
  another BLAS or CPU rounds matmuls differently (~1e-7 relative per operation), which a
  few hundred or thousand SGD steps carry to ~1e-5 of the final loss. Measured here: the
  hand-written step (``ngramlm.models.mlp.fast``) and autograd, two rounding orders of the same
  step, differ by < 1e-6 after these synthetic runs and 8e-8 after 2,000 steps of the
  ``default`` preset; two threads instead of one moved the WaveNet by 4e-8. So abs=2e-4:
  far above rounding, far below any real change (a changed seed moves these by >1e-2).
* The ``lecture`` preset draws plain randn weights (first loss ~27, saturated tanh):
  early training amplifies rounding, and its two rounding orders differ by 6.2e-4 after
  2,000 steps on the names. Its tolerance is abs=2e-3, three times that.
* Count models are integer counts and float64 arithmetic; only the order of a float64
  sum can differ between machines (~1e-15 relative). abs=1e-9.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ngramlm.data import Vocab, build_examples, read_words, split_words
from ngramlm.models import family, preset_config
from ngramlm.stages.plan import Plan
from ngramlm.stages.prepare import prepare
from ngramlm.stages.run import start_run
from ngramlm.store import Store
from ngramlm.training.loop import Examples, train

from .conftest import MAKEMORE

NEURAL = 2e-4  # float32, short runs (see the module docstring)
LECTURE_INIT = 2e-3  # the lecture's randn init amplifies rounding (see the docstring)
COUNTED = 1e-9  # float64 from integer counts

CPU = torch.device("cpu")

# --- a tiny fixed corpus: always runs ----------------------------------------------------

# fmt: off
WORDS = [
    "emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia", "harper",
    "evelyn", "abigail", "emily", "elizabeth", "mila", "ella", "avery", "sofia", "camila",
    "aria", "scarlett", "victoria", "madison", "luna", "grace", "chloe", "penelope",
    "layla", "riley", "zoey", "nora", "lily", "eleanor", "hannah", "lillian", "addison",
    "aubrey", "ellie", "stella", "natalie", "zoe", "leah", "hazel", "violet", "aurora",
    "savannah", "audrey", "brooklyn", "bella", "claire", "skylar", "lucy", "paisley",
    "everly", "anna", "caroline", "nova", "genesis", "emilia", "kennedy",
]
# fmt: on
TRAIN, DEV = WORDS[:48], WORDS[48:]  # a fixed split, no shuffling involved
VOCAB = Vocab.from_words(WORDS)
SHORT = {"steps": 300, "batch_size": 16, "eval_every": 300, "device": "cpu", "seed": 1}


def tiny_examples(block_size: int) -> Examples:
    return Examples(
        *build_examples(TRAIN, VOCAB, block_size), *build_examples(DEV, VOCAB, block_size)
    )


def test_the_tiny_corpus_is_as_pinned() -> None:
    assert len(WORDS) == 59 and VOCAB.size == 23
    assert tiny_examples(3).Xtr.shape == (323, 3) and tiny_examples(3).Xdev.shape == (76, 3)


@pytest.mark.parametrize(
    ("model", "preset", "overrides", "tol", "train_loss", "dev_loss"),
    [
        ("mlp", "default", {"n_embd": 4, "n_hidden": 16}, NEURAL,
         2.445553551701938, 2.7132795343273566),
        ("mlp", "lecture", {"n_embd": 4, "n_hidden": 16}, NEURAL,
         2.6674026676191267, 3.731760659500172),
        ("wavenet", "wavenet", {"block_size": 4, "n_embd": 4, "n_hidden": 16}, NEURAL,
         2.3336895242010476, 2.736506199758304),
    ],
)  # fmt: skip
def test_neural_losses_on_the_tiny_corpus(
    model: str, preset: str, overrides: dict, tol: float, train_loss: float, dev_loss: float
) -> None:
    cfg = preset_config(preset, {**SHORT, **overrides}, VOCAB.size, model=model)
    out = train(cfg, tiny_examples(cfg.model.block_size), CPU)
    assert [p.step for p in out.points] == [300]  # one evaluation, at the end
    assert out.train_loss == pytest.approx(train_loss, abs=tol)
    assert out.dev_loss == pytest.approx(dev_loss, abs=tol)


@pytest.mark.parametrize(
    ("model", "options", "train_loss", "dev_loss"),
    [
        ("bigram", {}, 2.3221236108413934, 2.6933669135931644),  # add-1
        ("kneser-ney", {"order": 3, "smoothing": 0.75}, 1.394586691021482, 2.668214514709248),
    ],
)
def test_count_losses_on_the_tiny_corpus(
    model: str, options: dict, train_loss: float, dev_loss: float
) -> None:
    cfg = preset_config(None, options, VOCAB.size, model=model)
    fam = family(model)
    ex = tiny_examples(cfg.model.block_size)
    m = fam.fit(cfg.model, ex.Xtr, ex.Ytr)
    extra = fam.tune(m, ex.Xdev, ex.Ydev)
    assert extra["smoothing_chosen_on_dev"] is False  # the given smoothing is kept
    assert m.mean_nll(ex.Xtr, ex.Ytr) == pytest.approx(train_loss, abs=COUNTED)
    assert m.mean_nll(ex.Xdev, ex.Ydev) == pytest.approx(dev_loss, abs=COUNTED)


# --- the lecture's names: when the file is there -----------------------------------------

names = pytest.mark.skipif(
    not MAKEMORE.exists(), reason=f"the lecture's names.txt is not at {MAKEMORE}"
)


@pytest.fixture(scope="module")
def lecture() -> tuple[list[str], list[str], Vocab]:
    words = read_words(MAKEMORE)
    split = split_words(words, 42)
    return split.train, split.dev, Vocab.from_words(words)


def names_examples(lecture: tuple[list[str], list[str], Vocab], block_size: int) -> Examples:
    tr, dev, vocab = lecture
    return Examples(*build_examples(tr, vocab, block_size), *build_examples(dev, vocab, block_size))


@names
@pytest.mark.parametrize(
    ("preset", "steps", "tol", "train_loss", "dev_loss"),
    [
        # makemore part 2's model and init: 2,000 steps (lr 0.1, then 0.01 from step 1,000)
        ("lecture", 2000, LECTURE_INIT, 3.395903535953156, 3.406803817136217),
        # part 3's init, the package's default preset: 2,000 steps (0.01 from step 700)
        ("default", 2000, NEURAL, 2.3507397022116763, 2.3489603575505686),
        # makemore part 5's WaveNet, 76,579 parameters: 1,000 steps (0.01 from step 750)
        ("wavenet", 1000, NEURAL, 2.2549506171737974, 2.254795512496353),
    ],
)
def test_preset_losses_on_the_names(
    lecture: tuple[list[str], list[str], Vocab],
    preset: str,
    steps: int,
    tol: float,
    train_loss: float,
    dev_loss: float,
) -> None:
    vocab = lecture[2]
    assert (len(lecture[0]), len(lecture[1]), vocab.size) == (25626, 3203, 27)
    cfg = preset_config(preset, {"steps": steps, "eval_every": steps, "device": "cpu"}, vocab.size)
    out = train(cfg, names_examples(lecture, cfg.model.block_size), CPU)
    assert [p.step for p in out.points] == [steps]
    assert out.train_loss == pytest.approx(train_loss, abs=tol)
    assert out.dev_loss == pytest.approx(dev_loss, abs=tol)


@names
def test_bigram_add_one_on_the_names_through_the_store(sqlite_url: str) -> None:
    """makemore part 1's model, counted through the store like ``ngramlm train --model
    bigram``: dev 2.4533 (as measured before the refactor, 4 decimals), train 2.4548."""
    with Store(sqlite_url) as s:
        ds = prepare(s, Path(MAKEMORE), "names", 42, unit="char").dataset
        assert (ds.n_train, ds.n_dev, ds.n_test, ds.vocab_size) == (25626, 3203, 3204, 27)
        out = start_run(s, Plan.of(ds, preset_config(None, {}, ds.vocab_size, model="bigram")))
        run = s.run(out.run.id)  # as stored
    assert run.status == "finished" and run.extra["smoothing"] == 1.0
    assert round(run.dev_loss, 4) == 2.4533 and round(run.train_loss, 4) == 2.4548
    assert run.dev_loss == pytest.approx(2.4532639368173252, abs=COUNTED)
    assert run.train_loss == pytest.approx(2.454836888568858, abs=COUNTED)


@names
def test_kneser_ney_5gram_on_the_names(lecture: tuple[list[str], list[str], Vocab]) -> None:
    """Interpolated Kneser-Ney, order 5, the discount fixed at 0.9 (not searched)."""
    vocab = lecture[2]
    cfg = preset_config(None, {"order": 5, "smoothing": 0.9}, vocab.size, model="kneser-ney")
    fam = family("kneser-ney")
    ex = names_examples(lecture, 4)
    m = fam.fit(cfg.model, ex.Xtr, ex.Ytr)
    extra = fam.tune(m, ex.Xdev, ex.Ydev)
    assert extra["smoothing"] == 0.9 and extra["n_ngrams"] == 44426
    assert m.mean_nll(ex.Xtr, ex.Ytr) == pytest.approx(1.741136487070994, abs=COUNTED)
    assert m.mean_nll(ex.Xdev, ex.Ydev) == pytest.approx(1.9942111476992614, abs=COUNTED)
