"""Bengio et al. 2003's mixture: a finished network interpolated with a finished count
model, λ chosen on dev, stored, reported, sampled and finalized like any run."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path

import pytest
import safetensors.torch
import sqlalchemy as sa
import torch

from ngramlm import checkpoint
from ngramlm.data import build_examples
from ngramlm.models import mixture, preset_config
from ngramlm.stages.plan import Plan
from ngramlm.stages.run import start_run
from ngramlm.store import Store

from .conftest import count_rows
from .helpers import WORDS, cli_train, sentences_file

MLP = ("--steps", "300", "--n-hidden", "32", "--n-embd", "6", "--block-size", "4")


def corpus_file(tmp_path: Path, name: str = "syn", seed: int = 0) -> Path:
    """Words over a random prefix of the alphabet: some structure for a 3-gram, and a
    regularity (the word's letter range) that a network shares across contexts, so
    neither component alone is best and λ falls strictly inside (0, 1)."""
    rng = random.Random(seed)
    letters = "abcdefghij"
    words = [
        "".join(rng.choice(letters[: rng.randint(3, 10)]) for _ in range(rng.randint(2, 7)))
        for _ in range(600)
    ]
    path = tmp_path / f"{name}.txt"
    path.write_text("\n".join(words) + "\n", encoding="utf-8")
    return path


def train(cli, url: str, *args: str) -> dict:
    return cli_train(cli, url, *args, "-q")


@pytest.fixture
def runs(cli, sqlite_url: str, tmp_path: Path) -> tuple[str, int, int]:
    """A store with a tiny MLP (run 1) and a Kneser-Ney 3-gram (run 2) on ``syn``."""
    assert cli("--db", sqlite_url, "prepare", corpus_file(tmp_path)).code == 0
    net = train(cli, sqlite_url, "--dataset", "syn", *MLP)["run"]
    kn = train(cli, sqlite_url, "--dataset", "syn", "--model", "kneser-ney", "--order", "3")["run"]
    return sqlite_url, net, kn


def loaded(url: str, run: int) -> tuple[checkpoint.LoadedModel, torch.Tensor, torch.Tensor]:
    """The run's model and its dataset's dev examples."""
    with Store(url) as s:
        r = s.run(run)
        ckpt = s.checkpoint(run)
        assert ckpt is not None
        m = checkpoint.load_model(ckpt.data, r.checkpoint_sha256)
        X, Y = build_examples(s.words(r.dataset_id, "dev"), m.vocab, m.model.block_size)
    return m, X, Y


def test_weight_is_the_dev_minimiser_and_beats_both(cli, runs: tuple[str, int, int]) -> None:
    url, net, kn = runs
    out = train(cli, url, "--model", "mixture", "--mix", f"{net},{kn}")  # dataset: theirs
    assert out["dataset"] == "syn"
    run = out["run"]
    m, X, Y = loaded(url, run)
    model = m.model
    assert isinstance(model, mixture.MixtureModel)
    assert model.block_size == 4  # the larger of 4 (mlp) and 2 (kn-3)
    a, b = model.component_log_probs(X, Y)

    def f(w: float) -> float:
        return mixture.dev_loss(a, b, w)

    chosen = model.weight
    assert 0 < chosen < 1
    for w in [0.0, 1.0, *(i / 100 for i in range(101))]:
        assert f(chosen) <= f(w) + 1e-9, w
    with Store(url) as s:
        rec, r_net, r_kn = s.run(run), s.run(net), s.run(kn)
    assert rec.dev_loss == pytest.approx(f(chosen), abs=1e-12)
    assert rec.dev_loss is not None and r_net.dev_loss is not None and r_kn.dev_loss is not None
    assert rec.dev_loss <= min(r_net.dev_loss, r_kn.dev_loss) + 1e-12
    # the components' dev losses, from the same evaluations as their own runs'
    assert rec.extra["dev_loss_network"] == pytest.approx(r_net.dev_loss, rel=1e-9)
    assert rec.extra["dev_loss_count"] == pytest.approx(r_kn.dev_loss, rel=1e-12)
    assert rec.extra["weight"] == chosen and rec.extra["smoothing_chosen_on_dev"]
    assert rec.block_size == 4 and rec.model == "mixture"
    label = f"mix(run {net} mlp 4/6/32, run {kn} kn-3) λ={chosen:.2g}"
    report = json.loads(cli("--db", url, "report", str(run), "--json").out)
    assert report["config"]["model"]["mix"] == [net, kn]
    (finding,) = report["diagnosis"]  # in-sample train loss, said as a mixture's
    assert finding["rule"] == "counted"
    assert finding["message"].startswith("a mixture with a count model: train")
    assert f"weight λ={chosen:.4g} chosen on dev" in finding["message"]
    assert report["samples"]
    table = json.loads(cli("--db", url, "report", "--compare", "--json").out)["models"]
    assert [r["run"] for r in table] == [kn, net, run]  # Table 1: n-gram, network, mix
    assert table[-1]["description"] == label and table[-1]["n"] == 5
    assert table[-1]["params"] is None
    text = cli("--db", url, "train", "--model", "mixture", "--mix", f"{kn},{net}")
    assert text.code == 0 and "λ=" in text.out and "chosen on dev" in text.out


def test_mixed_distributions_sum_to_one_and_match_the_losses(
    cli, runs: tuple[str, int, int]
) -> None:
    url, net, kn = runs
    run = train(cli, url, "--model", "mixture", "--mix", f"{kn},{net}")["run"]
    m, X, Y = loaded(url, run)
    logits = m.model.logits(X)
    p = logits.double().exp()
    assert torch.allclose(p.sum(1), torch.ones(X.shape[0], dtype=torch.float64), atol=1e-6)
    picked = torch.log_softmax(logits.double(), 1)[torch.arange(len(Y)), Y]
    assert torch.allclose(picked, m.model.log_probs_of(X, Y), atol=1e-5)
    out = json.loads(cli("--db", url, "sample", str(run), "-n", "10", "--json").out)["words"]
    assert len(out) == 10
    # finalize: a test loss once; a second finalize changes nothing
    fin = cli("--db", url, "finalize", str(run), "--json")
    assert fin.code == 0, fin.err
    assert json.loads(fin.out)["test_loss"] > 0
    again = cli("--db", url, "finalize", str(run))
    assert again.code != 0 and "finalized already" in again.err
    assert count_rows(url, "evaluations") == 1


def test_fixed_weight_and_checkpoint(cli, runs: tuple[str, int, int]) -> None:
    url, net, kn = runs
    out = train(cli, url, "--model", "mixture", "--mix", f"{net},{kn}", "--weight", "0.3")
    m, X, Y = loaded(url, out["run"])
    assert isinstance(m.model, mixture.MixtureModel)
    a, b = m.model.component_log_probs(X, Y)
    assert out["dev_loss"] == pytest.approx(mixture.dev_loss(a, b, 0.3), abs=1e-12)
    with Store(url) as s:
        rec = s.run(out["run"])
        ckpt = s.checkpoint(out["run"])
    assert rec.extra["weight"] == 0.3 and not rec.extra["smoothing_chosen_on_dev"]
    assert rec.extra["weights_tried"] == []
    # self-contained: rewriting the loaded model gives the same tensors and metadata
    # (not the same bytes: safetensors orders metadata keys arbitrarily)
    assert ckpt is not None
    data = checkpoint.counted_blob(m.model, m.config, m.vocab).join()
    assert checkpoint._metadata(data) == checkpoint._metadata(ckpt.data)
    again, stored = safetensors.torch.load(data), safetensors.torch.load(ckpt.data)
    assert again.keys() == stored.keys() and {k[:2] for k in stored} == {"a.", "b."}
    assert all(torch.equal(again[k], stored[k]) for k in stored)
    # a tampered mixture checkpoint is refused at finalize
    with Store(url) as s:
        other = s.checkpoint(kn)
    assert other is not None
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE checkpoint_parts SET data = :d WHERE run_id = :r"),
            {"d": other.data, "r": out["run"]},
        )
        conn.execute(
            sa.text("UPDATE checkpoints SET size = :n WHERE run_id = :r"),
            {"n": len(other.data), "r": out["run"]},
        )
    engine.dispose()
    r = cli("--db", url, "finalize", str(out["run"]))
    assert r.code != 0 and "sha256" in r.err
    # and so is one whose component was tampered with, when mixing
    r = cli("--db", url, "train", "--model", "mixture", "--mix", f"{net},{out['run']}")
    assert r.code != 0 and "sha256" in r.err


@pytest.mark.slow  # trains six runs
def test_bad_input_is_one_line_and_writes_nothing(
    cli, runs: tuple[str, int, int], tmp_path: Path
) -> None:
    url, net, kn = runs
    net2 = train(cli, url, "--dataset", "syn", *MLP, "--seed", "1")["run"]
    kn2 = train(cli, url, "--dataset", "syn", "--model", "bigram")["run"]
    r = cli(
        "--db", url, "lr-find", "--dataset", "syn", "--steps", "20", "--n-hidden", "8", "--json"
    )
    assert r.code == 0, r.err
    lr = json.loads(r.out)["run"]
    assert cli("--db", url, "prepare", corpus_file(tmp_path, "other", 1)).code == 0
    elsewhere = train(cli, url, "--dataset", "other", "--model", "kneser-ney", "--order", "2")
    with Store(url) as s:  # a killed run: stopped before it counted
        stop = threading.Event()
        stop.set()
        cfg = preset_config(None, {"order": 3}, s.dataset("syn").vocab_size, model="kneser-ney")
        killed = start_run(s, Plan.of(s.dataset("syn"), cfg), stop=stop).run.id
    mix = ("train", "--model", "mixture", "--mix")
    cases = {
        (*mix, f"{net},99"): "no run 99",
        (*mix, f"{net},{killed}"): f"run {killed} is killed; mix finished runs",
        (*mix, f"{net},{lr}"): "lr_find run; mix finished training runs",
        (*mix, f"{kn},{kn2}"): "a mixture needs one trained network and one count model",
        (*mix, f"{net},{net2}"): "a mixture needs one trained network and one count model",
        (*mix, f"{net},{elsewhere['run']}"): "are on different datasets",
        (*mix, f"{net},{kn}", "--dataset", "other"): "on dataset syn, not other",
        (*mix, f"{net},{kn}", "--weight", "1.5"): "--weight must be in [0.0, 1.0], got 1.5",
        (*mix, f"{net},{kn}", "--block-size", "3"): "--block-size of a mixture",
        (*mix, f"{net}"): "--mix must be two run ids",
        (*mix, "a,b"): "--mix must be two run ids",
        (*mix, "1,2,3"): "--mix must be two run ids",
        (*mix, f"{net},{net}"): "names run 1 twice",
        ("train", "--model", "mixture"): "needs --mix A,B",
        ("train", "--mix", "1,2"): "--mix is not an option of --model mlp",
    }
    before = count_rows(url, "runs")
    for args, message in cases.items():
        r = cli("--db", url, *args)
        assert r.code != 0, args
        assert message in r.err, (args, r.err)
        assert len(r.err.strip().splitlines()) == 1, r.err
    assert count_rows(url, "runs") == before
    # a mixture is not a component of another
    mixed = train(cli, url, "--model", "mixture", "--mix", f"{net},{kn}")["run"]
    r = cli("--db", url, *mix, f"{net2},{mixed}")
    assert r.code != 0 and f"run {mixed} is mixture" in r.err


def test_word_dataset(cli, sqlite_url: str, tmp_path: Path) -> None:
    path = sentences_file(tmp_path / "sents.txt")
    r = cli("--db", sqlite_url, "prepare", path, "--unit", "word", "--min-count", "2")
    assert r.code == 0, r.err
    net = train(cli, sqlite_url, "--dataset", "sents", *MLP)
    mkn = train(cli, sqlite_url, "--dataset", "sents", "--model", "modified-kn", "--order", "3")
    out = train(cli, sqlite_url, "--model", "mixture", "--mix", f"{mkn['run']},{net['run']}")
    assert out["dev_loss"] <= min(net["dev_loss"], mkn["dev_loss"]) + 1e-12
    words = json.loads(cli("--db", sqlite_url, "sample", str(out["run"]), "--json").out)["words"]
    assert all(set(w["word"].split()) <= {*WORDS, "<unk>"} for w in words)
    fin = cli("--db", sqlite_url, "finalize", str(out["run"]), "--json")
    assert fin.code == 0, fin.err


def test_log_probs_of_are_the_terms_of_mean_nll(cli, runs: tuple[str, int, int]) -> None:
    """Each family's per-example log-probabilities: the one evaluation's terms, in the
    order of the examples, equal to the definition."""
    url, net, kn = runs
    for run in (net, kn):
        m, X, Y = loaded(url, run)
        lp = m.model.log_probs_of(X, Y)
        assert lp.dtype == torch.float64 and lp.shape == Y.shape
        assert -lp.mean().item() == pytest.approx(m.model.mean_nll(X, Y), abs=1e-9)
        if isinstance(m.model, torch.nn.Module):
            with torch.no_grad():
                logits = m.model.eval()(X)[0].double()
            brute = torch.log_softmax(logits, 1)[torch.arange(len(Y)), Y]
            assert torch.allclose(lp, brute, atol=1e-5)
        else:
            probs = [m.model.prob(x, y) for x, y in zip(X.tolist(), Y.tolist(), strict=True)]  # type: ignore[attr-defined]
            assert lp.exp().tolist() == pytest.approx(probs, rel=1e-12)


def test_dev_is_evaluated_once_for_the_weight_and_the_recorded_loss(
    cli, runs: tuple[str, int, int]
) -> None:
    """The run's λ and its recorded dev loss come from one evaluation of the network on
    dev, and that loss is the tuned mixture's own ``mean_nll``."""
    url, net, kn = runs
    run = train(cli, url, "--model", "mixture", "--mix", f"{net},{kn}")["run"]
    m, X, Y = loaded(url, run)
    model = m.model
    assert isinstance(model, mixture.MixtureModel)
    calls = []
    evaluate = model.net.log_probs_of

    def counted(X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        calls.append(X.shape[0])
        return evaluate(X, Y)

    model.net.log_probs_of = counted  # type: ignore[method-assign]
    model.weight = 0.5  # forget the stored λ: choose it again
    model.labels = ["the network", "the count model"]  # as fit names them
    extra, dev = mixture.MixtureFamily().tune_and_score(model, X, Y)
    assert calls == [len(Y)]  # one pass over dev for both
    assert extra["weight"] == model.weight != 0.5
    assert dev == pytest.approx(model.mean_nll(X, Y), abs=1e-12) == extra["dev_loss_mixed"]
    with Store(url) as s:
        assert s.run(run).dev_loss == pytest.approx(dev, abs=1e-12)


def test_a_killed_mixture_resumes(runs: tuple[str, int, int]) -> None:
    """Stopped while fitting: killed, nothing saved; resume loads the components again."""
    from ngramlm.stages.run import resume_run

    url, net, kn = runs
    with Store(url) as s:
        ds = s.dataset("syn")
        cfg = preset_config(None, {"mix": f"{net},{kn}"}, ds.vocab_size, model="mixture")
        stop = threading.Event()
        stop.set()
        killed = start_run(s, Plan.of(ds, cfg), stop=stop).run
        assert killed.status == "killed" and killed.block_size == 4
        done = resume_run(s, killed.id).run
    assert done.status == "finished" and done.dev_loss is not None
    assert 0 < done.extra["weight"] < 1


def test_one_golden_section_search_finds_the_minimum_and_ties_keep_the_lower_part() -> None:
    """The search the count families' smoothing and the mixture's λ share."""
    from ngramlm.models.golden import golden_section

    tried = golden_section(lambda x: (x - 0.3) ** 2, 0.0, 1.0, 40)
    assert len(tried) == 42  # two inner points, then one a step
    assert min(tried, key=lambda t: t[1])[0] == pytest.approx(0.3, abs=1e-8)
    # a tie keeps [a, d]: on a flat function every new point is left of the last one
    flat = [x for x, _ in golden_section(lambda x: 1.0, 0.0, 1.0, 20)]
    assert flat[2:] == sorted(flat[2:], reverse=True) and flat[-1] < 1e-4


def test_chosen_weight_is_where_the_dev_loss_derivative_vanishes() -> None:
    """λ from the golden-section search agrees with the root of the dev loss's derivative,
    -mean((p - q) / (λ p + (1 - λ) q)), found by bisection."""
    g = torch.Generator().manual_seed(3)
    net = torch.rand(400, generator=g, dtype=torch.float64).clamp(min=1e-3).log()
    count = torch.rand(400, generator=g, dtype=torch.float64).clamp(min=1e-3).log()
    p, q = net.exp(), count.exp()
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        slope = -((p - q) / (mid * p + (1 - mid) * q)).mean()
        lo, hi = (mid, hi) if slope < 0 else (lo, mid)
    assert 0.05 < lo < 0.95  # an interior minimum
    weight, tried = mixture.choose_weight(net, count)
    assert weight == pytest.approx(lo, abs=1e-6)
    assert len(tried) == 2 + 2 + 80  # λ = 0 and 1, then the search's points
