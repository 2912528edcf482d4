"""The fused output layer (``ngramlm.models.output``): the same loss and gradients as
``F.cross_entropy`` over the full logits, its use by the MLP on word vocabularies, and
``--precision`` resolved and recorded with the run."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ngramlm import runtime
from ngramlm.config import RunConfig, TrainConfig
from ngramlm.errors import InputError
from ngramlm.models import family, output
from ngramlm.models.mlp import MLP, MLPConfig

from .conftest import count_rows


def tensors(
    n: int, dims: list[int], V: int, seed: int = 0
) -> tuple[list, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pairs = [
        (
            torch.randn(n, k, generator=g).requires_grad_(),
            (torch.randn(k, V, generator=g) * 0.3).requires_grad_(),
        )
        for k in dims
    ]
    bias = torch.randn(V, generator=g).requires_grad_()
    targets = torch.randint(0, V, (n,), generator=g)
    return pairs, bias, targets


def loss_and_grads(loss: torch.Tensor, leaves: list[torch.Tensor]) -> list[torch.Tensor]:
    grads = torch.autograd.grad(3.0 * loss, leaves)  # a non-unit upstream gradient
    return [loss.detach(), *grads]


@pytest.mark.parametrize("dims", [[7], [7, 12]])  # the hidden layer; and direct connections
@pytest.mark.parametrize("V", [5, 1000, 2500])
# One block in one chunk; several column chunks (the last one short); several row blocks
# (the last one short) of several chunks each.
@pytest.mark.parametrize("sizes", [None, (10**6, 4 * 37 * 300), (2 * 2500 * 10, 4 * 10 * 300)])
def test_same_loss_and_gradients_as_full_logits(
    dims: list[int], V: int, sizes: tuple[int, int] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if sizes is not None:
        monkeypatch.setattr(output, "BLOCK_FLOATS", sizes[0])
        monkeypatch.setattr(output, "CHUNK_BYTES", sizes[1])
    pairs, bias, targets = tensors(37, dims, V)
    leaves = [t for p in pairs for t in p] + [bias]
    logits = bias + sum(a @ W for a, W in pairs)
    ref = loss_and_grads(F.cross_entropy(logits, targets), leaves)
    got = loss_and_grads(output.linear_cross_entropy(pairs, bias, targets), leaves)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_blocks_and_chunks_are_bounded() -> None:
    assert output.block_rows(14_115) * 14_115 <= output.BLOCK_FLOATS
    assert output.block_rows(10**9) == 1  # one row at a time, however large V
    assert output.chunk_columns(512) * 512 * 4 <= output.CHUNK_BYTES
    assert output.chunk_columns(512, 2) == 2 * output.chunk_columns(512, 4)  # bfloat16
    assert output.chunk_columns(10**6) == 128


def test_bf16_stays_close_to_float32() -> None:
    pairs, bias, targets = tensors(64, [32], 3000)
    leaves = [t for p in pairs for t in p] + [bias]
    ref = loss_and_grads(output.linear_cross_entropy(pairs, bias, targets), leaves)
    got = loss_and_grads(output.linear_cross_entropy(pairs, bias, targets, "bf16"), leaves)
    assert abs(got[0].item() - ref[0].item()) < 0.02 * ref[0].item()
    for a, b in zip(got[1:], ref[1:], strict=True):
        assert (a - b).abs().max() <= 0.03 * b.abs().max()


@pytest.mark.parametrize(
    "opts",
    [{}, {"direct": True}, {"tie": True}, {"tie": True, "direct": True, "n_layers": 2}],
)
def test_mlp_on_a_word_vocabulary_trains_through_the_chunks(opts: dict) -> None:
    cfg = MLPConfig(vocab_size=1500, block_size=3, n_embd=6, n_hidden=10, **opts)
    model = MLP(cfg, torch.Generator().manual_seed(0))
    assert model.chunked_output
    g = torch.Generator().manual_seed(1)
    X, Y = torch.randint(0, 1500, (40, 3), generator=g), torch.randint(0, 1500, (40,), generator=g)
    if opts.get("direct"):  # direct connections start at zero: give them weights to check
        with torch.no_grad():
            model.W_direct.normal_(0, 0.1, generator=g)
    leaves = list(model.parameters())
    logits, loss = model(X, Y)
    assert logits is None  # the loss came from the fused layer, not from logits
    ref_logits, _ = model(X)  # the plain path: the full logits
    ref = loss_and_grads(F.cross_entropy(ref_logits, Y), leaves)
    for a, b in zip(loss_and_grads(loss, leaves), ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_char_vocabularies_keep_the_plain_path() -> None:
    model = MLP(MLPConfig(vocab_size=27), torch.Generator().manual_seed(0))
    assert not model.chunked_output
    logits, _ = model(torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long))
    assert logits is not None and logits.shape == (4, 27)


def test_auto_precision_resolves_by_hardware_and_vocabulary() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert runtime.resolve_precision("fp32", cuda, 20_000) == "fp32"
    assert runtime.resolve_precision("bf16", cpu, 27) == "bf16"
    assert runtime.resolve_precision("auto", cuda, 27) == "fp32"  # characters: float32
    assert runtime.resolve_precision("auto", cuda, 20_000) == "bf16"
    expected = "bf16" if runtime.cpu_has_bf16_units() else "fp32"
    assert runtime.resolve_precision("auto", cpu, 20_000) == expected
    wavenet = family("wavenet")
    cfg = RunConfig(wavenet.config_cls(vocab_size=20_000), TrainConfig(precision="auto"))
    assert wavenet.precision(cfg, cuda) == "fp32"  # a family without the chunked layer


def test_bad_precision_is_refused() -> None:
    mlp, wavenet = family("mlp"), family("wavenet")
    with pytest.raises(InputError, match="--precision must be one of auto, fp32, bf16"):
        mlp.validate(RunConfig(MLPConfig(), TrainConfig(precision="fp16")))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="--model wavenet trains in float32 only"):
        wavenet.validate(RunConfig(wavenet.config_cls(), TrainConfig(precision="bf16")))


def test_the_run_records_its_precision(cli, sqlite_url: str, tmp_path: Path) -> None:
    rng = random.Random(0)
    words = [f"w{i}" for i in range(1100)]  # past the chunked layer's vocabulary size
    lines = [" ".join(rng.choices(words, k=rng.randint(2, 9))) for _ in range(3000)]
    path = tmp_path / "big.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli("--db", sqlite_url, "prepare", path, "--unit", "word").code == 0
    r = cli("--db", sqlite_url, "train", "--dataset", "big", "--steps", "4", "--n-hidden", "8",
            "--precision", "fp32", "-q", "--json")  # fmt: skip
    assert r.code == 0, r.err
    run = json.loads(r.out)["run"]
    rows = json.loads(cli("--db", sqlite_url, "report", "--json").out)["runs"]
    assert [row["precision"] for row in rows if row["run"] == run] == ["fp32"]
    r = cli("--db", sqlite_url, "train", "--dataset", "big", "--model", "wavenet",
            "--precision", "bf16", "--steps", "4", "-q")  # fmt: skip
    assert r.code != 0 and "trains in float32 only" in r.err
    r = cli("--db", sqlite_url, "train", "--dataset", "big", "--precision", "fp16", "-q")
    assert r.code == 2 and r.err.strip().splitlines() == [
        "error: --precision must be one of auto, fp32, bf16, got 'fp16'"
    ]
    assert len(json.loads(cli("--db", sqlite_url, "report", "--json").out)["runs"]) == 1


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_logits_far_above_the_target_take_the_safe_sum(precision: str) -> None:
    # Logits hundreds of nats apart: shifted by the target's, exp overflows; the block
    # is made again shifted by each row's maximum, and the result is still
    # F.cross_entropy's (in bfloat16, to its rounding of logits in the hundreds).
    pairs, bias, targets = tensors(16, [8], 1200, seed=3)
    with torch.no_grad():
        pairs[0][1].mul_(60.0)
    leaves = [pairs[0][0], pairs[0][1], bias]
    logits = pairs[0][0] @ pairs[0][1] + bias
    assert (logits.max(1).values - logits[torch.arange(16), targets] > 100).any()
    ref = loss_and_grads(F.cross_entropy(logits, targets), leaves)
    got = loss_and_grads(output.linear_cross_entropy(pairs, bias, targets, precision), leaves)
    assert torch.isfinite(got[0]) and all(torch.isfinite(g).all() for g in got[1:])
    if precision == "fp32":
        for a, b in zip(got, ref, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)  # logits ~100s: float32
    else:
        assert abs(got[0].item() - ref[0].item()) < 0.01 * ref[0].item()
        for a, b in zip(got[1:], ref[1:], strict=True):
            assert (a - b).abs().max() <= 0.03 * b.abs().max()


@pytest.mark.parametrize("gap", [40.0, 60.0, 86.0])
def test_a_logit_far_above_the_target_keeps_its_gradient(gap: float) -> None:
    # One logit `gap` nats above every row's target: shifted by the target's, the row sums
    # stay finite (e^86 < float32's max) but 1 / (n * sum) underflows past ~83 nats for
    # n = 512, which would drop the rows' softmax gradients without a trace in the loss.
    n, V, K = 512, 1200, 4
    x = torch.zeros(n, K)
    x[:, 0] = gap
    W = torch.zeros(K, V)
    W[0, 5] = 1.0
    x.requires_grad_(), W.requires_grad_()
    bias = torch.zeros(V, requires_grad=True)
    targets = torch.full((n,), 7)
    leaves = [x, W, bias]
    ref = loss_and_grads(F.cross_entropy((x @ W + bias).double(), targets).float(), leaves)
    got = loss_and_grads(output.linear_cross_entropy([(x, W)], bias, targets), leaves)
    assert got[3][5].item() == pytest.approx(3.0, rel=1e-5)  # the softmax's whole mass
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_intermediate_losses_sample_only_costly_splits() -> None:
    from ngramlm.evaluation import EvalSet
    from ngramlm.training.evaluating import COSTLY_LOGITS, sample_of

    g = torch.Generator().manual_seed(0)
    X, Y = torch.randint(0, 27, (200_000, 3), generator=g), torch.randint(0, 27, (200_000,))
    chars = EvalSet.of(X, Y, 27)
    assert sample_of(chars, X, Y) is chars  # characters: always the whole split
    X, Y = torch.randint(0, 20_000, (300_000, 4), generator=g), torch.randint(0, 20_000, (300_000,))
    words = EvalSet.of(X, Y, 20_000)
    probe = sample_of(words, X, Y)
    k = COSTLY_LOGITS // 20_000  # the most examples within the budget: 53,687
    assert probe is not words and probe.Y.shape[0] == k
    ix = torch.arange(k) * 300_000 // k  # evenly spaced, the last near the end
    assert sorted(probe.Y.tolist()) == sorted(Y[ix].tolist()) and ix[-1] > 299_990
    again = sample_of(EvalSet.of(X, Y, 20_000), X, Y)  # fixed: no seed, no draw
    assert torch.equal(again.U, probe.U) and torch.equal(again.Y, probe.Y)


def test_bad_embedding_dropout_is_one_line_and_writes_nothing(cli, sqlite_url: str) -> None:
    assert cli("--db", sqlite_url, "prepare").code == 0
    before = count_rows(sqlite_url, "runs")
    r = cli("--db", sqlite_url, "train", "--embd-dropout", "1.5", "--tie", "--steps", "3")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    assert "--embd-dropout must be in [0.0, 0.95], got 1.5" in r.err
    assert count_rows(sqlite_url, "runs") == before


@pytest.mark.parametrize("floats", [None, 1500 * 7, 1500])  # one chunk; 7 contexts; 1
def test_evaluation_in_bounded_chunks_equals_the_full_log_softmax(
    floats: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ngramlm import evaluation

    if floats is not None:
        monkeypatch.setattr(evaluation, "EVAL_FLOATS", floats)
    cfg = MLPConfig(vocab_size=1500, block_size=2, n_embd=6, n_hidden=10, tie=True)
    model = MLP(cfg, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    X = torch.randint(0, 40, (300, 2), generator=g)  # contexts repeat: ~fewer than examples
    Y = torch.randint(0, 1500, (300,), generator=g)
    es = evaluation.EvalSet.of(X, Y, 1500)
    assert es.U.shape[0] < 300
    with torch.no_grad():
        brute = -torch.log_softmax(model.eval()(X)[0].double(), 1)[torch.arange(300), Y]
    assert evaluation.evaluate_set(model, es) == pytest.approx(brute.mean().item(), abs=1e-6)
    got = evaluation.example_log_probs(model, X, Y, 1500)
    torch.testing.assert_close(got, -brute, rtol=0, atol=1e-5)
