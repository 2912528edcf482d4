"""The mixture family: Bengio et al. 2003's "mix" column, a finished network interpolated
with a finished count model of the same dataset,

    P(w | h) = λ P_net(w | h) + (1 - λ) P_count(w | h),

λ (``--weight``, the network's share) chosen on dev unless given. Each component sees
the last k tokens of the context, k its own block size; the mixture's block size is the
larger of the two.

A mixture is fitted, not trained: the runner loads the two runs' final checkpoints
(``CountFamily.components`` names them, ``bind`` checks what they are and sets the block
size) and ``fit`` combines them. Dev losses are computed from each component's
per-example log-probabilities (``LanguageModel.log_probs_of``), once, and λ is found by
a golden-section search (``models.golden``, the count families' too): the dev loss is
convex in λ (minus the log of a linear function), so the search finds its minimum on
[0, 1]. The checkpoint is self-contained: both components' tensors (prefixed ``a.`` and
``b.``, in ``--mix`` order) with their configs in the metadata, and λ.

Its config (``config``), the mixed model and the choice of λ (``model``, torch) and the
family interface (``family``); importing the package imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ngramlm.models.mixture.config import PARTS, MixtureConfig, parse_mix
from ngramlm.models.mixture.family import FAMILY, MixtureFamily

if TYPE_CHECKING:
    from ngramlm.models.mixture.model import MixtureModel, choose_weight, dev_loss, mix_log_probs

__all__ = [
    "FAMILY",
    "PARTS",
    "MixtureConfig",
    "MixtureFamily",
    "MixtureModel",
    "choose_weight",
    "dev_loss",
    "mix_log_probs",
    "parse_mix",
]
_MODEL = ("MixtureModel", "choose_weight", "dev_loss", "mix_log_probs")


def __getattr__(name: str) -> Any:
    if name in _MODEL:
        from ngramlm.models.mixture import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
