"""Writing the kit's own output files: whole or not at all, under names any file system takes.

    write_atomic(path, data)   temporary file beside ``path`` -> (fsync) -> os.replace
    safe_filename(name)        [A-Za-z0-9._-] only, no leading/trailing dots, at most ``limit``
    distinct_filenames(ids)    one safe name per id, no two alike even where case is folded

A reader (a TA's spreadsheet, Gradescope, the next run of the grader) never sees half a
file: it sees the old file or the new one. The temporary file is named
``.<name>.<pid>.<thread>.tmp`` so that concurrent writers never share one, and
``batch.remove_temporary_files`` finds those a killed grader left behind (``.*.tmp``).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, *, mode: int | None = None, private: bool = False,
                 durable: bool = False, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``.

    mode:    the file's permission bits (default: 0o666 less the umask, like ``open``).
    private: 0o600, created so (never readable by others, even for a moment), and never
             written through a symbolic link at the temporary name.
    durable: fsync before the rename, so a power cut leaves the old or the new file.
    On any failure (a full disk) the temporary file is removed and the error raised.
    """
    path = Path(path)
    raw = data.encode(encoding) if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o600 if private else 0o666)
        with os.fdopen(fd, "wb") as f:
            if private or mode is not None:
                os.fchmod(f.fileno(), 0o600 if private else mode)
            f.write(raw)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def distinct_filenames(ids, *, fallback: str = "submission") -> dict[str, str]:
    """id -> ``safe_filename(id)``, made distinct: an id whose clean name is taken, compared
    without case (a macOS or Windows share folds it: "Ada.txt" is "ada.txt" there), gets a
    short hash of itself appended. Stable: ids are taken in sorted order."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for sid in sorted(set(ids)):
        name = safe_filename(sid, fallback=fallback)
        if name.casefold() in used:
            name = f"{name}-{hashlib.sha256(sid.encode()).hexdigest()[:8]}"
        used.add(name.casefold())
        names[sid] = name
    return names


def safe_filename(name: str, *, fallback: str = "submission", limit: int = 120) -> str:
    """``name`` as a file name: every character outside [A-Za-z0-9._-] becomes "_", leading
    and trailing dots and underscores go (no hidden files, no "..") and at most ``limit``
    characters stay; ``fallback`` when nothing is left. Different names may clean to the
    same one: callers that need unique names add a hash of the original."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._") or fallback
    return cleaned[:limit]
