"""The WaveNet family's interface: validation, presets and its description for reports;
the network (torch) is imported when a model is built."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ngramlm.config import RunConfig
from ngramlm.errors import InputError
from ngramlm.models.base import Description, NeuralFamily
from ngramlm.models.wavenet.config import PRESETS, WaveNetConfig

if TYPE_CHECKING:
    import torch

    from ngramlm.models.wavenet.network import WaveNet


class WaveNetFamily(NeuralFamily):
    name = "wavenet"
    config_cls = WaveNetConfig
    presets = PRESETS
    default_preset = "wavenet"
    legend = "wn: WaveNet"
    printed: ClassVar[dict[str, tuple[str, float, float]]] = {
        "wavenet": ("makemore part 5", 1.7690, 1.9937)
    }
    help = "makemore part 5's hierarchical WaveNet (--block-size a power of two)"

    def check_shape(self, m: WaveNetConfig) -> None:
        if m.block_size < 2 or m.block_size & (m.block_size - 1):
            raise InputError(
                f"--block-size {m.block_size}: the WaveNet fuses neighbours in pairs, so the "
                "context must be a power of two (2, 4, 8, 16, ...)"
            )

    def activations(self, m: WaveNetConfig) -> int:
        return m.block_size * m.n_embd + 3 * m.block_size * m.n_hidden + 2 * m.vocab_size

    def build(self, cfg: WaveNetConfig, generator: torch.Generator) -> WaveNet:
        from ngramlm.models.wavenet.network import WaveNet

        return WaveNet(cfg, generator)

    def search_space(self, unit: str) -> tuple[str | None, dict[str, str]]:
        # makemore part 5's network; its context stays a power of two (a choice).
        return "wavenet", {
            "lr": "0.02:0.3:log",
            "block_size": "4,8,16",
            "n_embd": "12:48",
            "n_hidden": "64:256:log",
        }

    def describe(self, cfg: RunConfig, extra: Any) -> Description:
        m: WaveNetConfig = cfg.model
        size = f"{m.block_size}/{m.n_embd}/{m.n_hidden}"
        return self.network(m, f"wavenet {size}", f"wn {size}")


FAMILY = WaveNetFamily()
