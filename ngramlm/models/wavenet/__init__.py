"""The WaveNet family: makemore part 5's hierarchical model (after van den Oord et al.
2016, "WaveNet: A Generative Model for Raw Audio").

Instead of squashing the whole context into one hidden layer as the MLP does, the
context's embeddings are fused two at a time, level by level, like a dilated causal
convolution evaluated at one position: ``FlattenConsecutive(2)`` concatenates each pair
of neighbours, then ``Linear -> BatchNorm -> tanh``; three such levels take a block of 8
tokens down to one vector, and a linear layer gives the logits::

    (B, 8, E) -> (B, 4, 2E) -> (B, 4, H) -> (B, 2, 2H) -> (B, 2, H) -> (B, 1, 2H)
              -> (B, H) -> (B, V)

Weights are drawn as the lecture draws them: embeddings ``randn``, linear weights
``randn / sqrt(fan_in)`` without bias (batch norm follows), the output layer's weights
scaled by 0.1 so the first loss is near ``-log(1/V)``. Batch norm normalises over the
batch and the positions (dims 0 and 1, as the lecture's fix in part 5), momentum 0.1.
``--preset wavenet`` is the lecture's final run: block 8, n_embd 24, n_hidden 128
(76,579 parameters), batch 32, 200k SGD steps at 0.1 then 0.01 from step 150k; the
lecture printed train 1.7690, dev 1.9937.

Its config and presets (``config``), the network (``network``) and the family interface
(``family``); importing the package imports no torch: ``WaveNet`` comes from ``network``
on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ngramlm.models.wavenet.config import PRESETS, WaveNetConfig
from ngramlm.models.wavenet.family import FAMILY, WaveNetFamily

if TYPE_CHECKING:
    from ngramlm.models.wavenet.network import WaveNet

__all__ = ["FAMILY", "PRESETS", "WaveNet", "WaveNetConfig", "WaveNetFamily"]


def __getattr__(name: str) -> Any:
    if name == "WaveNet":
        from ngramlm.models.wavenet.network import WaveNet

        return WaveNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
