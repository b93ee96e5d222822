"""Read-only views of data folders: exactly the files a sandbox may see, nothing else.

A sandbox mount binds a whole folder, and a symbolic link to a file outside it would not
resolve inside bubblewrap. So when an assignment may show the sandbox only part of a
folder (a5: the training photos, never the validation photos its check scores on; the
student-side modules, not the data beside them), the part is copied into a view:

    view = materialise("flowers-train", [("train/001/a.jpg", Path(".../train/001/a.jpg")), ...])

A view is content-addressed (its folder name is the SHA-256 of its relative paths and
bytes), built in a temporary folder and renamed into place, so concurrent graders share
one copy and never see half of one. Views live under ``$AUTOGRADER_VIEWS`` or
``<tmp>/dl-autograder-views-<uid>``, a folder this user owns and nobody else can write
(otherwise a fresh private folder is used); folders are 0755 and files 0644, so the
sandbox uid can read them without bubblewrap too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

_PRIVATE_FALLBACK: list[Path] = []


def _safe_root(root: Path) -> bool:
    """Ours, a real folder, not writable by group or others."""
    try:
        info = os.lstat(root)
    except FileNotFoundError:
        try:
            os.mkdir(root, 0o755)
        except FileExistsError:
            pass
        info = os.lstat(root)
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def views_root() -> Path:
    """Where views are kept (see the module doc)."""
    configured = os.environ.get("AUTOGRADER_VIEWS")
    root = Path(configured) if configured else Path(tempfile.gettempdir()) / f"dl-autograder-views-{os.getuid()}"
    if _safe_root(root):
        os.chmod(root, 0o755)
        return root
    if not _PRIVATE_FALLBACK:  # someone else owns the shared name: a private folder instead
        private = Path(tempfile.mkdtemp(prefix="dl-autograder-views-"))
        os.chmod(private, 0o755)
        _PRIVATE_FALLBACK.append(private)
    return _PRIVATE_FALLBACK[0]


def view_key(files: Iterable[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for rel, source in sorted(files):
        digest.update(rel.encode() + b"\0")
        digest.update(Path(source).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def materialise(name: str, files: Iterable[tuple[str, Path]]) -> Path:
    """A folder holding exactly ``files`` ((relative path, source file) pairs), read-only
    for everyone but this user; the same folder again for the same content."""
    files = sorted((rel, Path(source)) for rel, source in files)
    for rel, _ in files:
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise ValueError(f"view {name}: {rel!r} is not a relative path inside the view")
    root = views_root()
    final = root / f"{name}-{view_key(files)}"
    if final.is_dir() and not final.is_symlink() and os.lstat(final).st_uid == os.getuid():
        return final
    building = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        for rel, source in files:
            target = building / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            target.chmod(0o644)
        for folder in [building, *(p for p in building.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)
        try:
            os.rename(building, final)
        except OSError:  # another grader finished the same view first
            if not final.is_dir():
                raise
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    return final
