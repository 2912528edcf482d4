"""makemore.py's sequence models (issue 31): the windows they learn from, every target
once; the same targets every other family is scored on, never conditioned on a later
token or another line; presets, sizes and refusals; resume; the CLI end to end on the
names and on a word corpus."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ngramlm import checkpoint
from ngramlm.data import TokenStream, Vocab, build_examples
from ngramlm.data.sequences import IGNORE, Sequences, sequences_of, train_stride, windows_in
from ngramlm.errors import InputError
from ngramlm.models import family, preset_config
from ngramlm.models.sequence import network
from ngramlm.models.sequence.network import SequenceLM, aligned
from ngramlm.store import Store

from .conftest import BROWN
from .helpers import (
    assert_resume_equals_uninterrupted,
    cli_train,
    prepare_words,
    train_tiny,
    word_corpus,
)

FAMILIES = ("transformer", "gru", "rnn", "bow")
# Tiny widths: a few hundred steps in a second or two on one thread.
TINY_SEQ = {
    "transformer": {"n_layers": 2, "n_head": 2, "n_embd": 8},
    "gru": {"n_embd": 8, "n_hidden": 12},
    "rnn": {"n_embd": 8, "n_hidden": 12},
    "bow": {"n_embd": 8, "n_hidden": 12},
}
TINY_ARGS = {
    name: [a for k, v in opts.items() for a in (f"--{k.replace('_', '-')}", str(v))]
    for name, opts in TINY_SEQ.items()
}
LINES = ["emma", "olivia", "ava", "isabella", "abcdefghijklmnopqrstuvwxy", "mia", "x"]


def tiny_model(name: str, vocab_size: int, block_size: int, seed: int = 0) -> SequenceLM:
    cfg = preset_config(None, {**TINY_SEQ[name], "block_size": block_size}, vocab_size, model=name)
    model = family(name).build(cfg.model, torch.Generator().manual_seed(seed))
    assert isinstance(model, SequenceLM)
    return model.eval()


def window_log_probs(model: SequenceLM, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Each valid target's log-probability from its window, row-major."""
    valid = Y >= 0
    logp = F.log_softmax(model.window_logits(X, valid), dim=-1)
    return logp.gather(1, Y[valid].unsqueeze(1)).squeeze(1).double()


# --- the windows ------------------------------------------------------------------------


@pytest.mark.parametrize("block_size", [1, 3, 6, 26])
@pytest.mark.parametrize("stride", [1, 2, 5])
def test_windows_hold_every_target_once_after_its_lines_tokens(
    block_size: int, stride: int
) -> None:
    """Each target of build_examples (each token of each line and its boundary) is in
    exactly one window, at a position whose inputs are the line's tokens before it
    (from its opening boundary, or at least block_size - stride of them)."""
    vocab = Vocab.from_words(LINES)
    T = block_size
    seqs = sequences_of(LINES, vocab, T, stride)
    X, Y = seqs.materialize()
    assert X.shape == Y.shape == (len(seqs), T)
    assert len(seqs) == windows_in([len(w) for w in LINES], T, stride)
    _, Yex = build_examples(LINES, vocab, T)
    assert seqs.n_targets == int((Y != IGNORE).sum()) == Yex.shape[0]
    # every line's targets, with the inputs each was predicted from
    seen: dict[tuple[int, int], list[int]] = {}
    starts = seqs.start.tolist()
    tokens = seqs.stream.tokens.tolist()
    for r in range(len(seqs)):
        for j in range(T):
            if Y[r, j] == IGNORE:
                continue
            p = starts[r] + 1 + j  # the target's place in the stream
            line = next(i for i, e in enumerate(seqs.stream.ends.tolist()) if p - i - 1 < e)
            first = (seqs.stream.ends[line - 1].item() if line else 0) + line + 1
            t = p - first  # its place in the line: the (t + 1)-th target
            assert (line, t) not in seen, "a target twice"
            seen[(line, t)] = X[r, : j + 1].tolist()
            assert Y[r, j] == tokens[p]
    assert sorted(seen) == [(i, t) for i, w in enumerate(LINES) for t in range(len(w) + 1)]
    for (i, t), inputs in seen.items():
        history = [0, *vocab.encode(LINES[i])[:t]]  # the boundary, then the line so far
        assert inputs == history[-len(inputs) :]  # only the line's own tokens before it
        assert len(inputs) >= min(t + 1, T - stride + 1)  # from its start, or enough of it


def test_stride_one_gives_each_target_its_examples_context_in_its_order() -> None:
    """At stride 1 a target past the first block is the last position of the block
    before it: what its (X, Y) example holds. The targets come in build_examples' order."""
    vocab = Vocab.from_words(LINES)
    T = 4
    X, Y = sequences_of(LINES, vocab, T, 1).materialize()
    Xex, Yex = build_examples(LINES, vocab, T)
    assert Y[Y != IGNORE].tolist() == Yex.tolist()
    later = (Y[:, :-1] == IGNORE).all(1) & (X[:, 0] != 0)  # one target, a full block
    assert X[later].tolist() == [x for x in Xex.tolist() if 0 not in x]


def test_rows_views_read_the_same_windows_as_the_tensors() -> None:
    from ngramlm.data.sequences import Rows

    vocab = Vocab.from_words(LINES)
    seqs = Sequences.of(TokenStream.of(LINES, vocab, 1), 5, 2)
    X, Y = seqs.materialize()
    ix = torch.tensor([3, 0, 2, 2])
    assert torch.equal(Rows(seqs, False)[ix], X[ix]) and torch.equal(Rows(seqs, True)[1:4], Y[1:4])
    assert Rows(seqs, True).shape == tuple(Y.shape)


# --- the same targets, the same context --------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_window_loss_equals_the_contexts_loss_target_by_target(name: str) -> None:
    """The evaluation during training (windows at stride 1) gives each target the very
    log-probability ``log_probs_of`` gives its (X, Y) example: what finalize, sampling
    and a mixture read."""
    vocab = Vocab.from_words(LINES)
    T = 6
    model = tiny_model(name, vocab.size, T)
    X, Y = build_examples(LINES, vocab, T)
    Xw, Yw = sequences_of(LINES, vocab, T, 1).materialize()
    torch.testing.assert_close(window_log_probs(model, Xw, Yw), model.log_probs_of(X, Y))


@pytest.mark.parametrize("name", FAMILIES)
def test_trimmed_windows_compute_what_the_whole_windows_do(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training cuts a minibatch after its last target and evaluation takes windows in
    buckets of similar length: the loss and every logit are those of the whole block."""
    vocab = Vocab.from_words(LINES)
    T = 26
    model = tiny_model(name, vocab.size, T)
    X, Y = sequences_of(LINES, vocab, T, 1).materialize()
    valid = Y >= 0
    with torch.no_grad():
        whole = F.linear(model.body(X, None)[valid], model.W_out, model.b_out)
    monkeypatch.setattr(network, "EVAL_BUCKET", 3)  # three buckets of different lengths
    torch.testing.assert_close(model.window_logits(X, valid), whole)
    short = torch.tensor([i for i, w in enumerate(LINES) if len(w) < 8])
    assert int(network.spans(valid[short]).max()) < T  # these are cut
    _, loss = model(X[short], Y[short])
    keep = valid.clone()
    keep[[i for i in range(len(LINES)) if i not in short.tolist()]] = False
    expected = F.cross_entropy(whole[keep[valid]], Y[keep])
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("name", FAMILIES)
def test_no_target_sees_a_later_token_or_another_line(name: str) -> None:
    vocab = Vocab.from_words(LINES)
    T = 8
    model = tiny_model(name, vocab.size, T)
    X, _ = sequences_of(["isabella"], vocab, T, 1).materialize()
    valid = torch.ones_like(X, dtype=torch.bool)
    base = model.window_logits(X, valid)  # (T, V)
    for k in range(1, T):
        Z = X.clone()
        Z[0, k] = Z[0, k] % (vocab.size - 1) + 1  # another token at position k
        out = model.window_logits(Z, valid)
        torch.testing.assert_close(out[:k], base[:k])  # the earlier targets: unchanged
        assert not torch.allclose(out[k], base[k])  # the next one does read it
    # contexts: whatever comes before the line's opening boundary is not read
    line = vocab.encode("ava")
    alone = torch.tensor([[0] * (T - len(line)) + line])
    other = torch.tensor([[5, 9, 2, 7, 0][-(T - len(line)) :] + line])
    assert (other[0, : T - len(line) - 1] != 0).any()
    torch.testing.assert_close(model.logits(other), model.logits(alone))


def test_contexts_are_aligned_from_the_lines_start() -> None:
    x, last = aligned(torch.tensor([[0, 0, 3, 4], [7, 0, 3, 4], [1, 2, 3, 4], [0, 1, 2, 3]]))
    assert last.tolist() == [2, 2, 3, 3]
    assert [row[: n + 1] for row, n in zip(x.tolist(), last.tolist(), strict=True)] == [
        [0, 3, 4],
        [0, 3, 4],
        [1, 2, 3, 4],
        [0, 1, 2, 3],
    ]


@pytest.mark.parametrize("name", FAMILIES)
def test_dev_loss_is_the_mean_over_the_targets_the_mlp_is_scored_on(
    name: str, store: Store
) -> None:
    """A trained run's recorded dev loss is the mean negative log-likelihood over exactly
    the MLP's dev targets (each token and boundary of each line, once), each recomputed
    here from its line's tokens before it alone, one short sequence at a time."""
    T = 5  # shorter than some names: later targets take the block before them
    ds = store.dataset("tiny")
    opts = {**TINY_SEQ[name], "block_size": T, "steps": 40, "batch_size": 8}
    run = train_tiny(store, preset_config(None, opts, ds.vocab_size, model=name)).run
    dev = store.words(ds.id, "dev")
    mlp = preset_config("default", {"steps": 10}, ds.vocab_size)
    _, Y_mlp = build_examples(dev, ds.vocab, mlp.model.block_size)
    ckpt = store.checkpoint(run.id)
    assert ckpt is not None
    model = checkpoint.load_model(ckpt.data, ckpt.sha256).model
    assert isinstance(model, SequenceLM)
    nll, targets = [], []
    with torch.no_grad():
        for w in dev:
            ids = ds.vocab.encode(w)
            for t, y in enumerate([*ids, 0]):
                seq = [0, *ids[:t]][-T:]  # from the boundary, or the block before it
                h = model.body(torch.tensor([seq]), None)[0, -1]
                logp = F.log_softmax(F.linear(h, model.W_out, model.b_out), dim=-1)
                nll.append(-float(logp[y]))
                targets.append(y)
    assert targets == Y_mlp.tolist()
    assert run.dev_loss == pytest.approx(sum(nll) / len(nll), abs=1e-5)


# --- the models -------------------------------------------------------------------------


def test_transformer_preset_is_makemores_default() -> None:
    cfg = preset_config("transformer", {}, 27)
    m, t = cfg.model, cfg.train
    assert (m.block_size, m.n_layers, m.n_head, m.n_embd, m.dropout) == (16, 4, 4, 64, 0.0)
    assert (t.optimizer, t.lr, t.weight_decay, t.batch_size, t.lr_schedule) == (
        "adamw",
        5e-4,
        0.01,
        32,
        "constant",
    )
    model = family("transformer").build(m, torch.Generator().manual_seed(0))
    # makemore.py prints 0.20M for its Transformer on names.txt (lm_head aside: 202,816)
    assert m.n_params == sum(p.numel() for p in model.parameters()) == 204_544
    assert preset_config(None, {}, 27, model="transformer") == cfg
    for name in ("gru", "rnn", "bow"):
        c = preset_config(name, {}, 27)
        assert (c.model.n_embd, c.model.n_hidden, c.train.lr) == (64, 64, 5e-4), name


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize(("V", "T"), [(27, 16), (7, 3), (1100, 5)])
def test_n_params_counts_the_models_parameters(name: str, V: int, T: int) -> None:
    model = tiny_model(name, V, T)
    assert model.cfg.n_params == sum(p.numel() for p in model.parameters())
    assert family(name).describe(preset_config(name, {}, V), {}).params is not None


@pytest.mark.parametrize("name", FAMILIES)
def test_a_word_vocabulary_trains_through_the_fused_output_layer(name: str) -> None:
    """V >= 1,024 (or bf16): the step's loss comes from models.output's fused layer,
    equal to the plain cross-entropy of the same positions."""
    V, T = 1100, 5
    model = tiny_model(name, V, T).train()
    g = torch.Generator().manual_seed(1)
    X = torch.randint(1, V, (4, T), generator=g)
    Y = torch.randint(0, V, (4, T), generator=g)
    Y[0, 3:] = IGNORE
    _, fused = model(X, Y)
    model.eval()
    plain = -window_log_probs(model, X, Y).mean()
    assert fused is not None
    torch.testing.assert_close(fused.double(), plain, rtol=1e-5, atol=1e-5)
    model.train()
    model.precision = "bf16"  # the body under bfloat16 autocast too
    _, loss = model(X, Y)
    assert loss is not None and torch.isfinite(loss)
    loss.backward()


def test_transformer_heads_must_divide_the_width() -> None:
    with pytest.raises(InputError, match="--n-embd 64 does not divide among --n-head 3"):
        preset_config("transformer", {"n_head": 3}, 27)
    with pytest.raises(InputError, match="--order is not an option of --model gru"):
        preset_config("gru", {"order": 3}, 27)
    with pytest.raises(InputError, match="--dropout is not an option of --model rnn"):
        preset_config("rnn", {"dropout": 0.1}, 27)


@pytest.mark.parametrize("name", FAMILIES)
def test_resume_equals_uninterrupted(name: str, store: Store) -> None:
    extra = {"dropout": 0.1} if name == "transformer" else {}  # masks from the generator
    cfg = preset_config(
        None,
        {**TINY_SEQ[name], **extra, "block_size": 6, "steps": 300, "batch_size": 8},
        store.dataset("tiny").vocab_size,
        model=name,
    )
    cfg = cfg.with_values({"eval_every": 50})
    assert_resume_equals_uninterrupted(store, cfg, at=250)  # progress is told at 250


# --- the CLI, end to end ----------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_train_sample_report_finalize_on_the_names(cli, sqlite_url: str, name: str) -> None:  # type: ignore[no-untyped-def]
    db = ("--db", sqlite_url)
    assert cli(*db, "prepare").code == 0
    r = cli(*db, "train", "--model", name, "--steps", "300", *TINY_ARGS[name], "--json")
    assert r.code == 0, r.err
    run = json.loads(r.out)
    assert run["status"] == "finished" and run["model"] == name and run["preset"] == name
    assert run["steps_done"] == 300 and 1.5 < run["dev_loss"] < 3.3  # learning, from ln 27
    r = cli(*db, "sample", str(run["run"]), "-n", "5", "--seed", "1")
    assert r.code == 0 and len(r.out.strip().splitlines()) == 5, r.err
    r = cli(*db, "report", str(run["run"]))
    assert r.code == 0 and f"dev {run['dev_loss']:.4f}" in r.out, r.err
    for figure in ("curves", "embeddings"):  # the embedding table is C, as every network's
        r = cli(*db, "plot", figure, str(run["run"]), "-o", f"{figure}.png")
        assert r.code == 0 and Path(f"{figure}.png").stat().st_size > 0, r.err
    r = cli(*db, "finalize", str(run["run"]), "--json")
    assert r.code == 0, r.err
    assert 1.5 < json.loads(r.out)["test_loss"] < 3.3
    r = cli(*db, "export", str(run["run"]), "--arpa", "m.arpa")
    assert r.code != 0 and f"is a {name} model" in r.err and len(r.err.strip().splitlines()) == 1
    assert not Path("m.arpa").exists()


@pytest.mark.parametrize("name", FAMILIES)
def test_train_on_a_word_corpus_in_pieces(cli, sqlite_url: str, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    """Sentences longer than the block: the later words in pieces, with the words before
    them; dev scored on every word and boundary."""
    db = ("--db", sqlite_url)
    prepare_words(cli, sqlite_url, word_corpus(tmp_path / "c.txt"), "--name", "corpus")
    args = ["--dataset", "corpus", "--model", name, "--block-size", "4", *TINY_ARGS[name]]
    r = cli(*db, "train", *args, "--steps", "300", "--json")
    assert r.code == 0, r.err
    run = json.loads(r.out)
    assert run["status"] == "finished" and 0 < run["dev_loss"] < 3.0
    assert cli(*db, "sample", str(run["run"]), "-n", "3").code == 0
    r = cli(*db, "finalize", str(run["run"]), "--json")
    assert r.code == 0, r.err
    mlp = cli_train(cli, sqlite_url, "--dataset", "corpus", "--steps", "10", "--n-hidden", "8")
    r_mlp = cli(*db, "finalize", str(mlp["run"]), "--json")
    assert r_mlp.code == 0, r_mlp.err
    # the test split's targets: the very ones the MLP is scored on
    assert json.loads(r.out)["test_examples"] == json.loads(r_mlp.out)["test_examples"]
    # --epochs counts the training windows: an epoch of them, in minibatches of 32
    r = cli(*db, "train", *args, "--epochs", "1", "--json")
    assert r.code == 0, r.err
    ds = Store(sqlite_url).dataset("corpus")
    words = Store(sqlite_url).words(ds.id, "train")
    windows = windows_in([len(w.split()) for w in words], 4, train_stride(4))
    assert json.loads(r.out)["steps_done"] == -(-windows // 32)


def test_a_transformer_search_starts_from_its_familys_search_preset(tmp_path: Path) -> None:
    """``sweep --search --model transformer`` on characters starts its trials from
    ``transformer-best`` (the family's search preset), not from makemore.py's defaults;
    the options given fix what they name and leave the space without it."""
    import ngramlm

    words = tmp_path / "tiny.txt"
    words.write_text("\n".join(LINES * 20) + "\n", encoding="utf-8")
    with ngramlm.open_store(f"sqlite:///{tmp_path / 's.db'}") as exp:
        ds = exp.prepare(words, "tiny")
        sw = exp.search(ds, model="transformer", search="random", trials=1, mix=False,
                        workers=0, steps=20, n_layers=1, n_embd=8, n_head=2)  # fmt: skip
    base = sw.spec["base"]
    assert base["model"]["dropout"] == 0.2 and base["train"]["lr_schedule"] == "cosine"
    assert base["train"]["batch_size"] == 64 and base["train"]["steps"] == 20
    keys = {item.split("=")[0] for item in sw.spec["search"]["space"]}
    assert keys == {"lr", "dropout", "weight_decay"}  # n_layers and n_embd were given


def test_a_tied_transformer_reads_its_embeddings_as_its_output_layer(tmp_path: Path) -> None:
    """``--tie``: no output matrix of its own (V x n_embd fewer parameters), the logits
    are the final state against C's rows (near zero at the start), and a tied run trains,
    checkpoints and reloads to the same dev loss."""
    cfg = preset_config(None, {**TINY_SEQ["transformer"], "block_size": 6, "tie": True}, 50,
                        model="transformer")  # fmt: skip
    model = family("transformer").build(cfg.model, torch.Generator().manual_seed(0)).eval()
    untied = tiny_model("transformer", 50, 6)
    params = sum(p.numel() for p in model.parameters())
    assert params == cfg.model.n_params == sum(p.numel() for p in untied.parameters()) - 50 * 8
    assert not hasattr(model, "W_out") and model.head()[0] is model.C
    X = torch.randint(1, 50, (4, 6))
    h = model.body(X, None)[:, -1]
    torch.testing.assert_close(model.window_logits(X, torch.ones_like(X, dtype=torch.bool)),
                               F.linear(model.body(X, None).flatten(0, 1), model.C))  # fmt: skip
    assert float((h @ model.C.t()).detach().abs().max()) < 10  # untied rows give ~n_embd
    store_url = f"sqlite:///{tmp_path / 's.db'}"
    import ngramlm

    with ngramlm.open_store(store_url) as exp:
        ds = exp.prepare(word_corpus(tmp_path / "c.txt"), "c", unit="word")
        run = exp.train(ds, model="transformer", tie=True, steps=60, n_layers=1, n_head=2,
                        n_embd=8, block_size=8, eval_every=30).run  # fmt: skip
        assert run.status == "finished" and run.dev_loss is not None
        dev = tmp_path / "dev.txt"
        dev.write_text("\n".join(exp.words(ds, "dev")) + "\n", encoding="utf-8")
        scored = exp.score(run.id, dev)  # from the checkpoint: the recorded dev loss
        assert scored.loss == pytest.approx(run.dev_loss, abs=1e-9)


def test_a_window_split_past_the_size_is_finally_measured_on_a_fixed_sample(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the MLP's (``final_set``): past FINAL_TRAIN targets a sequence family's final
    train loss is over a fixed sample of evenly spaced windows holding about that many,
    the same for every run; dev stays whole; the record says which."""
    from ngramlm.training import evaluating

    from .helpers import train_tiny

    given = {**TINY_SEQ["transformer"], "block_size": 8, "steps": 40, "batch_size": 16}
    cfg = preset_config(None, given, store.dataset("tiny").vocab_size, model="transformer")
    whole = train_tiny(store, cfg).run
    monkeypatch.setattr(evaluating, "FINAL_TRAIN", 300)
    runs = [train_tiny(store, cfg).run for _ in range(2)]
    assert runs[0].extra == runs[1].extra and set(runs[0].extra["final_sample"]) == {"train"}
    measured, n = runs[0].extra["final_sample"]["train"]
    assert 250 <= measured <= 300 < n
    assert runs[0].train_loss == runs[1].train_loss != whole.train_loss  # the same sample
    assert runs[0].dev_loss == whole.dev_loss  # dev whole, the training unchanged


@pytest.mark.parametrize("name", FAMILIES)
def test_300_steps_on_brown(cli, sqlite_url: str, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    """Each family on the real Brown corpus (its first 3,000 sentences, split in order as
    the paper's protocol splits the whole): 300 steps from ln |V|, learning."""
    if not BROWN.is_file():
        pytest.skip(f"no Brown corpus at {BROWN} (set NGRAMLM_BROWN; README says how)")
    head = tmp_path / "brown3k.txt"
    with BROWN.open(encoding="utf-8") as f:
        head.write_text("".join(next(f) for _ in range(3000)), encoding="utf-8")
    ds = prepare_words(cli, sqlite_url, head, "--name", "brown", "--split", "ordered:50000,8000")
    r = cli("--db", sqlite_url, "train", "--dataset", "brown", "--model", name,
            "--block-size", "16", "--steps", "300", "--lr", "0.01", *TINY_ARGS[name],
            "--json")  # fmt: skip
    assert r.code == 0, r.err
    run = json.loads(r.out)
    assert run["steps_done"] == 300 and run["dev_loss"] < math.log(ds["vocab_size"]) - 1, run


def test_a_lines_first_window_goes_through_the_body_once() -> None:
    """``log_probs_of`` reads the targets of a line's first window from one pass: the
    contexts of "ava" (a, v, a, end) are prefixes of its last; a longer line's contexts
    past the block each have their own window; and the values are the per-target ones."""
    vocab = Vocab.from_words(LINES)
    T = 6
    X, Y = build_examples(["ava", "isabella"], vocab, T)
    x, last = aligned(X)
    heads = network.shared_windows(x, last).tolist()
    # ava: 4 targets, one window (row 3); isabella: 9 targets, the first 6 in one window
    # (row 9), each of the 3 past the block its own (rows 10, 11, 12)
    assert heads == [3, 9, 10, 11, 12]
    model = tiny_model("transformer", vocab.size, T)
    alone = torch.cat([model.log_probs_of(X[i : i + 1], Y[i : i + 1]) for i in range(len(Y))])
    torch.testing.assert_close(model.log_probs_of(X, Y), alone, rtol=1e-6, atol=1e-6)
