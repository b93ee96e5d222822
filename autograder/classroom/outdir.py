"""One output folder, one assignment, one run at a time.

    DIR/.autograder-out.json   {"assignment": "<name>"}: what this folder holds, written once
    DIR/cache/.lock            flock()ed by the run grading into DIR; holds its pid

Grading a second assignment into a folder is refused (its cache and gradebook would be
mixed with the first's). A second run into a folder that a live run holds either waits
for it (``wait=True``) or is refused, and says which; the lock dies with its process, so a
killed run never leaves the folder locked.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..machine.faults import machine_fault
from ..machine.files import write_atomic

MARKER = ".autograder-out.json"
LOCK = Path("cache") / ".lock"  # beside the cache: outputs stay byte-identical between runs


class OutDirInUse(Exception):
    """The output folder belongs to another assignment, or another run holds it."""


class OutDirBusy(OutDirInUse):
    """Another live run holds the output folder."""


def _check_private(out_dir: Path) -> None:
    """Refuse an output folder that another user could rearrange, and keep the cache ours alone.

    Sandboxed submissions run under other uids: a folder every user may write (without the
    sticky bit) would let one replace the cache folder; a cache folder owned by someone else
    could hold anything. Our own cache folder is made private (0700).
    """
    st = os.stat(out_dir)
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise OutDirInUse(f"{out_dir} is writable by every user, so a submission running as another user "
                          f"could replace its cache: use a private folder (chmod o-w {out_dir})")
    cache = out_dir / LOCK.parent
    st = os.lstat(cache)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise OutDirInUse(f"{cache} is not a folder of this user's: remove it, or choose another --out")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(cache, 0o700)


def _read_marker(out_dir: Path) -> str | None:
    try:
        data = json.loads((out_dir / MARKER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return ""  # unreadable: claimed by someone, but we cannot tell by whom
    return data.get("assignment") if isinstance(data, dict) and isinstance(data.get("assignment"), str) else ""


def _write_marker(out_dir: Path, assignment: str) -> None:
    path = out_dir / MARKER
    try:
        write_atomic(path, json.dumps({"assignment": assignment}) + "\n")
    except OSError as exc:
        raise machine_fault(exc, path, already_saved=False) from None


@contextmanager
def claim(out_dir: Path, assignment: str, *, wait: bool = False,
          say: Callable[[str], None] = lambda message: None) -> Iterator[Path]:
    """Hold ``out_dir`` for grading ``assignment`` while inside.

    Raises ``OutDirInUse`` when the folder records another assignment, or when another run
    holds it and ``wait`` is False; ``MachineFault`` when it cannot be created or written.
    """
    out_dir = Path(out_dir)
    try:
        (out_dir / LOCK).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _check_private(out_dir)
        fd = os.open(out_dir / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise machine_fault(exc, out_dir, already_saved=False) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            if not wait:
                raise OutDirBusy(f"another autograder run (pid {holder}) is grading into {out_dir}: "
                                  "wait for it to finish, pass --wait to queue behind it, or choose "
                                  "another --out") from None
            say(f"waiting: another autograder run (pid {holder}) is grading into {out_dir}")
            fcntl.flock(fd, fcntl.LOCK_EX)
            say(f"the other run into {out_dir} has finished; starting")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        recorded = _read_marker(out_dir)
        if recorded is None:
            _write_marker(out_dir, assignment)
        elif recorded != assignment:
            what = f"grades of {recorded}" if recorded else f"an unreadable {MARKER}"
            raise OutDirInUse(f"{out_dir} holds {what}, not {assignment}: grade {assignment} into "
                              f"another --out folder (or delete {out_dir} first)")
        yield out_dir
    finally:
        os.close(fd)  # releases the lock
