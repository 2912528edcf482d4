"""makemore.py's sequence models as four families: ``transformer`` (GPT-2's blocks),
``gru`` and ``rnn`` (a cell over the window) and ``bow`` (a causal bag of words).

Unlike the n-gram networks (the MLP, the WaveNet), which predict one token from a fixed
context, these read a window of up to ``block_size`` tokens and predict the token after
every position of it, and learn all of them in one step (``data.sequences``: the lines
cut into windows, each target once). Scored, they predict exactly the targets every
other family predicts, each from the line's tokens before it (``network``).

Their configs and presets (``config``), the shared network base (``network``), the
networks (``transformer``, ``recurrent``, ``bow``) and the family interfaces
(``family``); importing the package imports no torch.
"""

from __future__ import annotations

from ngramlm.models.sequence.config import (
    PRESETS,
    BoWConfig,
    GRUConfig,
    RNNConfig,
    TransformerConfig,
)
from ngramlm.models.sequence.family import BOW, GRU, RNN, TRANSFORMER, SequenceFamily

__all__ = [
    "BOW",
    "GRU",
    "PRESETS",
    "RNN",
    "TRANSFORMER",
    "BoWConfig",
    "GRUConfig",
    "RNNConfig",
    "SequenceFamily",
    "TransformerConfig",
]
