"""Sandbox uids leased with lock files, so that no two boxes on a machine share one.

A root grader runs each sandbox as an unprivileged uid from ``FIRST_UID ..
FIRST_UID + COUNT - 1``. Two grader processes (two classes graded at once, a batch and a
Gradescope run) used to pick ``61000 + worker`` each and so shared uids: one box's process
budget, keyring and leftovers were another's. Now each box leases its uid: an exclusive
``flock`` on ``<lock dir>/<uid>.lock``, held until the box is gone. A grader that dies
loses its locks with its file descriptors, so nothing stale blocks a uid.

The lock directory is root's own (mode 0700, not a symlink), so no sandbox can take or
fake a lease. The worker number is only a hint for which uid to try first.
"""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
import threading
from pathlib import Path

FIRST_UID = 61000
COUNT = 1000
DEFAULT_LOCK_DIRS = (Path("/run/autograder-uids"), Path(tempfile.gettempdir()) / "autograder-uids-0")


class NoFreeUid(RuntimeError):
    """Every uid of the range is leased (over a thousand boxes at once on one machine)."""


class UidLease:
    """One leased uid; ``release`` (or leaving the ``with`` block) gives it back."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = -1

    def __enter__(self) -> UidLease:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


_dir_lock = threading.Lock()
_checked_dirs: dict[Path, bool] = {}


def private_lock_dir(candidates: tuple[Path, ...] = DEFAULT_LOCK_DIRS) -> Path:
    """The first candidate that is (or can be made) a real directory owned by us, mode 0700."""
    problems = []
    with _dir_lock:
        for path in candidates:
            if _checked_dirs.get(path):
                return path
            try:
                os.makedirs(path, mode=0o700, exist_ok=True)
                info = os.lstat(path)
                if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                    raise PermissionError(f"{path} is not a directory of uid {os.geteuid()}")
                if stat.S_IMODE(info.st_mode) != 0o700:
                    os.chmod(path, 0o700)
            except OSError as exc:
                problems.append(f"{path}: {exc}")
                continue
            _checked_dirs[path] = True
            return path
    raise PermissionError("no private folder for uid locks: " + "; ".join(problems))


def lease_uid(hint: int = 0, *, lock_dir: Path | None = None, first: int = FIRST_UID,
              count: int = COUNT) -> UidLease:
    """Lease a free uid, trying ``first + hint`` first; raises ``NoFreeUid`` when all are taken."""
    directory = lock_dir or private_lock_dir()
    start = hint % count
    for step in range(count):
        uid = first + (start + step) % count
        fd = os.open(directory / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        return UidLease(uid, fd)
    raise NoFreeUid(f"all {count} sandbox uids from {first} are in use")
