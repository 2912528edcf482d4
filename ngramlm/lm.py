"""What sampling and the test evaluation need of a trained model, whatever its family:
the MLP (``ngramlm.model``) and the count models (``ngramlm.ngram``) both provide it."""

from __future__ import annotations

from typing import Protocol

import torch


class LanguageModel(Protocol):
    @property
    def block_size(self) -> int:
        """Context length: how many previous tokens the next one depends on."""
        ...

    def logits(self, contexts: torch.Tensor) -> torch.Tensor:
        """(n, V) scores whose softmax is the next token's distribution after each of the
        (n, block_size) contexts."""
        ...

    def mean_nll(self, X: torch.Tensor, Y: torch.Tensor) -> float:
        """Mean negative log-likelihood of targets Y after contexts X, nats per token."""
        ...
