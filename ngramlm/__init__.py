"""ngramlm: character-level MLP language models with an experiment store."""

__version__ = "0.1.0"
