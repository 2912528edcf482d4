"""The mixed model and the choice of λ on dev (``ngramlm.models.mixture`` tells how)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ngramlm.config import RunConfig
from ngramlm.models.base import LanguageModel
from ngramlm.models.golden import golden_section
from ngramlm.models.mixture.config import MixtureConfig

GOLDEN_STEPS = 80  # the bracket shrinks to 0.618**80 ≈ 2e-17 of [0, 1]


class MixtureModel:
    """λ P_net + (1 - λ) P_count over two loaded models, each fed its own context."""

    def __init__(
        self,
        cfg: MixtureConfig,
        parts: Sequence[LanguageModel],
        configs: Sequence[RunConfig],
        neural: int,
        weight: float,
        labels: Sequence[str] = (),
    ) -> None:
        self.cfg = cfg
        self.parts = list(parts)  # in --mix order
        self.configs = list(configs)  # each part's run config
        self.net = self.parts[neural]
        self.count = self.parts[1 - neural]
        self.weight = float(weight)
        self.labels = list(labels)  # "run 4 mlp 4/60/50", "run 2 mkn-5" (fit only)

    @property
    def block_size(self) -> int:
        return int(self.cfg.block_size)

    @staticmethod
    def _last(X: torch.Tensor, k: int) -> torch.Tensor:
        return X[:, X.shape[1] - k :]

    def component_log_probs(
        self, X: torch.Tensor, Y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(n,) float64 log-probabilities of each Y under the network and the count model."""
        net = self.net.log_probs_of(self._last(X, self.net.block_size), Y).double()
        count = self.count.log_probs_of(self._last(X, self.count.block_size), Y).double()
        return net, count

    def log_probs_of(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        return mix_log_probs(*self.component_log_probs(X, Y), self.weight)

    def mean_nll(self, X: torch.Tensor, Y: torch.Tensor) -> float:
        if Y.shape[0] == 0:
            return 0.0
        return float(-self.log_probs_of(X, Y).mean().item())

    @torch.no_grad()
    def logits(self, contexts: torch.Tensor) -> torch.Tensor:
        """For sampling: log(λ softmax(net) + (1 - λ) P_count), whose softmax is itself."""
        net = F.log_softmax(self.net.logits(self._last(contexts, self.net.block_size)).double(), -1)
        count = F.log_softmax(
            self.count.logits(self._last(contexts, self.count.block_size)).double(), -1
        )
        return mix_log_probs(net, count, self.weight).float()


def mix_log_probs(net: torch.Tensor, count: torch.Tensor, weight: float) -> torch.Tensor:
    """log(λ exp(net) + (1 - λ) exp(count)) in float64, stable at any λ in [0, 1]."""
    w = torch.tensor(weight, dtype=torch.float64)
    return torch.logaddexp(net.double() + w.log(), count.double() + torch.log1p(-w))


def dev_loss(net: torch.Tensor, count: torch.Tensor, weight: float) -> float:
    return float(-mix_log_probs(net, count, weight).mean().item())


def choose_weight(
    net: torch.Tensor, count: torch.Tensor
) -> tuple[float, list[tuple[float, float]]]:
    """The λ in [0, 1] with the lowest mean loss of the given per-example log-probabilities
    (a golden-section search of a convex function), and every (λ, loss) tried."""
    tried = [(0.0, dev_loss(net, count, 0.0)), (1.0, dev_loss(net, count, 1.0))]
    tried += golden_section(lambda w: dev_loss(net, count, w), 0.0, 1.0, GOLDEN_STEPS)
    best = min(tried, key=lambda t: t[1])
    return best[0], sorted(tried)
