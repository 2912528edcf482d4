"""Convert NLTK's copy of the Brown corpus into ``brown.txt``: one sentence a line, the
tokens separated by single spaces, the corpus ngramlm's Brown table is measured on.

    python3 -m pip install nltk
    python3 -m nltk.downloader -d nltk_data brown
    python3 data/make_brown.py nltk_data/corpora/brown brown.txt

NLTK's ``brown`` package holds 500 tagged files ``ca01`` .. ``cr09`` (beside ``README``,
``CONTENTS`` and ``cats.txt``, which are skipped): each sentence is one line of
``word/tag`` pairs separated by whitespace, indented by a tab, sentences separated by
blank lines. The files are read in name order; each non-empty line becomes one line of
the output holding the word of each pair (everything before the pair's last ``/``, as
NLTK's ``str2tuple`` splits it: ``1-1/2/cd`` is the word ``1-1/2``), case and punctuation
kept. The source may be the unpacked ``brown`` directory or NLTK's ``brown.zip``.
Needs only the standard library; prints the lines, tokens and sha256 it wrote.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

FILE = re.compile(r"c[a-r]\d\d")  # the tagged text files: ca01 .. cr09


def texts(source: Path) -> Iterator[tuple[str, str]]:
    """(file name, text) of each tagged file of ``source``, in name order."""
    if source.is_dir():
        for path in sorted(p for p in source.iterdir() if FILE.fullmatch(p.name)):
            yield path.name, path.read_text(encoding="utf-8")
        return
    with zipfile.ZipFile(source) as z:
        names = sorted(n for n in z.namelist() if FILE.fullmatch(n.rsplit("/", 1)[-1]))
        for name in names:
            yield name.rsplit("/", 1)[-1], z.read(name).decode("utf-8")


def sentences(text: str) -> Iterator[str]:
    """Each non-empty line of one tagged file as its words joined by single spaces."""
    for line in text.splitlines():
        pairs = line.split()
        if pairs:
            yield " ".join(pair.rsplit("/", 1)[0] for pair in pairs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="NLTK's corpora/brown directory or brown.zip")
    ap.add_argument("out", type=Path, help="the text file to write (e.g. brown.txt)")
    args = ap.parse_args(argv)
    if not args.source.exists():
        print(
            f"error: {args.source}: no such directory or zip; download it with "
            "`python3 -m nltk.downloader -d nltk_data brown`",
            file=sys.stderr,
        )
        return 2
    try:
        files = list(texts(args.source))
    except (zipfile.BadZipFile, UnicodeDecodeError) as exc:
        print(f"error: {args.source}: not NLTK's brown corpus ({exc})", file=sys.stderr)
        return 2
    if not files:
        print(
            f"error: {args.source}: no tagged files ca01..cr09 in it; give NLTK's "
            "corpora/brown directory",
            file=sys.stderr,
        )
        return 2
    lines = [s for _, text in files for s in sentences(text)]
    data = "".join(f"{s}\n" for s in lines).encode("utf-8")
    args.out.write_bytes(data)
    tokens = sum(len(s.split(" ")) for s in lines)
    print(f"{len(files)} files: {len(lines):,} sentences, {tokens:,} tokens to {args.out}")
    print(f"sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
