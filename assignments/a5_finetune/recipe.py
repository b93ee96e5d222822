"""A finetuning recipe for the 102 flowers, built on the students' own five functions.

The students write ``replace_head``, ``set_trainable``, ``make_optimizer``,
``train_one_epoch`` and ``evaluate``; this module adds, around those calls and never inside
them, what practitioners do on top:

- **augmentation on tensors**: random resized crops and horizontal flips of whole batches,
  one ``affine_grid``/``grid_sample`` call per batch (no PIL, no worker processes);
- **upsampling**: the 128 px photos can be fed at a larger side (``image_size``), which
  suits a network pretrained at 224 px;
- **a learning-rate schedule**: linear warm-up, then cosine decay to zero, stepped before
  every batch by the batch stream itself (so ``train_one_epoch`` needs no scheduler);
- **separate learning rates for body and head**: the optimizer ``make_optimizer`` returns
  is re-split into a body group and a head group (same optimizer class and momentum);
- **LP-FT** (Kumar et al. 2022, "Fine-tuning can distort pretrained features"): the new
  head is first fitted on features of the frozen body, computed once for several augmented
  views, and only then is the network finetuned. A fitted head sends small, meaningful
  gradients into the body instead of large random ones; with ten photos per class this is
  the strongest single trick. The "top" flavour is that first phase alone;
- **test-time flips**: accuracy of the average of the logits of an image and its mirror.

Label smoothing is not used: ``train_one_epoch`` minimises plain cross-entropy, and the
recipe does not change what the students' function computes.

    students = StudentFunctions.from_namespace(globals())     # or a module, e.g. reference
    result = run_recipe(students, RECIPES["all"], data)        # data: {"train": (x, y), "val": ...}
    print(result.val_accuracy, result.train_seconds)

Images are the tensors of ``flowers.load_split`` (uint8 with ``normalize=False``, which
keeps memory low, or already normalised float). Only torch and the ``backbones`` and
``flowers`` modules of ``shared_with_grader`` (beside this file) are needed. The grader does
not use this file: it stays beside the notebook.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from shared_with_grader.flowers import normalize_images
from torch import nn

FLAVOURS = ("all", "top", "top_k", "scratch")


class StudentFunctions(NamedTuple):
    """The five functions of a5, as the student (or the reference) wrote them."""

    replace_head: Callable
    set_trainable: Callable
    make_optimizer: Callable
    train_one_epoch: Callable
    evaluate: Callable

    @classmethod
    def from_namespace(cls, namespace) -> StudentFunctions:
        """From a module or a dict such as a notebook's ``globals()``."""
        get = namespace.get if isinstance(namespace, dict) else (lambda name: getattr(namespace, name, None))
        missing = [name for name in cls._fields if not callable(get(name))]
        if missing:
            raise AttributeError(f"these a5 functions are not defined: {', '.join(missing)}")
        return cls(*(get(name) for name in cls._fields))


@dataclass(frozen=True)
class Augment:
    """Random resized crop (area fraction in ``scale``, aspect ratio in ``ratio``) and a
    horizontal flip with probability 1/2, as torchvision's RandomResizedCrop + flip."""

    scale: tuple[float, float] = (0.35, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True


@dataclass(frozen=True)
class Recipe:
    """One finetune. flavour: "all", "top", "top_k" (k top layers) or "scratch" ("all" from
    random weights). Phase 1 (``probe_epochs`` > 0): the head alone on precomputed features
    of ``probe_views`` views of every training photo. Phase 2 (``epochs`` > 0, not for
    "top"): the flavour's layers, body at ``lr``, head at ``head_lr``. Both phases: SGD from
    ``make_optimizer``, ``warmup`` (fraction of the phase) then cosine decay."""

    flavour: str = "all"
    k: int = 3
    image_size: int = 128
    epochs: int = 12
    lr: float = 0.01
    head_lr: float = 0.01
    weight_decay: float = 1e-4
    batch_size: int = 32
    warmup: float = 0.1
    augment: Augment | None = field(default_factory=Augment)
    probe_epochs: int = 40
    probe_views: int = 4
    probe_lr: float = 0.1
    probe_weight_decay: float = 1e-3
    flip_test: bool = True
    seed: int = 0
    backbone: str = "efficientnet_lite0"

    @property
    def pretrained(self) -> bool:
        return self.flavour != "scratch"

    @property
    def trained_flavour(self) -> str:
        """The ``set_trainable`` flavour of phase 2."""
        return "all" if self.flavour == "scratch" else self.flavour


# "full": the benchmark's recipes (benchmarks/bench_finetune.py), minutes per flavour on two
# CPU cores, seconds on a GPU. "quick": the notebook's CPU setting, all four flavours in
# under five minutes on two cores: 128 px, few epochs, no test-time flips.
FULL = {
    "all": Recipe("all", image_size=160, epochs=14, probe_views=2),
    "top_k": Recipe("top_k", k=3, image_size=160, epochs=10, lr=0.05, head_lr=0.05, probe_views=4),
    "top": Recipe("top", image_size=160, epochs=0, probe_views=8),
    "scratch": Recipe("scratch", image_size=128, epochs=10, lr=0.05, head_lr=0.05, probe_epochs=0, flip_test=False),
}
QUICK = {
    "all": Recipe("all", epochs=4, probe_views=1, flip_test=False),
    "top_k": Recipe("top_k", k=3, epochs=3, lr=0.05, head_lr=0.05, probe_views=1, flip_test=False),
    "top": Recipe("top", epochs=0, probe_views=2, flip_test=False),
    "scratch": Recipe("scratch", epochs=4, lr=0.05, head_lr=0.05, probe_epochs=0, flip_test=False),
}
SETTINGS = {"full": FULL, "quick": QUICK}
RECIPES = FULL

# Validation accuracy the reference's functions reach with each setting (seed 0, CPU, two
# threads), by the number of classes loaded: 102 (the full copy, or the download resized to
# 128 px) or 10 (the bundled excerpt). Measured with benchmarks/bench_finetune.py
# (--setting quick / full); another correct implementation lands within a few points.
EXPECTED = {
    ("full", 102): {},
    ("quick", 102): {"all": 0.57, "top_k": 0.69, "top": 0.71, "scratch": 0.01},
    ("quick", 10): {"all": 0.79, "top_k": 0.90, "top": 0.85, "scratch": 0.10},
    ("full", 10): {},
}


def expected_accuracy(setting: str, flavour: str, num_classes: int) -> float | None:
    """The measured validation accuracy for this setting, flavour and class count, or None."""
    return EXPECTED.get((setting, num_classes), {}).get(flavour)


@dataclass
class RecipeResult:
    recipe: Recipe
    val_accuracy: float
    test_accuracy: float | None
    train_seconds: float       # wall clock of both phases (features included)
    train_cpu_seconds: float   # process CPU time of the same (all threads)
    losses: list[float]        # mean training loss per epoch of the last phase run
    trainable: int             # trainable tensors in the last phase
    num_classes: int


# ------------------------------------------------------------------ batches of images

def random_resized_crop(x: torch.Tensor, size: int, augment: Augment, generator: torch.Generator) -> torch.Tensor:
    """x: (B, 3, H, W) float -> (B, 3, size, size), a random crop of every image, resized.

    The crop is an axis-aligned box covering a fraction ``s ~ U(scale)`` of the area with
    aspect ratio ``r`` (log-uniform in ``ratio``): width ``sqrt(s r)``, height ``sqrt(s / r)``
    of the image's (clipped to 1). In the normalised coordinates of ``affine_grid`` the box
    is ``x_in = w * x_out + cx`` (``-w`` when flipped), ``y_in = h * y_out + cy``.
    """
    b = x.shape[0]
    u = torch.rand(b, 4, generator=generator)
    area = augment.scale[0] + (augment.scale[1] - augment.scale[0]) * u[:, 0]
    log_lo, log_hi = math.log(augment.ratio[0]), math.log(augment.ratio[1])
    ratio = torch.exp(log_lo + (log_hi - log_lo) * u[:, 1])
    w = torch.sqrt(area * ratio).clamp(max=1.0)
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (1 - w) * (2 * u[:, 2] - 1)
    cy = (1 - h) * (2 * u[:, 3] - 1)
    sign = torch.ones(b)
    if augment.flip:
        sign = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta, [b, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return normalize_images(x) if x.dtype == torch.uint8 else x


class Batches:
    """An iterable of ``(x, y)`` batches over in-memory tensors, one epoch per iteration.

    x: (N, 3, H, W) images (uint8 are normalised per batch) or (N, D) features; batches are
    resized to ``image_size`` (None: as stored), augmented when ``augment`` is given and
    mirrored left-right when ``mirror``.
    Shuffling and augmentation are seeded per epoch (``seed`` + epoch). ``on_batch`` is
    called before every batch is handed out: that is how the schedule steps without
    anything inside ``train_one_epoch`` knowing about it.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 32, *,
                 image_size: int | None = None, augment: Augment | None = None, shuffle: bool = False,
                 mirror: bool = False, seed: int = 0, on_batch: Callable[[], None] | None = None,
                 channels_last: bool = False):
        self.x, self.y, self.batch_size, self.mirror = x, y, batch_size, mirror
        self.image_size, self.augment, self.shuffle = image_size, augment, shuffle
        self.seed, self.on_batch, self.channels_last = seed, on_batch, channels_last
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        self.epoch += 1
        n = len(self.y)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            index = order[start:start + self.batch_size]
            xb = _as_float(self.x[index])
            if xb.dim() == 4:
                size = self.image_size or xb.shape[-1]
                if self.augment is not None:
                    xb = random_resized_crop(xb, size, self.augment, generator)
                elif xb.shape[-1] != size or xb.shape[-2] != size:
                    xb = F.interpolate(xb, size=(size, size), mode="bilinear", align_corners=False,
                                       antialias=True)
                if self.mirror:
                    xb = torch.flip(xb, dims=[3])
                if self.channels_last:  # about 1.5x faster convolutions on CPU
                    xb = xb.contiguous(memory_format=torch.channels_last)
            if self.on_batch is not None:
                self.on_batch()
            yield xb, self.y[index]


# ------------------------------------------------------------------ optimizer and schedule

class WarmupCosine:
    """Learning rate of every group at step t (0-based) of T, warm-up W steps:
    ``base * (t + 1) / W`` for t < W, then ``base * (1 + cos(pi (t - W) / (T - W))) / 2``."""

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int):
        self.optimizer, self.total, self.warmup = optimizer, max(total_steps, 1), max(warmup_steps, 0)
        self.base = [group["lr"] for group in optimizer.param_groups]
        self.t = 0

    def factor(self, t: int) -> float:
        if t < self.warmup:
            return (t + 1) / self.warmup
        progress = min((t - self.warmup) / max(self.total - self.warmup, 1), 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    def step(self) -> None:
        f = self.factor(self.t)
        for group, base in zip(self.optimizer.param_groups, self.base, strict=True):
            group["lr"] = base * f
        self.t += 1


def head_of(model: nn.Module) -> nn.Linear:
    """The model's last ``nn.Linear`` (the head, as ``replace_head`` defines it)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the model has no nn.Linear head")
    return linears[-1]


def split_head_group(optimizer: torch.optim.Optimizer, head: nn.Module, body_lr: float, head_lr: float,
                     weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Re-split the groups of a fresh optimizer (before its first step) into a body group at
    ``body_lr`` and a head group at ``head_lr``; every other setting (momentum ...) is the
    optimizer's own. Empty groups are dropped (e.g. no body group for the head alone)."""
    head_ids = {id(p) for p in head.parameters()}
    params = [p for group in optimizer.param_groups for p in group["params"]]
    template = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
    groups = [(body_lr, [p for p in params if id(p) not in head_ids]),
              (head_lr, [p for p in params if id(p) in head_ids])]
    optimizer.param_groups = []
    for lr, members in groups:
        if members:
            optimizer.add_param_group({**template, "params": members, "lr": lr, "weight_decay": weight_decay})
    return optimizer


# ------------------------------------------------------------------ features and evaluation

class FlipAverage(nn.Module):
    """Test-time flips: logits(x) = (model(x) + model(x mirrored left-right)) / 2."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.model(x) + self.model(torch.flip(x, dims=[3]))) / 2


def head_inputs(model: nn.Module, batches, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N, D), labels (N,)): what the head receives for every batch, frozen body in
    eval mode (BatchNorm on its running statistics, no dropout), no gradients. The model is
    left in train mode, as a freshly loaded one is (the students' functions set modes)."""
    captured, labels = [], []
    hook = head_of(model).register_forward_hook(lambda m, inputs, out: captured.append(inputs[0].detach().cpu()))
    try:
        model.eval()
        with torch.no_grad():
            for x, y in batches:
                model(x.to(device))
                labels.append(y)
    finally:
        hook.remove()
        model.train()
    return torch.cat(captured), torch.cat(labels)


def probe_views(recipe: Recipe) -> list[tuple[bool, Augment | None]]:
    """(mirrored, augmentation) of each view phase 1 computes features for: the centred
    photo, its mirror, then random resized crops (flipped at random)."""
    views: list[tuple[bool, Augment | None]] = [(False, None), (True, None)][:recipe.probe_views]
    views += [(False, recipe.augment or Augment())] * max(recipe.probe_views - 2, 0)
    return views


def fit_head(students: StudentFunctions, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             recipe: Recipe, device) -> list[float]:
    """Phase 1 (linear probe): the head alone, on frozen features of every view of x,
    trained with the students' make_optimizer and train_one_epoch. Returns epoch losses."""
    features, labels = [], []
    for i, (mirrored, augment) in enumerate(probe_views(recipe)):
        batches = Batches(x, y, 64, image_size=recipe.image_size, augment=augment, mirror=mirrored,
                          seed=recipe.seed + 7 * i, channels_last=True)
        f, lab = head_inputs(model, batches, device)
        features.append(f)
        labels.append(lab)
    features, labels = torch.cat(features), torch.cat(labels)
    head = head_of(model)
    head.requires_grad_(True)
    optimizer = students.make_optimizer(head, recipe.probe_lr)
    split_head_group(optimizer, head, recipe.probe_lr, recipe.probe_lr, recipe.probe_weight_decay)
    batches = Batches(features, labels, recipe.batch_size, shuffle=True, seed=recipe.seed)
    schedule = WarmupCosine(optimizer, recipe.probe_epochs * len(batches),
                            int(recipe.warmup * recipe.probe_epochs * len(batches)))
    batches.on_batch = schedule.step
    with _one_thread():
        return [students.train_one_epoch(head, batches, optimizer, device) for _ in range(recipe.probe_epochs)]


@contextmanager
def _one_thread():
    """One intra-op thread for the head's small products: on two busy cores, a second thread
    waiting for its share makes each step ~20x slower (0.2 s vs 4 s per epoch, measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def accuracy(students: StudentFunctions, model: nn.Module, split: tuple[torch.Tensor, torch.Tensor],
             recipe: Recipe, device) -> float:
    """The students' evaluate on a split (centred photos; flips averaged when flip_test)."""
    x, y = split
    scored = FlipAverage(model) if recipe.flip_test else model
    return students.evaluate(scored, Batches(x, y, 128, image_size=recipe.image_size, channels_last=True), device)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def run_recipe(students: StudentFunctions, recipe: Recipe, data: dict, *, device=None, num_classes=None,
               log: Callable[[str], None] | None = None,
               make_backbone: Callable[[bool], nn.Module] | None = None) -> RecipeResult:
    """Train a fresh backbone with ``recipe``; data: {"train": (x, y), "val": (x, y)[, "test": ...]}.

    num_classes: default ``max(label) + 1`` of the training split (the data actually loaded).
    Accuracy is the students' ``evaluate``; the test split is scored only when present.
    make_backbone(pretrained): the network before ``replace_head`` (default: ``recipe.backbone``
    from ``backbones.load_backbone``).
    """
    if make_backbone is None:
        from shared_with_grader.backbones import load_backbone

        def make_backbone(pretrained):
            return load_backbone(recipe.backbone, pretrained=pretrained)

    device = device or default_device()
    x, y = data["train"]
    num_classes = num_classes or int(y.max()) + 1
    torch.manual_seed(recipe.seed)
    model = students.replace_head(make_backbone(recipe.pretrained), num_classes)
    model = model.to(device).to(memory_format=torch.channels_last)
    wall, cpu = time.perf_counter(), time.process_time()
    losses, trainable = [], 0
    if recipe.probe_epochs > 0:
        trainable = len(students.set_trainable(model, "top"))
        losses = fit_head(students, model, x, y, recipe, device)
        if log:
            log(f"  head fitted on features: loss {losses[-1]:.3f} ({time.perf_counter() - wall:.0f} s)")
    if recipe.flavour != "top" and recipe.epochs > 0:
        trainable = len(students.set_trainable(model, recipe.trained_flavour, k=recipe.k))
        optimizer = students.make_optimizer(model, recipe.lr)
        split_head_group(optimizer, head_of(model), recipe.lr, recipe.head_lr, recipe.weight_decay)
        batches = Batches(x, y, recipe.batch_size, image_size=recipe.image_size, augment=recipe.augment,
                          shuffle=True, seed=recipe.seed, channels_last=True)
        schedule = WarmupCosine(optimizer, recipe.epochs * len(batches), int(recipe.warmup * recipe.epochs * len(batches)))
        batches.on_batch = schedule.step
        losses = []
        for epoch in range(recipe.epochs):
            losses.append(students.train_one_epoch(model, batches, optimizer, device))
            if log:
                log(f"  epoch {epoch + 1}/{recipe.epochs}: loss {losses[-1]:.3f} ({time.perf_counter() - wall:.0f} s)")
    train_seconds, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    val = accuracy(students, model, data["val"], recipe, device)
    test = accuracy(students, model, data["test"], recipe, device) if "test" in data else None
    return RecipeResult(recipe, val, test, train_seconds, train_cpu, losses, trainable, num_classes)


def with_changes(recipe: Recipe, **changes) -> Recipe:
    """A copy of ``recipe`` with some fields changed (e.g. fewer epochs for a quick run)."""
    return replace(recipe, **changes)
