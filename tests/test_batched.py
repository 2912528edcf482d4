"""Batched training of sweep points (training.batched, on the MLP's models.mlp.batched)
against the same points alone."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch

from ngramlm.config import RunConfig, TrainConfig
from ngramlm.data import Vocab, build_examples, split_words
from ngramlm.models.mlp import MLP, MLPConfig
from ngramlm.models.mlp.batched import BatchedFastSGD, BatchedMLP
from ngramlm.training.batched import supports, train_batched
from ngramlm.training.loop import EvalPoint, Examples, Hooks, TrainState, train

CPU = torch.device("cpu")


def make_words(n: int = 400) -> list[str]:
    """Made-up names, as the ``words_file`` fixture makes them."""
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 7))) for _ in range(n)]


def make_examples(block_size: int = 3) -> tuple[Examples, int]:
    words = make_words()
    vocab = Vocab.from_words(words)
    split = split_words(words, seed=42)
    Xtr, Ytr = build_examples(split.train, vocab, block_size)
    Xdev, Ydev = build_examples(split.dev, vocab, block_size)
    return Examples(Xtr, Ytr, Xdev, Ydev), vocab.size


class Recorder(Hooks):
    def __init__(self, stop_at: int | None = None) -> None:
        self.points: list[EvalPoint] = []
        self.checkpoints: list[TrainState] = []
        self.progress: list[tuple[int, float]] = []
        self.stop_at = stop_at
        self.calls = 0

    def on_progress(self, step: int, batch_loss: float, elapsed_s: float) -> None:
        self.progress.append((step, batch_loss))

    def on_eval(self, point: EvalPoint) -> None:
        self.points.append(point)

    def on_checkpoint(self, state: TrainState) -> None:
        self.checkpoints.append(state)

    def should_stop(self) -> bool:
        self.calls += 1
        return self.stop_at is not None and self.calls > self.stop_at


def lecture_cfg(V: int, **train: object) -> RunConfig:
    """The lecture's shapes. Part 3's initialisation: with part 2's plain randn weights
    and this small word list, training at these learning rates is chaotic enough that
    float rounding alone (the solo fast path against solo autograd) moves the dev loss by
    0.1 after 300 steps, so no 1e-4 comparison could hold."""
    model = MLPConfig(vocab_size=V, block_size=3, n_embd=10, n_hidden=200, init="kaiming")
    t = TrainConfig(batch_size=32, steps=300, lr=0.1, eval_every=100, device="cpu")
    return RunConfig(model=model, train=dataclasses.replace(t, **train))  # type: ignore[arg-type]


def tiny_cfg(V: int, **train: object) -> RunConfig:
    model = MLPConfig(vocab_size=V, block_size=4, n_embd=6, n_hidden=24, n_layers=2)
    t = TrainConfig(
        batch_size=20,
        steps=240,
        lr=0.2,
        lr_schedule="cosine",
        warmup=30,
        weight_decay=1e-3,
        eval_every=60,
        checkpoint_every=120,
        device="cpu",
    )
    return RunConfig(model=model, train=dataclasses.replace(t, **train))  # type: ignore[arg-type]


def assert_points_close(got: list[EvalPoint], want: list[EvalPoint]) -> None:
    assert [p.step for p in got] == [p.step for p in want]
    for a, b in zip(got, want, strict=True):
        assert a.lr == pytest.approx(b.lr, rel=1e-12)
        for field in ("batch_loss", "train_loss", "dev_loss"):
            x, y = getattr(a, field), getattr(b, field)
            assert x == pytest.approx(y, abs=1e-4), (a.step, field, x, y)


# --- (1) every member ends where the same point trained alone ends ------------------------


@pytest.mark.parametrize("kind", ["lecture", "tiny"])
def test_members_match_solo_runs(kind: str) -> None:
    examples, V = make_examples(block_size=3 if kind == "lecture" else 4)
    make = lecture_cfg if kind == "lecture" else tiny_cfg
    cfgs = [
        make(V, lr=0.05, seed=1),
        make(V, lr=0.1, seed=2),
        make(V, lr=0.2, seed=1),
        make(V, lr=0.4, seed=3),
    ]
    assert supports(cfgs)
    hooks = [Recorder() for _ in cfgs]
    results = train_batched(cfgs, examples, CPU, hooks)
    for cfg, res, hook in zip(cfgs, results, hooks, strict=True):
        solo_hook = Recorder()
        solo = train(cfg, examples, CPU, solo_hook)
        assert not res.stopped and res.state.step == cfg.train.steps
        assert res.train_loss == pytest.approx(solo.train_loss, abs=1e-4)
        assert res.dev_loss == pytest.approx(solo.dev_loss, abs=1e-4)
        assert_points_close(res.points, solo.points)
        assert_points_close(hook.points, solo_hook.points)
        assert [s for s, _ in hook.progress] == [s for s, _ in solo_hook.progress]
        for (_, x), (_, y) in zip(hook.progress, solo_hook.progress, strict=True):
            assert x == pytest.approx(y, abs=1e-4)
        # Checkpoints: same steps, same generator state, same weights under solo names.
        assert [c.step for c in hook.checkpoints] == [c.step for c in solo_hook.checkpoints]
        for a, b in zip(
            [*hook.checkpoints, res.state], [*solo_hook.checkpoints, solo.state], strict=True
        ):
            assert torch.equal(a.rng, b.rng)
            assert a.model.keys() == b.model.keys()
            for name in a.model:
                torch.testing.assert_close(a.model[name], b.model[name], atol=1e-4, rtol=1e-4)
            assert a.batch_loss_count == b.batch_loss_count
            assert a.batch_loss_sum == pytest.approx(b.batch_loss_sum, abs=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_members_match_solo_runs_on_cuda() -> None:
    examples, V = make_examples()
    cuda = torch.device("cuda")
    cfgs = [lecture_cfg(V, lr=lr, seed=seed) for lr, seed in [(0.05, 1), (0.2, 2), (0.4, 3)]]
    results = train_batched(cfgs, examples, cuda, [Hooks() for _ in cfgs])
    for cfg, res in zip(cfgs, results, strict=True):
        solo = train(cfg, examples, CPU)  # EvalSet.of cannot run on CUDA (int64 matmul)
        assert_points_close(res.points, solo.points)
        assert all(t.device.type == "cpu" for t in res.state.model.values())


def test_members_match_autograd_solo_runs() -> None:
    """Also against the solo autograd loop and torch.optim.SGD, not only the fast path."""
    examples, V = make_examples(block_size=4)
    cfgs = [tiny_cfg(V, lr=0.1, seed=5), tiny_cfg(V, lr=0.3, seed=6)]
    results = train_batched(cfgs, examples, CPU, [Hooks(), Hooks()])
    for cfg, res in zip(cfgs, results, strict=True):
        solo = train(cfg, examples, CPU, fast_path=False)
        assert_points_close(res.points, solo.points)


def test_stop_returns_resumable_member_states() -> None:
    examples, V = make_examples()
    cfgs = [lecture_cfg(V, seed=1, steps=100), lecture_cfg(V, lr=0.2, seed=2, steps=100)]
    hooks = [Recorder(stop_at=40), Recorder()]
    results = train_batched(cfgs, examples, CPU, hooks)
    assert all(r.stopped and r.state.step == 40 for r in results)
    for cfg, res in zip(cfgs, results, strict=True):
        resumed = train(cfg, examples, CPU, resume=res.state)
        solo = train(cfg, examples, CPU)
        assert resumed.dev_loss == pytest.approx(solo.dev_loss, abs=1e-4)


def test_a_stop_during_an_evaluation_resumes_solo_with_that_evaluation_first() -> None:
    """The loop body is the solo loop's: stopped inside the evaluation at step 50, each
    member's state is at 50 with its minibatch losses not yet reset, and resumed alone it
    takes that evaluation first and ends as the point trained alone, uninterrupted."""
    examples, V = make_examples()
    cfgs = [
        lecture_cfg(V, seed=1, steps=100, eval_every=50),
        lecture_cfg(V, lr=0.2, seed=2, steps=100, eval_every=50),
    ]
    hooks = [Recorder(stop_at=50), Recorder()]  # call 51: the first chunk of step 50's
    results = train_batched(cfgs, examples, CPU, hooks)
    assert [(r.stopped, r.state.step, r.state.batch_loss_count) for r in results] == [
        (True, 50, 50)
    ] * 2
    assert all(h.points == [] and r.points == [] for h, r in zip(hooks, results, strict=True))
    for cfg, res in zip(cfgs, results, strict=True):
        resumed = train(cfg, examples, CPU, resume=res.state)
        solo = train(cfg, examples, CPU)
        assert [p.step for p in resumed.points] == [50, 100]
        assert_points_close(resumed.points, solo.points)


# --- (2) one batched step equals autograd and torch.optim.SGD for each member -------------


def make_group(cfg: MLPConfig, M: int) -> tuple[list[MLP], BatchedMLP]:
    models = [MLP(cfg, torch.Generator().manual_seed(10 + m)) for m in range(M)]
    return models, BatchedMLP(models, CPU)


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_grads_match_autograd(n_layers: int) -> None:
    cfg = MLPConfig(vocab_size=27, block_size=3, n_embd=10, n_hidden=50, n_layers=n_layers)
    M, B = 3, 16
    models, net = make_group(cfg, M)
    g = torch.Generator().manual_seed(0)
    xb = torch.randint(0, 27, (M, B, 3), generator=g)
    xb[0, :4] = 0  # repeated characters: the embedding gradient must accumulate
    yb = torch.randint(0, 27, (M, B), generator=g)
    losses, grads = BatchedFastSGD(net, B).grads(xb, yb)
    for m, model in enumerate(models):
        _, loss = model(xb[m], yb[m])
        assert loss is not None
        loss.backward()
        torch.testing.assert_close(losses[m], loss.detach())
        for name, p in model.named_parameters():
            assert p.grad is not None
            torch.testing.assert_close(grads[m][name], p.grad, msg=f"member {m} {name}")


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_step_matches_torch_sgd(weight_decay: float) -> None:
    cfg = MLPConfig(vocab_size=27, block_size=3, n_embd=10, n_hidden=40, n_layers=2)
    M, B, N = 4, 8, 100
    models, net = make_group(cfg, M)
    g = torch.Generator().manual_seed(1)
    X, Y = torch.randint(0, 27, (N, 3), generator=g), torch.randint(0, 27, (N,), generator=g)
    lrs = [0.05, 0.1, 0.5, 1.0]
    stepper = BatchedFastSGD(net, B, weight_decay)
    for _ in range(3):  # a few steps: the updates must land in the stacked weights
        ix = torch.randint(0, N, (M, B), generator=g)
        loglik = stepper.step_ix(X, Y, ix, torch.tensor(lrs).view(M, 1, 1)).clone()
        for m, model in enumerate(models):
            opt = torch.optim.SGD(model.parameters(), lr=lrs[m], weight_decay=weight_decay)
            _, loss = model(X[ix[m]], Y[ix[m]])
            assert loss is not None
            opt.zero_grad()
            loss.backward()
            opt.step()
            torch.testing.assert_close(-loglik[m] / B, loss.detach())
    for m, model in enumerate(models):
        state = net.member_state(m)
        for name, p in model.state_dict().items():
            torch.testing.assert_close(state[name], p, msg=f"member {m} {name}")


# --- (3) which groups are batched ----------------------------------------------------------


def test_supports() -> None:
    base = lecture_cfg(27)
    two = [base, base.with_values({"lr": 0.2, "seed": 7})]
    assert supports(two)
    assert supports([*two, base.with_values({"n_layers": 2})]) is False  # shapes differ
    assert not supports([base])  # a single point trains alone
    assert not supports([base, base.with_values({"n_hidden": 100})])
    assert not supports([base, base.with_values({"steps": 400})])  # schedules differ
    for change in ({"norm": "batch"}, {"norm": "layer"}, {"dropout": 0.1}, {"direct": True}):
        cfg = base.with_values(change)
        assert not supports([cfg, cfg.with_values({"lr": 0.3})]), change
    adam = base.with_values({"optimizer": "adamw"})
    assert not supports([adam, adam.with_values({"lr": 0.3})])
    deep = base.with_values({"n_layers": 3})
    assert supports([deep, deep.with_values({"seed": 3})])


# --- (4) member weights under the solo model's names ---------------------------------------


def test_member_state_round_trips() -> None:
    cfg = MLPConfig(vocab_size=27, block_size=3, n_embd=10, n_hidden=30, n_layers=2)
    models, net = make_group(cfg, 3)
    X = torch.randint(0, 27, (5, 3), generator=torch.Generator().manual_seed(2))
    logits = net.forward(X.unsqueeze(0).expand(3, -1, -1))
    for m, model in enumerate(models):
        state = net.member_state(m)
        assert state.keys() == model.state_dict().keys()
        assert all(state[k].shape == v.shape for k, v in model.state_dict().items())
        fresh = MLP(cfg, torch.Generator().manual_seed(99))
        fresh.load_state_dict(state)  # strict: every name and shape as MLP's
        torch.testing.assert_close(fresh(X)[0], logits[m])


# --- (5) members that differ in weight decay; members that leave early ---------------------


def test_members_may_differ_in_weight_decay() -> None:
    examples, V = make_examples(block_size=4)
    cfgs = [
        tiny_cfg(V, lr=0.2, weight_decay=wd, seed=s) for wd, s in [(0.0, 1), (0.01, 2), (0.05, 3)]
    ]
    assert supports(cfgs)
    results = train_batched(cfgs, examples, CPU, [Hooks() for _ in cfgs])
    for cfg, res in zip(cfgs, results, strict=True):
        assert_points_close(res.points, train(cfg, examples, CPU).points)


class LeaveAt(Recorder):
    """Asks to stop once it has been evaluated at ``step`` (as a pruned trial does)."""

    def __init__(self, step: int | None) -> None:
        super().__init__()
        self.step = step

    def should_stop(self) -> bool:
        return self.step is not None and any(p.step >= self.step for p in self.points)


def test_a_member_that_leaves_stops_alone_and_the_others_keep_their_losses() -> None:
    examples, V = make_examples(block_size=4)
    cfgs = [tiny_cfg(V, lr=lr, seed=s) for lr, s in [(0.05, 1), (0.2, 2), (0.4, 3), (0.1, 4)]]
    hooks = [LeaveAt(60), LeaveAt(None), LeaveAt(120), LeaveAt(60)]
    left: list[tuple[int, int]] = []
    results = train_batched(
        cfgs,
        examples,
        CPU,
        hooks,
        on_leave=lambda i, r: left.append((i, r.state.step)),
    )
    assert left == [(0, 60), (3, 60), (2, 120)]  # in the order they left, each once
    for cfg, res, hook in zip(cfgs, results, hooks, strict=True):
        solo_hook = LeaveAt(hook.step)
        solo = train(cfg, examples, CPU, solo_hook)
        assert res.stopped == solo.stopped == (hook.step is not None)
        assert res.state.step == solo.state.step
        assert_points_close(res.points, solo.points)
        assert_points_close(hook.points, solo_hook.points)
        assert [c.step for c in hook.checkpoints] == [c.step for c in solo_hook.checkpoints]
        assert torch.equal(res.state.rng, solo.state.rng)
        for name in res.state.model:
            torch.testing.assert_close(
                res.state.model[name], solo.state.model[name], atol=1e-4, rtol=1e-4
            )


def test_without_on_leave_one_stop_stops_them_all() -> None:
    examples, V = make_examples(block_size=4)
    cfgs = [tiny_cfg(V, lr=0.1, seed=1), tiny_cfg(V, lr=0.2, seed=2)]
    results = train_batched(cfgs, examples, CPU, [LeaveAt(60), LeaveAt(None)])
    assert [(r.stopped, r.state.step) for r in results] == [(True, 60), (True, 60)]
    # with on_leave, when every member left asks to stop, they stop together (a signal)
    left: list[int] = []
    results = train_batched(
        cfgs, examples, CPU, [LeaveAt(60), LeaveAt(60)], on_leave=lambda i, r: left.append(i)
    )
    assert left == [] and [(r.stopped, r.state.step) for r in results] == [(True, 60)] * 2


def test_supports_weight_decay_but_not_other_training_differences() -> None:
    base = lecture_cfg(27)
    assert supports([base, base.with_values({"weight_decay": 0.01, "lr": 0.3})])
    assert not supports([base, base.with_values({"batch_size": 64})])
    assert not supports([base, base.with_values({"decay_at": 0.7})])
