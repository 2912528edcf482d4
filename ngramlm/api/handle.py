"""The handle on one store that ``Experiments`` is: the store (opened on first use), the
references its methods take (a run as its id, its record, ``"last"`` or a result that
carries it; a dataset by name, record or ``prepare``'s result) and the checks they share."""

from __future__ import annotations

import os
import re
from types import TracebackType
from typing import Any, Protocol

from ngramlm.errors import InputError, NgramlmError, NotFoundError
from ngramlm.store import Store
from ngramlm.store.connection import DEFAULT_URL
from ngramlm.store.records import DatasetRecord, RunRecord, SweepRecord

KINDS = ("train", "lr_find")  # what ``runs(kind=...)`` takes
CURVE_FIELDS = ("step", "elapsed_s", "lr", "batch_loss", "train_loss", "dev_loss")


class MissingExtra(NgramlmError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


class CarriesRun(Protocol):
    """A result that carries its run: ``train``'s, ``resume``'s, ``sample``'s,
    ``finalize``'s."""

    @property
    def run(self) -> RunRecord: ...


class CarriesDataset(Protocol):
    """A result that carries its dataset: ``prepare``'s."""

    @property
    def dataset(self) -> DatasetRecord: ...


RunRef = int | str | RunRecord | CarriesRun
SweepRef = int | str | SweepRecord
DatasetRef = str | DatasetRecord | CarriesDataset

_ID = re.compile(r"^[0-9]{1,18}$")


def carried_dataset(value: object) -> DatasetRecord:
    """The dataset a result carries (``prepare``'s); any other value is refused in one line
    rather than failing on a missing attribute."""
    carried = getattr(value, "dataset", None)
    if not isinstance(carried, DatasetRecord):
        raise InputError(
            "a dataset is given as its name, its DatasetRecord or prepare's result, "
            f"not {type(value).__name__}"
        )
    return carried


def parse_id(text: str | int, what: str = "run") -> int:
    """Run and sweep ids are positive integers; anything else is refused before any query."""
    if isinstance(text, bool) or (isinstance(text, int) and text < 1):
        raise InputError(f"{what} id {text!r} is not valid; give a positive number (e.g. 12)")
    if isinstance(text, int):
        return text
    if not _ID.match(text.strip()) or int(text) < 1:
        raise InputError(
            f"{what} id {text!r} is not valid; give the number shown by `ngramlm report` "
            f"(e.g. 12){' or last' if what == 'run' else ''}"
        )
    return int(text)


def check_threads(threads: int | None) -> None:
    """``--threads``: 1 to 1024, or None (the policy's)."""
    if threads is not None and (isinstance(threads, bool) or not 1 <= threads <= 1024):
        raise InputError(f"--threads must be between 1 and 1024, got {threads}")


def pandas_module() -> Any:
    """pandas, or an error naming the extra that installs it."""
    try:
        import pandas
    except ImportError:
        raise MissingExtra(
            "pandas is not installed; install it with pip install 'ngramlm[pandas]' "
            "(or use report_rows()/curve(), which need no pandas)"
        ) from None
    return pandas


class Handle:
    """One store, opened on first use, and the references into it.

    ``Experiments(url)`` opens the store on first use (``open_store`` opens it at once);
    ``Experiments(store=...)`` wraps a ``Store`` that is already open;
    ``Experiments(url, read_only=True)`` reads an existing store and writes nothing: an
    SQLite file opened ``mode=ro``, PostgreSQL in read-only transactions (what the
    dashboard serves); a method that would write fails with the store's error."""

    def __init__(
        self, url: str | None = None, *, store: Store | None = None, read_only: bool = False
    ) -> None:
        if store is not None:
            self.url = store.url.render_as_string(hide_password=False)
        else:
            self.url = url or os.environ.get("NGRAMLM_DB") or DEFAULT_URL
        self._store = store
        self.read_only = read_only if store is None else store.read_only

    @property
    def store(self) -> Store:
        """The underlying ``Store`` (opened, and created at head if new, on first use;
        ``read_only``: an existing store, in which nothing is ever written)."""
        if self._store is None:
            self._store = Store(self.url, read_only=self.read_only)
        return self._store

    def opener(self) -> Store:
        """The store, for a stage that opens it only when it reads or writes (a bad
        option opens none)."""
        return self.store

    @property
    def where(self) -> str:
        """The store's name for messages (never with a password)."""
        return self.store.where

    def close(self) -> None:
        """Release the store's connections (it opens again on the next use)."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        from ngramlm.store.connection import mask

        return f"Experiments({self.where if self._store is not None else mask(self.url)!r})"

    def dataset(self, name: DatasetRef | None = None) -> DatasetRecord:
        """The dataset named ``name`` (or its record, or ``prepare``'s result); None: the
        bundled names (prepared on first use)."""
        from ngramlm.stages.prepare import resolve_dataset

        ref = self.dataset_arg(name)
        return ref if isinstance(ref, DatasetRecord) else resolve_dataset(self.store, ref)

    def run_id(self, run: RunRef) -> int:
        """The id of a run given as its id, its record, ``"last"`` or a result that
        carries it (``train``'s, ``sample``'s...)."""
        if isinstance(run, RunRecord):
            return run.id
        if isinstance(run, str) and run.strip() == "last":
            newest = self.store.runs(kind="train", limit=1)
            if not newest:
                raise NotFoundError(
                    f"{self.store.where} holds no training run yet; `ngramlm train` first"
                )
            return newest[0].id
        if isinstance(run, int | str):
            return parse_id(run, "run")
        carried = getattr(run, "run", None)
        if not isinstance(carried, RunRecord):
            raise InputError(
                f"a run is given as its id, its RunRecord, 'last' or a result carrying it "
                f"(train's, sample's...), not {type(run).__name__}"
            )
        return carried.id

    @staticmethod
    def sweep_id(sweep: SweepRef) -> int:
        """The id of a sweep given as its id or its record."""
        if isinstance(sweep, SweepRecord):
            return sweep.id
        return parse_id(sweep, "sweep")

    def sweep_record(self, sweep: SweepRef) -> SweepRecord:
        """One sweep, by id or record (read again)."""
        return self.store.sweep(self.sweep_id(sweep))

    def search_record(self, sweep: SweepRef) -> SweepRecord:
        """One search, by id or record; a grid sweep is refused."""
        sw = self.sweep_record(sweep)
        if "search" not in sw.spec:
            raise InputError(f"sweep {sw.id} is a grid, not a search; report --sweep shows it")
        return sw

    def dataset_arg(self, dataset: DatasetRef | None) -> str | DatasetRecord | None:
        """A dataset reference as the stages take it (a name, a record or None)."""
        if dataset is None or isinstance(dataset, str | DatasetRecord):
            return dataset
        return carried_dataset(dataset)
