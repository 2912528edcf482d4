"""Every file ngramlm writes (an ARPA export, a figure, a rescued checkpoint), written
whole or not at all, and never over something that is not a regular file.

``write_file(path, write)`` checks the target first (``check_target``): it must be a
regular file or not exist yet, in a directory that exists and is not a kernel file system
(``/proc``, ``/sys``); an existing file is replaced only with ``force`` (``--force``). A
directory, a device (``/dev/null`` stays the system's), a FIFO, a socket, a link to
nothing are refused in one line naming the path and what to do. ``write`` then writes a
temporary file beside the target (``.NAME.XXXXXXXX.partial``, same directory, so the
rename is atomic); it is synced and renamed into place. Any failure (a read-only file
system, a full disk, a directory that forbids new files, an interrupt) removes the
temporary file and leaves the target as it was; an ``OSError`` becomes one line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from ngramlm.errors import InputError

_KIND = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
}
_KERNEL_FS = ("/proc", "/sys")  # files there are the kernel's knobs, not files
_NO_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS)


def _refused(path: Path, option: str, rest: str) -> InputError:
    """``--OPTION PATH`` then ``rest`` (``: why; what to do`` or `` is ...``)."""
    return InputError(f"{option} {path}{rest}".lstrip())


def check_target(path: Path, *, force: bool = False, option: str = "") -> Path:
    """The file ``write_file`` would write for ``path`` (the file a link names), refused
    in one line unless it is a regular file (replaced only with ``force``) or a new name
    in an existing directory outside ``/proc`` and ``/sys``. Nothing is written."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        st: os.stat_result | None = target.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _refused(
            path, option, f": cannot look at it ({exc.strerror}); name another file"
        ) from None
    link = f" (a link to {target})" if target != path else ""
    parent = target.parent
    if st is None and link:
        raise _refused(path, option, f" is a link to {target}, which does not exist; name a file")
    if st is None and not parent.is_dir():
        raise _refused(path, option, f": the directory {parent} does not exist; create it first")
    if _on_kernel_fs(target if st is not None else parent):
        raise _refused(
            path,
            option,
            ": the kernel's file system (/proc, /sys) is no place for files; write elsewhere",
        )
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = _KIND.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise _refused(path, option, f" is {kind}{link}, not a regular file; name a file to write")
    if st is not None and not force:
        raise _refused(path, option, f" exists{link}; add --force to replace it")
    return target


def _on_kernel_fs(path: Path) -> bool:
    """``path`` is on the file system mounted at ``/proc`` or ``/sys``."""
    try:
        dev = path.stat().st_dev
        return any(os.path.ismount(m) and os.stat(m).st_dev == dev for m in _KERNEL_FS)
    except OSError:
        return False


def write_file(
    path: Path, write: Callable[[Path], object], *, force: bool = False, option: str = ""
) -> Path:
    """Write ``path`` whole or not at all: ``write(tmp)`` writes a temporary file in the
    same directory, which is synced and renamed over ``path``. Refused first as
    ``check_target`` refuses; any failure removes the temporary file and leaves ``path``
    as it was (an ``OSError`` becomes one line naming the path and what to do)."""
    target = check_target(path, force=force, option=option)
    try:
        tmp = _temporary(target)
    except OSError as exc:
        raise _refused(path, option, ": " + _advice(exc, target.parent)) from None
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the bytes are on disk before the name points at them
        finally:
            os.close(fd)
        _rename(tmp, target, force)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _refused(path, option, ": " + _advice(exc, target.parent)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a power cut
        fd = os.open(target.parent, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    return path


def _temporary(target: Path) -> Path:
    """A new empty file beside ``target``, created exclusively (never an existing one),
    with the existing target's permissions, else the umask's."""
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
        except FileExistsError:
            continue
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
        return tmp


def _rename(tmp: Path, target: Path, force: bool) -> None:
    """``tmp`` becomes ``target``; without ``force`` only where nothing appeared at
    ``target`` since it was checked (a hard link never replaces a file: EEXIST)."""
    if not force:
        try:
            os.link(tmp, target)
        except OSError as exc:
            if exc.errno not in _NO_LINKS:  # a file system without hard links renames
                raise
        else:
            tmp.unlink()
            return
    os.replace(tmp, target)


def _advice(exc: OSError, where: Path) -> str:
    """One line for a write that failed: what happened and what to do."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the device of {where}; free some space or write elsewhere"
    if exc.errno == errno.EROFS:
        return f"{where} is on a read-only file system; write elsewhere"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot create a file in {where} (permission denied); write elsewhere"
    if exc.errno == errno.EEXIST:
        return "it was written meanwhile; add --force to replace it"
    if exc.errno == errno.EISDIR:
        return "it is a directory; name a file to write"
    return f"cannot write it in {where} ({exc.strerror or exc}); write elsewhere"
