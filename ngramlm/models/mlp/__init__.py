"""The MLP family (Bengio et al. 2003, makemore part 2): its config and presets
(``config``), the network (``network``), its hand-written SGD step (``fast``, makemore
part 4), the same step for M MLPs as one batched model (``batched``) and the family
interface (``family``). Importing the package imports no torch:
``MLP`` comes from ``network`` on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ngramlm.models.mlp.config import INITS, NORMS, PRESETS, Init, MLPConfig, Norm
from ngramlm.models.mlp.family import FAMILY, MLPFamily

if TYPE_CHECKING:
    from ngramlm.models.mlp.network import MLP

__all__ = ["FAMILY", "INITS", "MLP", "NORMS", "PRESETS", "Init", "MLPConfig", "MLPFamily", "Norm"]


def __getattr__(name: str) -> Any:
    if name == "MLP":
        from ngramlm.models.mlp.network import MLP

        return MLP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
