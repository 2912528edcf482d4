"""The package's version: a leaf that every layer may import (the root package re-exports
it), so no module below the API imports ``ngramlm`` itself."""

__version__ = "0.1.0"
