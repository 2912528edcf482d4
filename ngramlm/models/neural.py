"""What the neural families share: eval-mode logits and the one evaluation, as methods,
batch norm's running statistics (the MLP's ``--norm batch``, the WaveNet's layers) and
dropout whose masks the run's generator draws."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ngramlm.evaluation import example_log_probs, mean_nll
from ngramlm.models.base import WithVocab


class NeuralLM(nn.Module, WithVocab):
    """A ``torch.nn.Module`` language model: ``forward(idx, targets=None, generator=None)
    -> (logits, loss)`` as in nanoGPT, plus ``LanguageModel``'s ``logits``/``mean_nll``
    and, once loaded from a run, its vocabulary's ``encode``/``decode``."""

    cfg: Any  # the family's config (block_size, vocab_size)
    # The training step's precision (``NeuralFamily.precision``), set when the model is
    # built for training; evaluation is always float32.
    precision: str = "fp32"

    def add_batch_norm_stats(self, layers: int, width: int) -> None:
        """Batch norm's running mean and variance for each of ``layers`` hidden layers,
        as buffers ``running_mean_{i}``/``running_var_{i}`` (the checkpoints' names)."""
        for i in range(layers):
            self.register_buffer(f"running_mean_{i}", torch.zeros(width))
            self.register_buffer(f"running_var_{i}", torch.ones(width))

    def batch_norm(
        self,
        i: int,
        x: torch.Tensor,
        gamma: torch.Tensor,
        beta: torch.Tensor,
        *,
        momentum: float,
        eps: float,
    ) -> torch.Tensor:
        """Layer ``i``'s batch norm of ``x`` (rows: the batch): the batch's statistics
        in training (updating the running ones by ``momentum``), the running ones in eval."""
        return F.batch_norm(
            x,
            getattr(self, f"running_mean_{i}"),
            getattr(self, f"running_var_{i}"),
            gamma,
            beta,
            training=self.training,
            momentum=momentum,
            eps=eps,
        )

    @property
    def block_size(self) -> int:
        return int(self.cfg.block_size)

    @property
    def vocab_size(self) -> int:
        return int(self.cfg.vocab_size)

    @torch.no_grad()
    def logits(self, contexts: torch.Tensor) -> torch.Tensor:
        """Eval-mode logits of the next token after each context, (n, V)."""
        was_training = self.training
        self.eval()
        out: torch.Tensor = self(contexts)[0]
        self.train(was_training)
        return out

    def mean_nll(self, X: torch.Tensor, Y: torch.Tensor) -> float:
        """Mean cross-entropy (nats per token) of Y after X, in eval mode."""
        return mean_nll(self, X, Y, self.vocab_size)

    def log_probs_of(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """(n,) float64 log-probability of each Y after its X, in eval mode: the terms of
        ``mean_nll``, from the same evaluation."""
        return example_log_probs(self, X, Y, self.vocab_size)


def dropout(x: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """Inverted dropout with masks drawn from the run's generator (on the CPU, so a run
    draws the same masks on any device)."""
    keep = 1.0 - p
    mask = torch.rand(x.shape, generator=generator).to(x.device) < keep
    return x * mask / keep
