"""The MLP family (Bengio et al. 2003, makemore part 2): the network (``network``), its
hand-written SGD step (``fast``, makemore part 4) and the family interface (``family``)."""

from ngramlm.models.mlp.family import FAMILY, MLPFamily
from ngramlm.models.mlp.network import INITS, MLP, NORMS, PRESETS, Init, MLPConfig, Norm

__all__ = ["FAMILY", "INITS", "MLP", "NORMS", "PRESETS", "Init", "MLPConfig", "MLPFamily", "Norm"]
