"""Oxford 102 Flowers for a5_finetune: the offline copy, torchvision's download, any folder.

Three sources, one label convention (0-based class index = official label - 1):

- the offline copy (default): an ImageFolder tree ``train/ val/ test/`` with class folders
  ``001`` ... ``102`` of 128x128 photos (official split). Found at ``$AUTOGRADER_FLOWERS``,
  else at ``shared/data/flowers102-128`` in the assignment's folder or any folder above it
  (``photo_files.kit_copy``), else at ``data/flowers102-128`` under the working directory;
- ``torchvision.datasets.Flowers102`` (full resolution, downloads where there is network);
- any ImageFolder-style root with ``train/``, ``val/`` (and ``test/``) sub-folders.

For the notebook, ``find_flowers`` picks one source and says which, in this order:
``$AUTOGRADER_FLOWERS``; the folder the student names (``path=``); the offline copy found
as above; a copy downloaded earlier into ``download_dir``; a fresh download of
``torchvision.datasets.Flowers102`` (needs network and scipy), resized to the offline copy's
128 px layout; else a FileNotFoundError that says what to do. The ten-class excerpt is
used only when asked for (``excerpt=True``). (The grader's stricter rule is
``photo_files.grading_root``.)

Two ways in:

    datasets = flower_datasets(source="offline", image_size=128, augment=True)   # torchvision
    x, y = load_split(root, "train", image_size=64, classes=10, per_class=8)     # plain tensors

``load_split`` needs only torch, numpy and Pillow (it is what the grader's sandbox uses) and
takes its files from ``photo_files.split_files``; ``flower_datasets`` needs torchvision
(imported through ``tv_compat``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .backbones import IMAGENET_MEAN, IMAGENET_STD
from .photo_files import (  # noqa: F401 - ENV_VAR ... SPLITS: this module's names for the notebook
    ENV_VAR,
    MINI_NAME,
    NUM_CLASSES,
    OFFLINE_NAME,
    SPLITS,
    bundled_excerpt,
    environment_folder,
    is_flowers_root,
    kit_copy,
    split_files,
)
from .photo_files import class_folders as _class_folders


def find_offline_root() -> Path | None:
    """The offline flowers folder, or None when it is not on this machine (see module doc);
    an ``$AUTOGRADER_FLOWERS`` without ``train/`` counts as none here (``find_flowers`` and
    ``require_offline_root`` say so)."""
    chosen = environment_folder()
    if chosen is not None:
        return chosen if is_flowers_root(chosen) else None
    found = kit_copy()
    if found is None and is_flowers_root(Path.cwd() / "data" / OFFLINE_NAME):
        found = Path.cwd() / "data" / OFFLINE_NAME
    return found


def not_found_message() -> str:
    """What to do when no photos were found (the notebook prints it)."""
    return (
        "No Oxford 102 Flowers photos found. Do one of these, then run the cell again:\n"
        f"  1. you have the kit's offline copy (a folder {OFFLINE_NAME} holding train/ val/ test/): "
        f"set the environment variable {ENV_VAR} to that folder before starting Jupyter, or put its "
        "path in DATA_PATH in the notebook;\n"
        "  2. on a machine with internet access: leave DATA_PATH = None and allow the download "
        "(torchvision.datasets.Flowers102, about 330 MB, needs `pip install scipy`); it is made into "
        f"the same 128 px layout under data/{OFFLINE_NAME} once;\n"
        f"  3. for a first look only: USE_EXCERPT = True trains on the bundled ten-class excerpt "
        f"(data/{MINI_NAME}); its accuracies are not those of the 102 classes."
    )


def _existing_root(root: str | Path | None) -> Path:
    if root is None:
        raise FileNotFoundError(not_found_message())
    return Path(root)


def require_offline_root() -> Path:
    root = find_offline_root()
    if root is None:
        raise FileNotFoundError(
            f"offline flowers not found: set {ENV_VAR} to the folder holding train/ val/ test/ "
            f"(the kit's copy is shared/data/{OFFLINE_NAME})"
        )
    return root


def class_folders(root: str | Path, split: str = "train") -> list[str]:
    """Sorted class folder names of one split (label i = the i-th folder)."""
    return _class_folders(_existing_root(root), split)


def _read_image(path: Path, image_size: int | None) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        if image_size is not None and image.size != (image_size, image_size):
            image = centre_square(image, image_size, Image.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def centre_square(image, size: int, resample):
    """A PIL image with its short side resized to ``size`` (``resample``), then the centre
    ``size`` x ``size`` square: how the offline copy was made, and how other photos match it."""
    w, h = image.size
    scale = size / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), resample)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def load_split(root: str | Path, split: str, image_size: int | None = None,
               classes: int | None = None, per_class: int | None = None,
               normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One split of an ImageFolder tree as tensors, deterministic (sorted files).

    classes: use the first ``classes`` class folders (labels 0..classes-1); per_class: the
    first ``per_class`` images of each (the files ``photo_files.split_files`` chooses).
    Returns x: (N, 3, S, S) float32 normalised with the ImageNet statistics (uint8 in
    [0, 255] when normalize=False) and y: (N,) int64.
    """
    files = split_files(_existing_root(root), split, classes, per_class)
    images = [_read_image(path, image_size) for path, _ in files]
    labels = [label for _, label in files]
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor(labels, dtype=torch.int64)
    return (normalize_images(x) if normalize else x), y


def normalize_images(x: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) in [0, 255] -> float32, ImageNet mean/std per channel."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x.float() / 255.0 - mean) / std


def tensor_loader(x: torch.Tensor, y: torch.Tensor, batch_size: int = 32, shuffle: bool = False,
                  seed: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader over in-memory tensors; shuffling is seeded (same order on every run)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch_size,
                                       shuffle=shuffle, generator=generator)


def image_transforms(image_size: int = 128, augment: bool = False):
    """torchvision transform: PIL image -> normalised (3, S, S) tensor.

    augment=True: random resized crop and horizontal flip (training); otherwise resize the
    short side and take the centre (evaluation, and whenever features are precomputed).
    """
    from .tv_compat import import_torchvision

    t = import_torchvision().transforms
    if augment:
        geometry = [t.RandomResizedCrop(image_size, scale=(0.5, 1.0)), t.RandomHorizontalFlip()]
    else:
        geometry = [t.Resize(image_size), t.CenterCrop(image_size)]
    return t.Compose([*geometry, t.ToTensor(), t.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def flower_datasets(source: str = "offline", root: str | Path | None = None, image_size: int = 128,
                    augment: bool = False, download: bool = True) -> dict:
    """{"train", "val", "test"} -> torchvision Dataset yielding (image tensor, label).

    source: "offline" (the 128 px copy; root defaults to ``find_offline_root()``),
    "torchvision" (``Flowers102`` under root, downloaded when missing and download=True),
    or "folder" (any ImageFolder tree with train/ val/ test/ under root).
    The training split gets augmentation when augment=True; val and test never do.
    """
    from .tv_compat import import_torchvision

    tv = import_torchvision()
    splits = {}
    for split in SPLITS:
        transform = image_transforms(image_size, augment and split == "train")
        if source == "torchvision":
            if root is None:
                raise ValueError("source='torchvision' needs root (where Flowers102 is downloaded)")
            splits[split] = tv.datasets.Flowers102(root, split=split, transform=transform,
                                                   download=download)
        elif source in ("offline", "folder"):
            folder = Path(root) if root is not None else require_offline_root()
            if (folder / split).is_dir():
                splits[split] = tv.datasets.ImageFolder(folder / split, transform=transform)
        else:
            raise ValueError(f"source must be 'offline', 'torchvision' or 'folder', got {source!r}")
    return splits


# ------------------------------------------------------------------ one source for the notebook

@dataclass(frozen=True)
class FlowerSource:
    """Where the photos come from. kind: "environment", "path", "offline", "downloaded" or
    "excerpt"; num_classes: class folders of train/ (102, or 10 for the excerpt)."""

    root: Path
    kind: str
    num_classes: int

    @property
    def chance(self) -> float:
        """Accuracy of guessing: 1 / num_classes."""
        return 1.0 / self.num_classes

    def describe(self) -> str:
        return f"{self.num_classes} classes from {self.root} ({self.kind}); chance level {self.chance:.3f}"


def _is_root(folder: Path) -> bool:
    return (folder / "train").is_dir() and (folder / "val").is_dir()


def _source(root: Path, kind: str) -> FlowerSource:
    return FlowerSource(root, kind, len(class_folders(root, "train")))


def find_flowers(path: str | Path | None = None, *, excerpt: bool = False, download: bool = True,
                 download_dir: str | Path = "data") -> FlowerSource:
    """The photos the notebook trains on, in this order: ``$AUTOGRADER_FLOWERS``, ``path``,
    the offline copy (``find_offline_root``), ``download_dir/flowers102-128`` made earlier,
    a download (``download_flowers``, when ``download``). ``excerpt=True``: the bundled
    ten-class excerpt instead. A setting that names a folder without train/ and val/ is an
    error (never skipped silently); nothing found raises FileNotFoundError with
    ``not_found_message()``."""
    if excerpt:
        return _source(bundled_excerpt(), "excerpt")
    for value, kind, what in ((os.environ.get(ENV_VAR), "environment", f"${ENV_VAR}"), (path, "path", "path")):
        if value:
            root = Path(value).expanduser().resolve()
            if not _is_root(root):
                raise FileNotFoundError(f"{what} = {root} has no train/ and val/ folders of photos; "
                                        f"point it at the folder holding them (e.g. .../{OFFLINE_NAME})")
            return _source(root, kind)
    found = find_offline_root()
    if found is not None:
        return _source(found, "offline")
    local = Path(download_dir) / OFFLINE_NAME
    if _is_root(local):
        return _source(local.resolve(), "downloaded")
    if download:
        try:
            return _source(download_flowers(download_dir), "downloaded")
        except Exception as error:  # no network, no scipy, a proxy, a full disk ...
            raise FileNotFoundError(f"downloading Flowers102 failed ({type(error).__name__}: {error}).\n"
                                    + not_found_message()) from error
    raise FileNotFoundError(not_found_message())


def _flowers102_class():
    """torchvision's Flowers102 dataset class (a seam for tests)."""
    from .tv_compat import import_torchvision

    return import_torchvision().datasets.Flowers102


def download_flowers(download_dir: str | Path = "data", image_size: int = 128) -> Path:
    """Download ``torchvision.datasets.Flowers102`` into ``download_dir`` and write it as the
    offline layout ``download_dir/flowers102-128/{train,val,test}/{001..102}/image_NNNNN.jpg``:
    short side resized to ``image_size`` (bicubic), centre square, JPEG quality 85 (as the
    kit's offline copy was made). Returns that folder; the split is the official one."""
    from PIL import Image

    download_dir = Path(download_dir)
    target = download_dir / OFFLINE_NAME
    partial = download_dir / (OFFLINE_NAME + ".partial")
    dataset_class = _flowers102_class()
    for split in SPLITS:
        dataset = dataset_class(str(download_dir), split=split, download=True)
        files = getattr(dataset, "_image_files", None)
        for i in range(len(dataset)):
            image, label = dataset[i]
            name = Path(files[i]).name if files is not None else f"image_{i + 1:05d}.jpg"
            folder = partial / split / f"{int(label) + 1:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            centre_square(image.convert("RGB"), image_size, Image.BICUBIC).save(folder / name, quality=85)
    partial.rename(target)  # only a complete copy ever has the name find_flowers looks for
    return target.resolve()
