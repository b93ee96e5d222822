"""Hashing whole folders, so that a cache key never rests on a hand-kept list of files.

    tree_files(root)                  every file under root, sorted by path, without caches
                                      (__pycache__, *.pyc) or hidden entries (.git, .tmp files)
    hash_tree(digest, root, label)    feeds digest: for each file, "<label> <relative path>\\0",
                                      its bytes, "\\0"

A file added to, removed from, renamed in or edited in the folder changes the digest; the
order of a directory listing does not. The grade cache (``classroom.resume``) and the
expected-values cache (``course.expected_cache``) both key on these, so they agree on
what "the same code" means. Imports nothing from the kit: any layer may use it.
"""

from __future__ import annotations

from pathlib import Path

_BLOCK = 1 << 20


def update_with_file(digest, path: Path) -> None:
    """Feed the bytes of ``path`` to ``digest``, a block at a time."""
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)


def tree_files(root: Path, skip: tuple[str, ...] = ()) -> list[Path]:
    """Every file under ``root`` (``[root]`` for a file), sorted, skipping path parts named
    in ``skip``, hidden parts, ``__pycache__`` and ``.pyc`` files."""
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file()
                  and not any(part in skip or part.startswith(".") or part == "__pycache__"
                              for part in p.relative_to(root).parts)
                  and p.suffix != ".pyc")


def hash_tree(digest, root: Path, label: str, skip: tuple[str, ...] = ()) -> None:
    """Feed every file of ``tree_files(root, skip)`` to ``digest``: label, path relative to
    ``root``, content."""
    root = Path(root)
    for path in tree_files(root, skip):
        digest.update(f"{label} {path.relative_to(root).as_posix()}\0".encode())
        update_with_file(digest, path)
        digest.update(b"\0")
