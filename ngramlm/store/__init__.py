"""The experiment store: the only package that imports SQLAlchemy or Alembic."""

from ngramlm.store.store import Store

__all__ = ["Store"]
