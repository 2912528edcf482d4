"""The WaveNet family (makemore part 5): size, shapes, refusals, the CLI end to end,
resume, and its evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ngramlm.data import Vocab, build_examples
from ngramlm.models import family, preset_config
from ngramlm.models.wavenet import WaveNet, WaveNetConfig
from ngramlm.store import Store

from .conftest import count_rows
from .helpers import TINY, assert_resume_equals_uninterrupted, tiny_config, train_tiny


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- the model -------------------------------------------------------------------------


def test_preset_is_the_lectures_76579_parameter_model() -> None:
    cfg = preset_config("wavenet", {}, 27)
    assert cfg.family == "wavenet"
    m, t = cfg.model, cfg.train
    assert isinstance(m, WaveNetConfig)
    assert (m.block_size, m.n_embd, m.n_hidden, m.n_layers) == (8, 24, 128, 3)
    assert (t.batch_size, t.steps, t.optimizer, t.lr, t.lr_schedule) == (
        32,
        200_000,
        "sgd",
        0.1,
        "step",
    )
    from ngramlm.training.loop import lr_at

    assert lr_at(t, 149_999) == 0.1 and lr_at(t, 150_000) == pytest.approx(0.01)
    model = WaveNet(m, torch.Generator().manual_seed(42))
    # makemore part 5 prints 76579: C 27x24, three Linear(no bias)+BatchNorm levels, out
    assert n_params(model) == 76_579
    assert m.n_params == 76_579
    assert family("wavenet").describe(cfg, {}).params == 76_579
    # the preset alone picks the family, and --model wavenet alone picks the preset
    assert preset_config(None, {}, 27, model="wavenet") == cfg


@pytest.mark.parametrize(
    ("block_size", "n_embd", "n_hidden", "vocab_size"),
    [(2, 3, 5, 7), (4, 4, 16, 27), (8, 24, 128, 27), (16, 2, 8, 30)],
)
def test_n_params_counts_the_models_parameters(
    block_size: int, n_embd: int, n_hidden: int, vocab_size: int
) -> None:
    cfg = WaveNetConfig(vocab_size, block_size, n_embd, n_hidden)
    assert cfg.n_params == n_params(WaveNet(cfg, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("block_size", [2, 4, 8, 16])
def test_forward_shapes_level_by_level(block_size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    V, E, H, B = 11, 3, 6, 5
    cfg = WaveNetConfig(V, block_size, E, H)
    model = WaveNet(cfg, torch.Generator().manual_seed(0))
    levels = block_size.bit_length() - 1
    assert cfg.n_layers == levels
    assert model.C.shape == (V, E)
    # FlattenConsecutive(2) doubles the width each level: 2E into the first, 2H after
    assert [tuple(W.shape) for W in model.W] == [(2 * E, H)] + [(2 * H, H)] * (levels - 1)
    assert model.W_out.shape == (H, V) and model.b_out.shape == (V,)
    X = torch.randint(0, V, (B, block_size), generator=torch.Generator().manual_seed(1))
    Y = torch.randint(0, V, (B,), generator=torch.Generator().manual_seed(2))
    logits, loss = model(X, Y)
    assert logits.shape == (B, V) and loss is not None and loss.shape == ()
    assert model(X)[1] is None
    assert model.logits(X).shape == (B, V)
    # record what each level's batch norm normalises
    seen: list[tuple[int, ...]] = []
    orig = F.batch_norm

    def spy(x: torch.Tensor, *a: object, **kw: object) -> torch.Tensor:
        seen.append(tuple(x.shape))
        return orig(x, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(F, "batch_norm", spy)  # the module the WaveNet calls through
    model(X)
    # batch norm over batch and positions: (B * T/2^k, H) at level k = 1..levels
    assert seen == [(B * block_size // 2**k, H) for k in range(1, levels + 1)]


def test_every_context_position_reaches_the_output() -> None:
    """The hierarchy fuses all block_size tokens: changing any one changes the logits."""
    cfg = WaveNetConfig(27, 8, 4, 16)
    model = WaveNet(cfg, torch.Generator().manual_seed(0)).eval()
    X = torch.randint(1, 27, (4, 8), generator=torch.Generator().manual_seed(1))
    base = model.logits(X)
    for pos in range(8):
        Z = X.clone()
        Z[:, pos] = (Z[:, pos] % 26) + 1  # another character at this position
        assert not torch.allclose(model.logits(Z), base), pos


# --- evaluation ------------------------------------------------------------------------


def test_mean_nll_is_plain_cross_entropy_in_eval_mode() -> None:
    words = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper"]
    vocab = Vocab.from_words(words)
    cfg = preset_config("wavenet", {**TINY, "block_size": 4}, vocab.size)
    X, Y = build_examples(words, vocab, 4)
    model = WaveNet(cfg.model, torch.Generator().manual_seed(3))
    # a few training steps so batch norm's running statistics differ from batch ones
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(30):
        _, loss = model(X, Y)
        opt.zero_grad()
        loss.backward()  # type: ignore[union-attr]
        opt.step()
    model.train()
    got = model.mean_nll(X, Y)
    assert model.training  # mean_nll switches to eval mode and back
    with torch.no_grad():
        model.eval()
        plain = F.cross_entropy(model(X)[0], Y).item()
        model.train()
        batch_stats = F.cross_entropy(model(X)[0], Y).item()
    assert got == pytest.approx(plain, abs=1e-6)
    assert abs(got - batch_stats) > 1e-4  # so eval mode was really the one used


# --- refusals --------------------------------------------------------------------------


@pytest.fixture
def prepared(cli, sqlite_url: str, words_file: Path) -> str:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    return sqlite_url


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "wavenet", "--block-size", "6"], "--block-size 6: the WaveNet fuses"),
        (["--preset", "wavenet", "--block-size", "6"], "must be a power of two"),
        (["--model", "wavenet", "--block-size", "12"], "--block-size 12"),
        (["--model", "wavenet", "--block-size", "1"], "--block-size 1"),
        (["--model", "wavenet", "--n-layers", "2"], "--n-layers is not an option"),
        (["--model", "wavenet", "--dropout", "0.1"], "--dropout is not an option"),
        (["--model", "wavenet", "--preset", "best"], "is a mlp preset, not a wavenet"),
        (["--model", "mlp", "--preset", "wavenet"], "is a wavenet preset, not a mlp"),
        (["--model", "wavenet", "--n-hidden", "0"], "--n-hidden must be at least 1"),
    ],
)
def test_bad_wavenet_options_are_refused_writing_nothing(cli, prepared: str, args, message) -> None:
    r = cli("--db", prepared, "train", "--dataset", "tiny", *args)
    assert r.code == 2, r.err
    assert message in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert count_rows(prepared, "runs") == 0


# --- the command line, end to end ------------------------------------------------------


def test_wavenet_through_every_command(cli, prepared: str, tmp_path: Path) -> None:
    url = prepared
    r = cli("--db", url, "train", "--dataset", "tiny", "--model", "wavenet", "--steps", "200",
            "--n-hidden", "16", "--n-embd", "4", "--json")  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads(r.out)
    run = str(out["run"])
    assert out["status"] == "finished" and out["model"] == "wavenet"
    assert out["preset"] == "wavenet" and out["steps_done"] == 200
    m = out["config"]["model"]
    assert (m["block_size"], m["n_embd"], m["n_hidden"]) == (8, 4, 16)
    assert len(out["curve"]) == 21 and 0 < out["dev_loss"] < 4  # step 0 and 20
    # sample
    r = cli("--db", url, "sample", run, "-n", "7", "--json")
    assert r.code == 0, r.err
    sampled = json.loads(r.out)["words"]
    assert len(sampled) == 7 and all(set(w["word"]) <= set("abcdefghijklmnopqrstuvwxyz")
                                     for w in sampled)  # fmt: skip
    # report RUN
    r = cli("--db", url, "report", run, "--json")
    assert r.code == 0, r.err
    one = json.loads(r.out)
    assert one["model"] == "wavenet" and one["n_hidden"] == 16 and one["block_size"] == 8
    assert one["diagnosis"] and one["samples"] and one["checkpoint"]["step"] == 200
    text = cli("--db", url, "report", run)
    assert text.code == 0 and "samples:" in text.out
    # report --compare: the WaveNet is a network row with its size
    r = cli("--db", url, "train", "--dataset", "tiny", "--model", "bigram", "--json")
    assert r.code == 0, r.err
    r = cli("--db", url, "report", "--compare", "--dataset", "tiny", "--json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)["models"]
    assert [x["model"] for x in rows] == ["bigram", "wavenet"]
    wn_row = rows[1]
    expected = WaveNetConfig(out["config"]["model"]["vocab_size"], 8, 4, 16).n_params
    assert wn_row["description"] == "wavenet 8/4/16" and wn_row["params"] == expected
    assert (wn_row["n"], wn_row["h"], wn_row["m"], wn_row["layers"]) == (9, 16, 4, 3)
    text = cli("--db", url, "report", "--compare", "--dataset", "tiny")
    assert text.code == 0 and "wavenet 8/4/16" in text.out
    # plots
    for kind in ("curves", "embeddings"):
        png = tmp_path / f"{kind}.png"
        r = cli("--db", url, "plot", kind, run, "--out", png)
        assert r.code == 0, r.err
        assert png.read_bytes().startswith(b"\x89PNG")
    # finalize, once
    r = cli("--db", url, "finalize", run, "--json")
    assert r.code == 0, r.err
    fin = json.loads(r.out)
    assert fin["created"] is True and 0 < fin["test_loss"] < 5 and fin["test_examples"] > 0
    assert cli("--db", url, "finalize", run).code != 0
    assert count_rows(url, "evaluations") == 1


@pytest.mark.slow
def test_wavenet_sweep_trains_each_point(cli, prepared: str) -> None:
    r = cli("--db", prepared, "sweep", "--dataset", "tiny", "--model", "wavenet",
            "--lr-grid", "0.05,0.1", "--steps", "100", "--n-hidden", "16", "--n-embd", "4",
            "--block-size", "4", "--json")  # fmt: skip
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert len(data["runs"]) == 2
    assert all(x["status"] == "finished" for x in data["runs"])
    with Store(prepared) as s:
        runs = s.sweep_runs(int(data["sweep"]))
        assert sorted(x.lr for x in runs) == [0.05, 0.1]
        assert {x.model for x in runs} == {"wavenet"}
        assert {x.block_size for x in runs} == {4}
        assert all(x.steps_done == 100 and x.dev_loss is not None for x in runs)
        best = min(runs, key=lambda x: x.dev_loss or 0.0)
    assert data["best_run"] == best.id
    assert count_rows(prepared, "runs") == 2


# --- determinism and resume ------------------------------------------------------------


def test_resume_after_kill_equals_uninterrupted(store: Store) -> None:
    """Batch norm's running statistics are part of the checkpoint: a resumed WaveNet
    ends with the very losses of an uninterrupted one."""
    full, _ = assert_resume_equals_uninterrupted(store, tiny_config(store, "wavenet"), at=250)
    assert len(store.metrics(full.run.id)) == 7  # steps 0, 100..600
    # and another seed is another run
    other = train_tiny(store, tiny_config(store, "wavenet", seed=7))
    assert other.run.dev_loss != full.run.dev_loss
