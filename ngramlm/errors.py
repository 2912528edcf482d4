"""User-facing errors.

Every error a person can cause (a bad file, option, run id or database URL) is an
``NgramlmError`` whose message names the problem and the fix. The CLI turns it into one
line on stderr and a non-zero exit code, in one place (``ngramlm.cli.main``). Anything
else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class NgramlmError(Exception):
    """Base class: ``str(err)`` is the one line shown to the user."""

    exit_code = 2


class InputError(NgramlmError):
    """A word list, an option or an id that cannot be used as given."""


class NotFoundError(NgramlmError):
    """A dataset, run or sweep that the store does not hold."""

    exit_code = 3


class StoreError(NgramlmError):
    """The database cannot be reached, read or written."""

    exit_code = 4


class DiskFullError(StoreError):
    """The disk under the store is full: retrying will not help until space is freed."""


class SchemaError(StoreError):
    """The database schema is older or newer than this ngramlm."""


class ConflictError(NgramlmError):
    """The store already holds something that this request would contradict."""

    exit_code = 5


class ClaimedError(ConflictError):
    """Another process took the run first (it is running, or was resumed just now)."""


class WorkersDied(NgramlmError):
    """Local sweep workers died before their points were done (killed, out of memory, a
    bug): their points read ``crashed``, and ``sweep --resume`` continues them."""

    exit_code = 1


class Stopped(NgramlmError):
    """A one-shot command (``prepare``) stopped by Ctrl-C or SIGTERM before it recorded
    anything; its exit code is the shell's for the signal (130, 143)."""

    exit_code = 130
