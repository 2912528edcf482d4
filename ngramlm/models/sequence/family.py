"""The sequence families' interface: validation, presets, search spaces and their
description for reports; the networks (torch) are imported when a model is built."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ngramlm.config import MAX_LAYERS, RunConfig, finite, positive_int
from ngramlm.data.sequences import train_stride, windows_in
from ngramlm.errors import InputError
from ngramlm.models.base import Description, NeuralFamily
from ngramlm.models.sequence.config import (
    PRESETS,
    BoWConfig,
    GRUConfig,
    RNNConfig,
    TransformerConfig,
)

if TYPE_CHECKING:
    import torch

    from ngramlm.models.sequence.network import SequenceLM


class SequenceFamily(NeuralFamily):
    """A family trained on whole windows (``data.sequences``): one of makemore.py's
    sequence models; the bf16 path covers its body and output layer."""

    sequence = True
    mixed_precision = True
    short: ClassVar[str]  # the report table's prefix

    def size(self, m: Any) -> str:
        return f"{m.block_size}/{m.n_embd}/{m.n_hidden}"

    def epoch_size(self, lengths: Sequence[int], block_size: int) -> int:
        """An epoch steps through the train split's windows: a minibatch is of windows."""
        return windows_in(lengths, block_size, train_stride(block_size))

    def describe(self, cfg: RunConfig, extra: Any) -> Description:
        size = self.size(cfg.model)
        return self.network(cfg.model, f"{self.name} {size}", f"{self.short} {size}")


class TransformerFamily(SequenceFamily):
    name = "transformer"
    short = "tf"
    config_cls = TransformerConfig
    presets = PRESETS["transformer"]
    default_preset = "transformer"
    legend = "tf B/ExL: a transformer's block_size/n_embd x layers"
    help = "makemore.py's GPT: pre-LayerNorm blocks of causal self-attention and a 4x MLP"

    def check_shape(self, m: TransformerConfig) -> None:
        positive_int("n_layers", m.n_layers, MAX_LAYERS)
        positive_int("n_head", m.n_head, m.n_embd)
        if m.n_embd % m.n_head:
            raise InputError(
                f"--n-embd {m.n_embd} does not divide among --n-head {m.n_head} heads; "
                "give an n_embd that is a multiple of n_head"
            )
        finite("dropout", m.dropout, low=0.0, high=0.95)

    def activations(self, m: TransformerConfig) -> int:
        T, C = m.block_size, m.n_embd
        # a block keeps its norms, q/k/v, attention, output, the MLP's two widths
        block = 2 * C + 3 * C + m.n_head * T + 2 * C + 2 * 4 * C + C
        return T * (C + m.n_layers * block + C + 2 * m.vocab_size)

    def size(self, m: Any) -> str:
        return f"{m.block_size}/{m.n_embd}x{m.n_layers}"

    def build(self, cfg: TransformerConfig, generator: torch.Generator) -> SequenceLM:
        from ngramlm.models.sequence.transformer import Transformer

        return Transformer(cfg, generator)

    def search_space(self, unit: str) -> tuple[str | None, dict[str, str]]:
        # A word corpus: around ``transformer-words`` (tied embeddings, windows of 32),
        # the rate, depth, width (that 4 heads divide), dropout, weight decay, epochs.
        if unit == "word":
            return "transformer-words", {
                "lr": "5e-4:3e-3:log",
                "n_layers": "2:4",
                "n_embd": "64,96,128",
                "dropout": "0.1:0.4",
                "weight_decay": "0.01:0.3:log",
                "epochs": "2:6",
            }
        # Characters: around ``transformer-best`` (dropout 0.2, batch 64, 2e-3 cosine,
        # 20,000 steps), which makemore.py's defaults overfit without.
        return "transformer-best", {
            "lr": "1e-3:4e-3:log",
            "n_layers": "3:6",
            "n_embd": "64,96",
            "dropout": "0.1:0.35",
            "weight_decay": "0.01:0.2:log",
        }


class RecurrentFamily(SequenceFamily):
    """makemore.py's RNN and GRU: one cell over the window from a learned start state."""

    def build(self, cfg: RNNConfig, generator: torch.Generator) -> SequenceLM:
        from ngramlm.models.sequence.recurrent import Recurrent

        return Recurrent(cfg, generator)

    def activations(self, m: RNNConfig) -> int:
        return m.block_size * (m.n_embd + (2 + 2 * m.gates) * m.n_hidden + 2 * m.vocab_size)

    def search_space(self, unit: str) -> tuple[str | None, dict[str, str]]:
        space = {"lr": "5e-4:1e-2:log", "n_embd": "32:128:log", "n_hidden": "64:512:log"}
        if unit == "word":
            space["block_size"] = "16,32,48"
        return self.name, space


class GRUFamily(RecurrentFamily):
    name = "gru"
    short = "gru"
    config_cls = GRUConfig
    presets = PRESETS["gru"]
    default_preset = "gru"
    legend = "gru B/E/H: a GRU's block_size/n_embd/n_hidden"
    help = "makemore.py's GRU: a gated recurrent cell over the window (Cho et al. 2014)"


class RNNFamily(RecurrentFamily):
    name = "rnn"
    short = "rnn"
    config_cls = RNNConfig
    presets = PRESETS["rnn"]
    default_preset = "rnn"
    legend = "rnn B/E/H: an RNN's block_size/n_embd/n_hidden"
    help = "makemore.py's RNN: a tanh recurrent cell over the window (Elman 1990)"


class BoWFamily(SequenceFamily):
    name = "bow"
    short = "bow"
    config_cls = BoWConfig
    presets = PRESETS["bow"]
    default_preset = "bow"
    legend = "bow B/E/H: a bag of words' block_size/n_embd/n_hidden"
    help = "makemore.py's causal bag of words: the average of the tokens so far, then a MLP"

    def build(self, cfg: BoWConfig, generator: torch.Generator) -> SequenceLM:
        from ngramlm.models.sequence.bow import BoW

        return BoW(cfg, generator)

    def activations(self, m: BoWConfig) -> int:
        return m.block_size * (4 * m.n_embd + 2 * m.n_hidden + 2 * m.vocab_size)

    def search_space(self, unit: str) -> tuple[str | None, dict[str, str]]:
        space = {"lr": "5e-4:1e-2:log", "n_embd": "32:128:log", "n_hidden": "64:512:log"}
        if unit == "word":
            space["block_size"] = "16,32,48"
        return "bow", space


TRANSFORMER = TransformerFamily()
GRU = GRUFamily()
RNN = RNNFamily()
BOW = BoWFamily()
