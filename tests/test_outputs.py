"""Exports that never clobber (issue 29, item 5): every file ngramlm writes (``export
--arpa``, ``plot --out``, a rescue checkpoint) goes through ``ngramlm.outputs``: a regular
file or a new name only, an existing file only with ``--force``, anything else refused in
one line with the target as it was and no temporary file left behind."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest

from ngramlm import open_store, outputs
from ngramlm.errors import InputError

from .helpers import cli_tiny_run, cli_train

Runs = tuple[str, str, str]  # a store's URL, a bigram run's id, a network run's id


@pytest.fixture
def runs(cli, sqlite_url: str, words_file: Path) -> Runs:
    """A store holding a bigram run (to export) and a tiny MLP run (to plot)."""
    bigram = cli_tiny_run(cli, sqlite_url, words_file, "--model", "bigram", "-q")
    mlp = cli_train(cli, sqlite_url, "--dataset", "tiny", "--steps", "5", "--n-hidden", "4", "-q")
    return sqlite_url, str(bigram["run"]), str(mlp["run"])


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A directory of the targets' own: the store's -wal and -shm come and go beside it."""
    (tmp_path / "files").mkdir()
    return tmp_path / "files"


def write(cli, runs: Runs, kind: str, target: object, *extra: str):  # type: ignore[no-untyped-def]
    """``export BIGRAM --arpa TARGET``, or ``plot curves MLP --out TARGET`` (any image)."""
    url, bigram, mlp = runs
    if kind == "arpa":
        return cli("--db", url, "export", bigram, "--arpa", target, *extra)
    return cli("--db", url, "plot", "curves", mlp, "--out", target, *extra)


def snapshot(path: Path) -> tuple[object, ...]:
    """What must not change: the target's type, inode and bytes (a regular file's), and
    the names in its directory (no temporary file left there)."""
    try:
        st = os.stat(path)
        kind = stat.S_IFMT(st.st_mode)
        data = path.read_bytes() if stat.S_ISREG(st.st_mode) and st.st_size else None
        ident = (kind, st.st_ino, data)
    except FileNotFoundError:
        ident = None
    parent = path.parent
    names = sorted(os.listdir(parent)) if parent.is_dir() else None
    return ident, names


def refused_in_one_line(r, *parts: str) -> str:  # type: ignore[no-untyped-def]
    assert r.code == 2, (r.code, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.err
    for part in parts:
        assert part in lines[0], (part, lines[0])
    assert "Traceback" not in r.err + r.out
    return lines[0]


# --- what is not a regular file ----------------------------------------------------------


def device(path: Path) -> Path:
    """A character device of the test's own at ``path``: /dev/null's numbers (1, 3), so
    were a refusal missed, the system's /dev/null would still be safe."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root (tests run as root in CI)")
    return path


def _targets(tmp: Path, suffix: str) -> dict[str, tuple[Path, str]]:
    """Paths that are no place for a file, each with what its refusal must say."""
    (tmp / f"folder{suffix}").mkdir()
    os.mkfifo(tmp / f"fifo{suffix}")
    (tmp / f"null{suffix}").symlink_to(device(tmp / "null"))
    (tmp / f"dangling{suffix}").symlink_to(tmp / "nowhere")
    return {
        "a directory": (tmp / f"folder{suffix}", "is a directory"),
        "a FIFO": (tmp / f"fifo{suffix}", "is a named pipe (FIFO)"),
        "a link to a device": (tmp / f"null{suffix}", "is a character device"),
        "a link to nothing": (tmp / f"dangling{suffix}", "which does not exist"),
        "a missing directory": (tmp / "no" / f"such{suffix}", "does not exist; create it"),
        "a /proc path": (Path(f"/proc/self/new{suffix}"), "(/proc, /sys)"),
        "an existing /proc file": (Path("/proc/self/status"), "(/proc, /sys)"),
    }


CASES = [
    (kind, case)
    for case in ("a directory", "a FIFO", "a link to a device", "a link to nothing",
                 "a missing directory", "a /proc path", "an existing /proc file")
    for kind in ("arpa", "png")
    if (kind, case) != ("png", "an existing /proc file")  # not an image name: refused first
]  # fmt: skip


@pytest.mark.parametrize(("kind", "case"), CASES)
def test_what_is_no_regular_file_is_refused_even_with_force(
    cli, runs: Runs, files: Path, kind: str, case: str
) -> None:
    """--force replaces a file, never a directory, a device, a FIFO, a kernel file."""
    target, says = _targets(files, f".{kind}")[case]
    before = snapshot(target)
    r = write(cli, runs, kind, target, "--force")
    refused_in_one_line(r, str(target), says)
    assert snapshot(target) == before


@pytest.mark.parametrize("extra", [(), ("--force",)])
def test_a_device_stays_a_character_device(
    cli, runs: Runs, files: Path, extra: tuple[str, ...]
) -> None:
    """The issue's case: --arpa /dev/null became a regular file (as root, the system's);
    here a /dev/null of the test's own (the same numbers), so a regression harms nothing."""
    null = device(files / "null")
    assert stat.S_ISCHR(null.stat().st_mode)
    before = snapshot(null)
    r = write(cli, runs, "arpa", null, *extra)
    refused_in_one_line(r, f"--arpa {null} is a character device", "name a file")
    assert stat.S_ISCHR(null.stat().st_mode)
    assert snapshot(null) == before


# --- an existing file --------------------------------------------------------------------


def existing(path: Path) -> tuple[object, ...]:
    """A file someone needs at ``path`` (mode 0640): its snapshot."""
    path.write_text("a corpus someone needs\n")
    path.chmod(0o640)
    return snapshot(path)


@pytest.mark.parametrize("kind", ["arpa", "png"])
def test_an_existing_file_is_replaced_only_with_force(
    cli, runs: Runs, files: Path, kind: str
) -> None:
    target = files / f"words.{kind}"
    before = existing(target)
    r = write(cli, runs, kind, target)
    refused_in_one_line(r, str(target), "exists; add --force to replace it")
    assert snapshot(target) == before

    r = write(cli, runs, kind, target, "--force")
    assert r.code == 0, r.err
    head = target.read_bytes()[:16]
    assert head.startswith(b"\n\\data\\" if kind == "arpa" else b"\x89PNG"), head
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # its permissions kept
    assert sorted(os.listdir(files)) == before[1]  # no temporary file beside it


def test_a_new_file_is_written_with_no_temporary_file_left(cli, runs: Runs, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for kind in ("arpa", "png", "svg", "pdf"):
        assert write(cli, runs, kind, out / f"m.{kind}").code == 0
    assert sorted(os.listdir(out)) == ["m.arpa", "m.pdf", "m.png", "m.svg"]


def test_the_api_passes_force(runs: Runs, tmp_path: Path) -> None:
    url, run, _ = runs
    path = tmp_path / "m.arpa"
    with open_store(url) as exp:
        first = exp.export_arpa(int(run), path).path.read_bytes()
        with pytest.raises(InputError, match="exists; add --force"):
            exp.export_arpa(int(run), path)
        assert exp.export_arpa(int(run), path, force=True).path.read_bytes() == first


# --- a full disk, a read-only file system ----------------------------------------------


def _fill(disk: Path) -> None:
    """Take every free byte of ``disk`` (a short write at the end, then ENOSPC)."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    with contextlib.suppress(OSError):
        while os.write(fd, bytes(1 << 20)):
            pass
    os.close(fd)


@pytest.mark.parametrize("kind", ["arpa", "png"])
def test_a_full_disk_is_refused_with_the_old_file_kept(
    cli, runs: Runs, small_disk: Path, kind: str
) -> None:
    old = small_disk / f"old.{kind}"
    existing(old)
    _fill(small_disk)
    before = snapshot(old)
    for target, extra in ((small_disk / f"new.{kind}", ()), (old, ("--force",))):
        r = write(cli, runs, kind, target, *extra)
        refused_in_one_line(r, str(target), "no space left", "free some space")
    assert snapshot(old) == before
    assert sorted(os.listdir(small_disk)) == ["filler", f"old.{kind}"]


@pytest.mark.parametrize("kind", ["arpa", "png"])
def test_a_read_only_directory_is_refused(cli, runs: Runs, read_only_dir: Path, kind: str) -> None:
    """A read-only file system: root's writes fail there too (chmod would not stop them)."""
    with pytest.raises(OSError):  # the test is genuine: nothing can be written here
        (read_only_dir / "probe").write_text("x")
    target = read_only_dir / f"m.{kind}"
    r = write(cli, runs, kind, target)
    refused_in_one_line(r, str(target), "read-only file system; write elsewhere")
    assert os.listdir(read_only_dir) == []


# --- the helper itself: whole or not at all ---------------------------------------------


def test_an_interrupted_write_leaves_the_old_file_and_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "m.txt"
    target.write_text("old\n")

    def interrupted(tmp: Path) -> None:
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        outputs.write_file(target, interrupted, force=True)
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["m.txt"]


def test_a_file_written_meanwhile_is_not_replaced_without_force(tmp_path: Path) -> None:
    """Checked, then another process writes the name: the new file never replaces it."""
    target = tmp_path / "m.txt"

    def racing(tmp: Path) -> None:
        target.write_text("theirs\n")
        tmp.write_text("ours\n")

    with pytest.raises(InputError, match="written meanwhile; add --force"):
        outputs.write_file(target, racing, option="--out")
    assert target.read_text() == "theirs\n"
    assert os.listdir(tmp_path) == ["m.txt"]
