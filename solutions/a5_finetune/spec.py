"""a5_finetune: questions, points and every test case (public and hidden). HIDDEN.

Every case goes through a probe (``probes.py``): the student's functions act on PyTorch
models the probe builds from fixed seeds, and the probe returns raw observations (the
layers after the call, per-tensor digests of what must stay unchanged, the values of what
trained, the parameters an optimizer moved, the returned loss and accuracy). The grader
judges them: by equality with the same probe driving ``reference.py`` (the comparison of
``autograder.grading.evaluate``, with the tolerances below), or in ``checks.py``. Nothing the
sandbox sends is a verdict, so a forged record can only carry values that an honest run
computes (see ``probes.py``).

One property cannot be observed from data: that ``evaluate`` runs with autograd off
leaves no trace in any value, so the probe's record of it is the submission's to forge.
That case (``evaluate/tiny_no_autograd``) is worth 1 point of 52.

Mounts (read-only in the sandbox): ``flowers``, a view that holds only the training photos
of the short finetune (``autograder.course.data_views``; ``train/`` only: the validation
photos its check scores on stay in the grader, in ``GRADER_DATA``). The student-side modules
the probes import (``backbones``, ``flowers``, ``tv_compat``, ``photo_files``) are the
assignment's ``shared_with_grader`` package, which the course layer mounts by itself
(``autograder.course.shared_with_grader``). Which photos, and where they are, is decided by
that package's ``photo_files`` (the grader's own copy), the same rules the notebook uses.

Limits are larger than for the NumPy assignments (importing torch alone takes a second
and ~1 GiB of address space) and can be changed without editing this file, through
environment variables read when the assignment is loaded:

    AUTOGRADER_A5_CPU_SECONDS  AUTOGRADER_A5_WALL_SECONDS  AUTOGRADER_A5_LOAD_SECONDS
    AUTOGRADER_A5_CALL_SECONDS AUTOGRADER_A5_MEMORY_MIB    AUTOGRADER_FLOWERS (dataset folder)

Raw results are about 2 MB per submission (float32; the largest is the three trained top
layers of EfficientNet-Lite0), well inside the default ``Limits.result_bytes``.
"""

import os
from pathlib import Path

from autograder.course.cases import Case
from autograder.course.shared_with_grader import grader_module
from autograder.sandbox import Limits
from autograder.sandbox.limits import MiB

NAME = "a5_finetune"
TITLE = "a5_finetune: transfer learning for the 102 flowers (PyTorch)"
QUESTIONS = ("replace_head", "set_trainable", "make_optimizer", "train_one_epoch", "evaluate")

_ENV = "AUTOGRADER_A5_"
# Measured on 2 cores: the reference runs every case in about 25 s of CPU (the short
# finetune is most of it); the limits leave several times that for slower student code.
_DEFAULT_LIMITS = {"cpu_seconds": 300.0, "wall_seconds": 300.0, "load_seconds": 60.0,
                   "call_seconds": 120.0, "memory_mib": 6144}


def _limits_from_environment() -> Limits:
    values = {}
    for key, default in _DEFAULT_LIMITS.items():
        raw = os.environ.get(_ENV + key.upper())
        values[key] = float(raw) if raw else default
    memory = int(values.pop("memory_mib")) * MiB
    return Limits(memory_bytes=memory, tmp_bytes=256 * MiB, processes=64, open_files=256, **values)


LIMITS = _limits_from_environment()

_HERE = Path(__file__).resolve().parent


def _photos():
    """The shared photo lookup (``shared_with_grader/photo_files.py``, no torch): the grader's
    own copy, so the files chosen here are the ones ``flowers.load_split`` reads."""
    return grader_module(_HERE, "photo_files")


def _flowers_dir() -> Path | None:
    """``photo_files.grading_root``: $AUTOGRADER_FLOWERS (an error when it names no flowers
    folder), else shared/data/flowers102-128 above the kit, else the ten-class excerpt
    bundled with the assignment (the same photos for the ten classes graded)."""
    return _photos().grading_root()


def _view_files(root: Path, classes: int, per_class: int | None) -> list[tuple[str, Path]]:
    """(relative path, file) of the training photos ``load_split(root, "train", classes=...,
    per_class=...)`` reads, for a data view."""
    return [(path.relative_to(root).as_posix(), path)
            for path, _ in _photos().split_files(root, "train", classes, per_class)]


# The short finetune: 10 classes, 8 training photos each, 64 px, 3 epochs of the head;
# the grader scores the returned head on 10 validation photos per class. About a second
# on 2 CPU cores.
FINETUNE = {"classes": 10, "per_class": 8, "image_size": 64, "epochs": 3, "lr": 0.01}
VALIDATION_PER_CLASS = 10


def MOUNTS():
    """What the sandbox sees besides the shared modules: a view holding the training photos of
    the short finetune (never a validation photo)."""
    from autograder.course.data_views import materialise

    flowers = _flowers_dir()
    if flowers is None:
        return {}
    files = _view_files(flowers, FINETUNE["classes"], FINETUNE["per_class"])
    return {"flowers": str(materialise("a5-flowers-train", files))}


def GRADER_DATA():
    """Folders only the grader's checks read, never mounted: the flowers with their
    validation photos, on which checks.finetune_head_accuracy scores the returned head."""
    flowers = _flowers_dir()
    return {"flowers": str(flowers)} if flowers is not None else {}


_EXACT = {"rtol": 0.0, "atol": 0.0}
# float32 training: the same computation in two processes may differ in the last bits
# (thread scheduling of reductions); a wrong loss formula is off by far more.
_TRAINING = {"rtol": 1e-4, "atol": 1e-5}


def _c(question, name, description, probe, public=False, points=1.0, check=None, tol=_EXACT, **kwargs):
    """A probe case; ``kwargs`` are the probe's arguments."""
    return Case(question, name, description, (), kwargs, points=points, public=public, probe=probe,
                check=check, **tol)


def replace_head_cases():
    q = "replace_head"
    return [
        _c(q, "tiny_shape", "puts a num_classes-way Linear with the old in_features at the top of a small CNN",
           "replace_head_shape", public=True, model="tiny", num_classes=5),
        _c(q, "tiny_weights_kept", "leaves every weight and BatchNorm statistic below the head as it was",
           "replace_head_keeps_weights", public=True, model="tiny", num_classes=5),
        _c(q, "lite0_shape", "replaces the 1000-class head of the pretrained EfficientNet-Lite0",
           "replace_head_shape", points=2, model="efficientnet_lite0", num_classes=102),
        _c(q, "lite0_weights_kept", "keeps all pretrained EfficientNet-Lite0 weights below the head bit-identical",
           "replace_head_keeps_weights", points=2, model="efficientnet_lite0", num_classes=102),
        _c(q, "mobilenet_shape", "replaces the last Linear of MobileNet v3 (its classifier has two)",
           "replace_head_shape", points=2, model="mobilenet_v3_small", num_classes=102),
        _c(q, "densenet_shape", "replaces DenseNet-121's classifier",
           "replace_head_shape", model="densenet121", num_classes=102),
        _c(q, "densenet_weights_kept", "keeps DenseNet-121's weights below the head bit-identical",
           "replace_head_keeps_weights", model="densenet121", num_classes=102),
    ]


def set_trainable_cases():
    q = "set_trainable"
    probe = "trainable_flags"
    return [
        _c(q, "tiny_top", "'top' makes only the head trainable and returns its sorted names",
           probe, public=True, model="tiny", calls="top:1"),
        _c(q, "tiny_all", "'all' makes every parameter trainable", probe, public=True, model="tiny", calls="all:1"),
        _c(q, "tiny_top_k2", "'top_k' with k=2 trains the two top-most parameterised layers",
           probe, public=True, model="tiny", calls="top_k:2"),
        _c(q, "tiny_top_k3", "'top_k' counts layers (modules that own parameters), not parameter tensors",
           probe, model="tiny", calls="top_k:3", points=2),
        _c(q, "tiny_top_after_all", "'top' after 'all' freezes what 'all' had unfrozen",
           probe, model="tiny", calls="all:1,top:1", points=2),
        _c(q, "tiny_all_after_top", "'all' after 'top' unfreezes everything again",
           probe, model="tiny", calls="top:1,all:1"),
        _c(q, "lite0_top", "'top' on EfficientNet-Lite0 trains only its head", probe,
           model="efficientnet_lite0", calls="top:1"),
        _c(q, "lite0_top_k5", "'top_k' with k=5 on EfficientNet-Lite0 (BatchNorm layers count as layers)",
           probe, model="efficientnet_lite0", calls="top_k:5", points=2),
        _c(q, "mobilenet_top_k4", "'top_k' with k=4 on MobileNet v3 follows registration order",
           probe, model="mobilenet_v3_small", calls="top_k:4", points=2),
        _c(q, "densenet_top_k2", "'top_k' with k=2 on DenseNet-121", probe, model="densenet121", calls="top_k:2"),
    ]


def make_optimizer_cases():
    q = "make_optimizer"
    holds, steps = "optimizer_parameters", "optimizer_steps"
    return [
        _c(q, "tiny_head_only", "holds exactly the trainable parameters (head only), each once, lr as given",
           holds, public=True, model="tiny", trainable_layers=1, lr=0.01),
        _c(q, "tiny_top3", "holds exactly the parameters of the three trainable layers",
           holds, model="tiny", trainable_layers=3, lr=0.05),
        _c(q, "lite0_top4", "on EfficientNet-Lite0: no frozen parameter in the optimizer",
           holds, model="efficientnet_lite0", trainable_layers=4, lr=0.001),
        _c(q, "tiny_all", "holds every parameter once when all are trainable",
           holds, model="tiny", trainable_layers=100, lr=0.1),
        _c(q, "tiny_sgd_momentum", "is a torch.optim.SGD with momentum: stepping it moves the trainable "
           "parameters by lr x (2 + momentum) x gradient over two steps, and nothing else",
           steps, points=2, check="optimizer_is_sgd_with_momentum", model="tiny", trainable_layers=2, lr=0.05),
    ]


def train_one_epoch_cases():
    q = "train_one_epoch"
    frozen = "epoch_frozen_state"
    return [
        _c(q, "tiny_top_frozen", "'top' flavour: every frozen tensor, BatchNorm statistics included, "
           "is bit-identical after an epoch, and the head trains as in the reference", frozen,
           public=True, model="tiny", trainable_layers=1, batches=3, tol=_TRAINING),
        _c(q, "lite0_top_frozen", "EfficientNet-Lite0, head only: the whole pretrained body is bit-identical "
           "after an epoch (BatchNorm running statistics included) and the head trains as in the reference",
           frozen, points=3, model="efficientnet_lite0", trainable_layers=1, batches=2, tol=_TRAINING),
        _c(q, "lite0_top_k3_frozen", "three top-most layers trainable: they train, everything below "
           "stays exactly as loaded", frozen, points=2,
           model="efficientnet_lite0", trainable_layers=3, batches=2, tol=_TRAINING),
        _c(q, "tiny_all_trains", "'all' flavour: every parameter and BatchNorm statistic is updated",
           frozen, model="tiny", trainable_layers=0, batches=2, tol=_TRAINING),
        _c(q, "tiny_loss_top", "returns the mean training loss of the epoch and steps with fresh gradients",
           "epoch_loss", public=True, model="tiny", trainable_layers=1, batches=4, tol=_TRAINING),
        _c(q, "tiny_loss_all", "returns the mean loss and trains correctly with every layer trainable",
           "epoch_loss", points=2, model="tiny", trainable_layers=0, batches=4, tol=_TRAINING),
        _c(q, "short_finetune", "finetuning the pretrained network's head on real flowers for a few epochs "
           "reaches an accuracy near the reference's, far above chance (the grader scores the head on "
           "photos your code never sees)", "short_finetune",
           points=4, check="finetune_head_accuracy", **FINETUNE),
    ]


def evaluate_cases():
    q = "evaluate"
    probe = "evaluate_probe"
    return [
        _c(q, "tiny_eval_mode", "gives the top-1 accuracy and changes nothing (model in eval mode)",
           probe, public=True, model="tiny", train_mode=0, batches=3, batch_size=8),
        _c(q, "tiny_train_mode", "uses running statistics and no dropout even when handed a model in train "
           "mode, and leaves weights, statistics, gradients and train/eval flags as they were",
           probe, points=2, model="tiny", train_mode=1, batches=3, batch_size=8, tol=_TRAINING),
        _c(q, "tiny_uneven_batches", "averages over samples, not batches (a large batch, then a small one)",
           probe, points=2, model="tiny", train_mode=0, batches=1, batch_size=13),
        _c(q, "lite0_train_mode", "on EfficientNet-Lite0 handed over in train mode: changes nothing",
           probe, points=2, model="efficientnet_lite0", train_mode=1, batches=2, batch_size=6, tol=_TRAINING),
        # Not observable from data (see the module doc): 1 point.
        _c(q, "tiny_no_autograd", "runs the forward passes without autograd (torch.no_grad or "
           "torch.inference_mode)", "evaluate_autograd", model="tiny", batches=2, batch_size=8),
    ]


def make_cases():
    return (replace_head_cases() + set_trainable_cases() + make_optimizer_cases()
            + train_one_epoch_cases() + evaluate_cases())



# ---------------------------------------------------------------- GPU stage (autograder.grading.gpu_stage)
#
# `autograder grade a5_finetune ... --gpu` adds these cases: a real finetune of the
# submission, on a GPU, inside the same sandbox as every case above (plus the GPU's device
# nodes and driver libraries, ``autograder.sandbox.gpu``). The probe (``probes.gpu_finetune``)
# drives all five student functions with the fixed recipe below on the TRAINING photos (the
# only split mounted) and returns the trained tensors; the grader loads them into the
# reference architecture and scores them on the validation photos, which never enter the
# sandbox (``checks.gpu_finetune_accuracy``). One sandboxed run per case, so the grader
# measures each case's time itself.
#
# ``--gpu-dry-run`` runs the same stage on the CPU with GPU_DRY_RUN_RECIPE (a tiny recipe)
# to test the plumbing on a machine without a GPU; its thresholds only say "far above chance".

GPU_FLAVOURS = {"gpu_top": ("top", 1), "gpu_top_k": ("top_k", 3), "gpu_all": ("all", 1)}
GPU_POINTS = 2.0  # per flavour; 6 points in all, excluded from the total under --gpu-missing=skip
GPU_RECIPE = {"classes": 102, "per_class": 0, "image_size": 128, "batch_size": 32, "lr": 0.01,
              "epochs": {"top": 10, "top_k": 10, "all": 6}, "device": "cuda"}  # per_class 0: every photo
GPU_DRY_RUN_RECIPE = {"classes": 10, "per_class": 8, "image_size": 64, "batch_size": 16, "lr": 0.01,
                      "epochs": {"top": 3, "top_k": 3, "all": 2}, "device": "cpu"}
GPU_VALIDATION_PER_CLASS = {"gpu": 0, "dry_run": VALIDATION_PER_CLASS}  # 0: every validation photo

# Thresholds: the reference's own accuracy on the validation photos minus a margin.
# PROVISIONAL: no GPU has run the recipe yet. "top" and "top_k" come from CPU runs of this
# exact recipe (benchmarks/gpu_recipe_cpu.py: every layer below _conv_head is frozen in both,
# so their block outputs are computed once and the rest trains with the reference's functions
# in the recipe's batches; 2 cores, 2026-12-01): "top" 0.737, "top_k" 0.723 on the 921
# validation photos. "all" trains the body too (about 13 minutes on 2 cores, not run here):
# 0.42 at 64 px after 5 epochs (bench_finetune.py) is all that was measured, 0.50 at 128 px
# after 6 is a guess. The margin (0.15) covers seeds, float rounding between CPU and GPU, and
# honest variants (0.62-0.76 over seeds and learning rates in the short finetune).
# benchmarks/gpu_check.sh prints the reference's GPU accuracy per flavour: put it in
# GPU_REFERENCE_ACCURACY and set GPU_THRESHOLDS_PROVISIONAL to False.
GPU_THRESHOLDS_PROVISIONAL = True
GPU_REFERENCE_ACCURACY = {"top": 0.737, "top_k": 0.723, "all": 0.50}
GPU_MARGIN = 0.15
# Dry run (10 classes, chance 0.10): 3 x chance, like the short finetune's floor.
GPU_DRY_RUN_MIN_ACCURACY = 0.30
# Seconds per case, measured by the grader around the whole sandboxed run (start, import of
# torch, CUDA's start, the finetune, the results). PROVISIONAL too: a GPU is expected to need
# well under a minute; a CPU run of the same recipe takes tens of minutes, so the budget
# also tells a run that never used the GPU from one that did.
GPU_TIME_BUDGET_SECONDS = {"gpu": 180.0, "dry_run": 240.0}

GiB = 1024 * MiB
GPU_LIMITS = Limits(cpu_seconds=900.0, wall_seconds=300.0, load_seconds=60.0, call_seconds=290.0,
                    memory_bytes=16 * GiB, address_space_bytes=1024 * GiB, tmp_bytes=256 * MiB,
                    processes=256, open_files=1024, result_bytes=48 * MiB)


def gpu_min_accuracy(flavour: str, dry_run: bool) -> float:
    """The accuracy a GPU case must reach on the held-back photos."""
    if dry_run:
        return GPU_DRY_RUN_MIN_ACCURACY
    return round(GPU_REFERENCE_ACCURACY[flavour] - GPU_MARGIN, 4)


def gpu_cases(dry_run: bool = False):
    """The GPU stage's cases (one sandboxed run each); same names in both recipes."""
    recipe = GPU_DRY_RUN_RECIPE if dry_run else GPU_RECIPE
    cases = []
    for name, (flavour, k) in GPU_FLAVOURS.items():
        kwargs = {key: value for key, value in recipe.items() if key != "epochs"}
        kwargs.update(flavour=flavour, k=k, epochs=recipe["epochs"][flavour])
        what = {"top": "only the new head", "top_k": f"the {k} top-most layers", "all": "every layer"}[flavour]
        cases.append(_c("train_one_epoch", name,
                        f"on a GPU, finetuning {what} ('{flavour}') with your five functions reaches an "
                        "accuracy near the reference's on photos your code never sees, keeps the model "
                        "and batches on the GPU, and finishes within the time budget",
                        "gpu_finetune", points=GPU_POINTS, check="gpu_finetune_accuracy", **kwargs))
    return cases


def gpu_data_problem(dry_run: bool = False) -> str | None:
    """Why the GPU recipe cannot run on this machine's photos (None: it can)."""
    recipe = GPU_DRY_RUN_RECIPE if dry_run else GPU_RECIPE
    flowers = _flowers_dir()
    if flowers is None or not (flowers / "val").is_dir():
        return "no flowers photos with a val/ split (set AUTOGRADER_FLOWERS)"
    found = len(_photos().class_folders(flowers, "train"))
    if found < recipe["classes"]:
        return (f"the flowers copy at {flowers} has {found} classes; the GPU recipe needs "
                f"{recipe['classes']} (the full offline copy, flowers102-128)")
    return None


def GPU_MOUNTS(dry_run: bool = False):
    """What the GPU stage's sandbox sees besides the shared modules: the training photos of
    its recipe (never a validation photo)."""
    from autograder.course.data_views import materialise

    recipe = GPU_DRY_RUN_RECIPE if dry_run else GPU_RECIPE
    files = _view_files(_flowers_dir(), recipe["classes"], recipe["per_class"] or None)  # 0: every photo
    return {"flowers": str(materialise("a5-flowers-gpu-train", files))}
