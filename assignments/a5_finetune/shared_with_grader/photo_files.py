"""Where the Oxford 102 Flowers photos are, and which files a split uses (standard library only).

A flowers folder ("root") holds ``train/``, ``val/`` (and ``test/``), each with one folder
per class (``001`` ... ``102`` in the kit's offline copy); label ``i`` is the ``i``-th class
folder in sorted order, and a class's photos are taken in sorted file-name order. The
notebook (through ``flowers.load_split``), the grader's spec (the photos it shows the
sandbox) and its checks (the photos it scores on) all choose files with ``split_files``, so
"the first 8 training photos of the first 10 classes" are the same files everywhere.

Two rules for finding the photos, one search for the kit's copy (``kit_copy``):

- the grader (``grading_root``): ``$AUTOGRADER_FLOWERS`` when it is set, and then it must be
  a flowers folder (otherwise ``FlowersFolderError``, naming the variable and the path: a
  typo must never grade a class on other photos); else the kit's copy; else the ten-class
  excerpt bundled with the assignment;
- the notebook (``flowers.find_flowers``): the same places and more (a path, a download), with
  messages that say what to do.

No torch and no numpy here: the grader finds its files without importing either.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "AUTOGRADER_FLOWERS"
OFFLINE_NAME = "flowers102-128"
MINI_NAME = "flowers102-mini"
NUM_CLASSES = 102
SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

# The assignment's folder: this package sits in it, beside data/ (the bundled excerpt).
ASSIGNMENT_DIR = Path(__file__).resolve().parent.parent


class FlowersFolderError(FileNotFoundError):
    """``$AUTOGRADER_FLOWERS`` is set but names no flowers folder (see ``grading_root``)."""


def is_flowers_root(folder: Path) -> bool:
    """Does ``folder`` hold a ``train/`` split?"""
    return (Path(folder) / "train").is_dir()


def environment_folder() -> Path | None:
    """The folder ``$AUTOGRADER_FLOWERS`` names (absolute), or None when it is unset or empty."""
    value = os.environ.get(ENV_VAR)
    return Path(value).expanduser().resolve() if value else None


def kit_copy() -> Path | None:
    """The kit's offline copy, ``shared/data/flowers102-128`` in the assignment's folder or any
    folder above it; None when this machine has none."""
    for folder in (ASSIGNMENT_DIR, *ASSIGNMENT_DIR.parents):
        candidate = folder / "shared" / "data" / OFFLINE_NAME
        if is_flowers_root(candidate):
            return candidate
    return None


def bundled_excerpt() -> Path:
    """The ten-class excerpt shipped with the assignment (``data/flowers102-mini``, see its
    README): the same photos as the full copy for the first ten classes, enough for the
    grader's short finetune and the demo on a machine without the full copy."""
    return ASSIGNMENT_DIR / "data" / MINI_NAME


def grading_root() -> Path | None:
    """Where the grader reads the photos (see the module doc): ``$AUTOGRADER_FLOWERS``, else
    ``kit_copy()``, else ``bundled_excerpt()``; None when there is none of them.

    Raises FlowersFolderError when ``$AUTOGRADER_FLOWERS`` is set to a folder without
    ``train/``: never a silent fallback to other photos."""
    chosen = environment_folder()
    if chosen is not None:
        if not is_flowers_root(chosen):
            raise FlowersFolderError(
                f"{ENV_VAR}={chosen} is not a flowers folder (it has no train/ folder of photos): "
                f"point {ENV_VAR} at the folder holding train/ and val/ (e.g. .../{OFFLINE_NAME}), "
                "or unset it to use the kit's own copy")
        return chosen
    found = kit_copy()
    if found is None and is_flowers_root(bundled_excerpt()):
        found = bundled_excerpt()
    return found


def class_folders(root: str | Path, split: str = "train") -> list[str]:
    """Sorted class folder names of one split (label i = the i-th folder)."""
    folder = Path(root) / split
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist: a flowers root holds train/ val/ (test/) folders")
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def split_files(root: str | Path, split: str, classes: int | None = None,
                per_class: int | None = None) -> list[tuple[Path, int]]:
    """(photo file, label) of one split, in order: the first ``classes`` class folders (all
    when None), the first ``per_class`` photos of each in sorted name order (all when None)."""
    root = Path(root)
    files = []
    for label, name in enumerate(class_folders(root, split)[:classes]):
        photos = sorted(p for p in (root / split / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += [(photo, label) for photo in photos[:per_class]]
    return files
