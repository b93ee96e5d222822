"""Faults of the machine the grader runs on, named for the TA instead of blamed on a student.

A full disk, a missing or full temporary folder, an output folder the TA cannot write:
none of these says anything about a submission, so none may become a student's row. The
batch stops at the first one (everything after would fail the same way), keeps what it
already graded, and the command prints ``MachineFault``'s one line and exits non-zero.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path

# Below this much free space in TMPDIR a class is not started: each submission needs room
# for its private copy and its sandbox's inputs there.
MIN_TEMP_FREE_BYTES = 32 * 1024 * 1024
# Errors that are the machine's whatever file they concern.
MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EMFILE, errno.ENFILE})
# Errors that are the machine's when they concern the grader's own folders.
ACCESS_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR})


class MachineFault(Exception):
    """The grader's machine cannot go on; ``str()`` is the one line to show the TA."""


def _advice(code: int | None, path: str) -> str:
    if code in (errno.ENOSPC, errno.EDQUOT):
        return (f"no space left for {path}: free some space on that disk (or point --out / TMPDIR "
                f"at one with room) and run the same command again")
    if code == errno.EROFS:
        return f"{path} is on a read-only file system: choose a writable --out / TMPDIR"
    if code in (errno.EACCES, errno.EPERM):
        return (f"permission denied for {path}: choose a folder you can write (--out, TMPDIR) "
                f"or fix its permissions")
    if code in (errno.ENOENT, errno.ENOTDIR, errno.EEXIST):
        blocker = _file_in_the_way(path)
        if blocker:
            return f"{blocker} is a file, not a folder: choose another --out (or move the file away)"
        return f"{path} does not exist (was it removed while grading?): create it, or choose another folder"
    if code in (errno.EMFILE, errno.ENFILE):
        return f"too many open files while writing {path}: raise the limit (ulimit -n) or use fewer --jobs"
    return f"cannot write {path} ({os.strerror(code) if code else 'unknown error'})"


def _file_in_the_way(path: str) -> str | None:
    """The nearest of ``path`` and its parents that exists and is not a folder, if any."""
    for candidate in (Path(path), *Path(path).parents):
        if os.path.lexists(candidate):
            return None if candidate.is_dir() else str(candidate)
    return None


def machine_fault(exc: OSError, path: str | Path | None = None, *, already_saved: bool = True) -> MachineFault:
    """The ``MachineFault`` for ``exc`` while writing ``path`` (default: the error's own file name)."""
    where = str(path or exc.filename or "?")
    tail = "; every submission graded before it is kept" if already_saved else ""
    return MachineFault(_advice(exc.errno, where) + tail)


def is_machine_fault(exc: BaseException, roots: tuple[Path, ...] = ()) -> bool:
    """True when ``exc`` is the machine's: a full or read-only disk anywhere, or an access
    error on a file under one of ``roots`` (the grader's TMPDIR and output folder)."""
    if not isinstance(exc, OSError):
        return False
    if exc.errno in MACHINE_ERRNOS:
        return True
    if exc.errno in ACCESS_ERRNOS and exc.filename:
        name = Path(os.path.abspath(os.fsdecode(exc.filename)))
        return any(name.is_relative_to(root) for root in roots)
    return False


def check_temp_dir() -> Path:
    """The temporary folder the kit will use, after checking it exists, is writable and has room.

    TMPDIR naming a missing folder is an error here (Python would quietly use /tmp instead,
    and the TA would not know where the space goes).
    """
    named = os.environ.get("TMPDIR")
    if named and not os.path.isdir(named):
        raise MachineFault(f"TMPDIR={named} does not exist: create it, or set TMPDIR to a folder with "
                           "free space (or unset it to use /tmp)")
    root = Path(named or tempfile.gettempdir())
    try:
        free = shutil.disk_usage(root).free
        with tempfile.NamedTemporaryFile(dir=root, prefix="ag-probe-") as probe:
            probe.write(b"\0" * 65536)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise machine_fault(exc, root, already_saved=False) from None
    if free < MIN_TEMP_FREE_BYTES:
        raise MachineFault(f"the temporary folder {root} has only {free / 2**20:.1f} MiB free (the grader needs "
                           f"{MIN_TEMP_FREE_BYTES // 2**20} MiB): free some space, or set TMPDIR to a folder "
                           "with room")
    return root
