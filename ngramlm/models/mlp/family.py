"""The MLP family's interface: validation, presets, the hand-written steps it offers the
loop (``fast``) and the batched engine (``batched``) and its description for reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from ngramlm.config import (
    MAX_LAYERS,
    RunConfig,
    TrainConfig,
    choice,
    finite,
    positive_int,
)
from ngramlm.errors import InputError
from ngramlm.models.base import BatchedStepper, Description, NeuralFamily
from ngramlm.models.mlp.config import INITS, NORMS, PRESETS, MLPConfig

if TYPE_CHECKING:
    import torch

    from ngramlm.models.mlp.network import MLP

# The network and its hand-written steps (torch) are imported when a model is built or
# stepped: the registry, validation and reports need only the config.


class MLPFamily(NeuralFamily):
    name = "mlp"
    mixed_precision = True
    config_cls = MLPConfig
    presets = PRESETS
    default_preset = "default"
    legend = "B/E/H[xL]: an MLP's block_size/n_embd/n_hidden[, L layers]"
    printed: ClassVar[dict[str, tuple[str, float, float]]] = {
        "lecture": ("makemore part 2", 2.1260, 2.1701),
        "best": ("makemore part 5's WaveNet", 1.7690, 1.9937),  # the series' best, to beat
    }
    help = "the MLP of Bengio et al. 2003 (makemore part 2)"

    def check_shape(self, m: MLPConfig) -> None:
        positive_int("n_layers", m.n_layers, MAX_LAYERS)
        choice("init", m.init, INITS)
        choice("norm", m.norm, NORMS)
        finite("dropout", m.dropout, low=0.0, high=0.95)
        finite("embd_dropout", m.embd_dropout, low=0.0, high=0.95)
        for flag in ("direct", "tie"):
            if not isinstance(getattr(m, flag), bool):
                raise InputError(f"--{flag} must be true or false, got {getattr(m, flag)!r}")

    def activations(self, m: MLPConfig) -> int:
        # embeddings, each hidden layer (pre and post tanh), logits
        return m.block_size * m.n_embd + 2 * m.n_layers * m.n_hidden + 2 * m.vocab_size

    def build(self, cfg: MLPConfig, generator: torch.Generator) -> MLP:
        from ngramlm.models.mlp.network import MLP

        return MLP(cfg, generator)

    def fast_stepper(self, model: torch.nn.Module, train: TrainConfig) -> Any | None:
        from ngramlm.models.mlp import fast
        from ngramlm.models.mlp.network import MLP

        assert isinstance(model, MLP)
        if not fast.supports(model.cfg, train):
            return None
        return fast.FastSGD(model, train.batch_size, train.weight_decay)

    def batchable(self, cfg: RunConfig) -> bool:
        from ngramlm.models.mlp import fast

        return cfg.train is not None and fast.supports(cfg.model, cfg.train)

    def batched_stepper(
        self, models: Sequence[torch.nn.Module], device: torch.device, train: Sequence[TrainConfig]
    ) -> BatchedStepper:
        from ngramlm.models.mlp.batched import Group
        from ngramlm.models.mlp.network import MLP

        assert all(isinstance(m, MLP) for m in models)
        wd = [t.weight_decay for t in train]
        return Group(cast("list[MLP]", list(models)), device, train[0].batch_size, wd)

    def search_space(self, unit: str) -> tuple[str | None, dict[str, str]]:
        # Around the hand-found recipes (the "best" preset on names, "words" on a word
        # corpus): AdamW's rate over a decade, the widths an octave or two either side.
        # Words: the tied embedding width, the rate and the epochs matter most on a small
        # corpus (Brown's first 240k tokens: n_embd 64 with lr 0.002 and 5 epochs reaches
        # dev 168.3 where the preset gives 181.6 and more dropout alone 178; it overfits
        # from the fifth epoch or so: docs/search.md). On corpora nobody tuned on, the best
        # trials pressed against 5 epochs and 0.3 embedding dropout: the space goes
        # half as far again past both (the edges check, ``stages/edges.py``, says when a
        # corpus wants more still).
        if unit == "word":
            return "words", {
                "lr": "1e-3:6e-3:log",
                "block_size": "3:8",
                "n_embd": "32:128:log",
                "n_hidden": "256:1024:log",
                "dropout": "0.1:0.5",
                "embd_dropout": "0.0:0.45",
                "epochs": "2:7",
            }
        return "best", {
            "lr": "5e-4:1e-2:log",
            "block_size": "5:10",
            "n_embd": "12:48",
            "n_hidden": "192:1024:log",
            "weight_decay": "0.01:0.3:log",
        }

    def describe(self, cfg: RunConfig, extra: Any) -> Description:
        m: MLPConfig = cfg.model
        size = f"{m.block_size}/{m.n_embd}/{m.n_hidden}" + (
            f"x{m.n_layers}" if m.n_layers > 1 else ""
        )
        return self.network(m, f"mlp {size}" + (" tied" if m.tie else ""), size, direct=m.direct)


FAMILY = MLPFamily()
