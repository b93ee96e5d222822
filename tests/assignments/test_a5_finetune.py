"""a5_finetune's own tests (the shared invariants, reference full marks, stub zero and each
mistake losing points on its function only among them, are in tests/assignments/test_invariants.py): the
kit's own modules (torchvision workaround, backbones, flowers), the reference in the grader's
process, and the grader-side checks of the finetune and the optimizer."""

from __future__ import annotations

import sys

import pytest

torch = pytest.importorskip("torch")

from autograder.course.assignment import load_assignment  # noqa: E402
from autograder.kit_folders import ASSIGNMENTS_DIR, SOLUTIONS_DIR  # noqa: E402

sys.path.insert(0, str(ASSIGNMENTS_DIR / "a5_finetune"))  # as Jupyter has the notebook's folder

from shared_with_grader import backbones, flowers, photo_files  # noqa: E402
from shared_with_grader.tv_compat import import_torchvision  # noqa: E402

A5 = load_assignment("a5_finetune")
FLOWERS = flowers.find_offline_root()
needs_flowers = pytest.mark.skipif(
    FLOWERS is None, reason="offline flowers not found: set AUTOGRADER_FLOWERS to the flowers102-128 folder")


@pytest.fixture(scope="module")
def ref():
    return A5.reference


# ------------------------------------------------------------------ student-side modules

def test_torchvision_imports_and_builds_models_transforms_datasets():
    tv = import_torchvision()
    assert hasattr(tv.models, "mobilenet_v3_small") and hasattr(tv.datasets, "Flowers102")
    model = tv.models.mobilenet_v3_small(weights=None).eval()
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 1000)
    assert import_torchvision() is tv


def test_lite0_loads_imagenet_weights_and_ends_in_a_1000_class_linear():
    model = backbones.load_backbone("efficientnet_lite0")
    layers = [m for m in model.modules() if next(m.parameters(recurse=False), None) is not None]
    assert layers[-1] is model._fc and model._fc.out_features == 1000
    random = backbones.load_backbone("efficientnet_lite0", pretrained=False)
    assert not torch.equal(model._conv_stem.weight, random._conv_stem.weight)


def test_local_weights_file_is_loaded(tmp_path):
    source = backbones.load_backbone("mobilenet_v3_small", pretrained=False)
    torch.save(source.state_dict(), tmp_path / "w.pth")
    loaded = backbones.load_backbone("mobilenet_v3_small", weights=tmp_path / "w.pth")
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), loaded.state_dict().values(),
                                                  strict=True))


def test_unknown_backbone_is_refused():
    with pytest.raises(ValueError, match="unknown backbone"):
        backbones.load_backbone("resnet9000")


@needs_flowers
def test_lite0_recognises_daisies_from_imagenet():
    # ImageNet class 985 is "daisy": the offline weights and the port must be right for this.
    names = flowers.class_folders(FLOWERS)
    x, y = flowers.load_split(FLOWERS, "train", 128)
    daisies = x[y == names.index("049")][:6]  # oxeye daisy
    model = backbones.load_backbone("efficientnet_lite0").eval()
    with torch.no_grad():
        predicted = model(daisies).argmax(1)
    assert (predicted == 985).sum() >= 5


@needs_flowers
def test_offline_flowers_split_and_subsets():
    x, y = flowers.load_split(FLOWERS, "val", 32, classes=4, per_class=3)
    assert x.shape == (12, 3, 32, 32) and x.dtype == torch.float32
    assert y.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert len(flowers.class_folders(FLOWERS, "train")) == flowers.NUM_CLASSES


@needs_flowers
def test_torchvision_image_folder_datasets():
    splits = flowers.flower_datasets(source="offline", image_size=48, augment=True)
    image, label = splits["train"][0]
    assert image.shape == (3, 48, 48) and label == 0
    assert len(splits["test"]) > len(splits["train"])


@needs_flowers
def test_bundled_excerpt_gives_the_grader_the_same_photos_as_the_full_copy():
    excerpt = flowers.bundled_excerpt()
    for split, per_class in (("train", 8), ("val", 10)):
        x_full, y_full = flowers.load_split(FLOWERS, split, 32, classes=10, per_class=per_class)
        x_mini, y_mini = flowers.load_split(excerpt, split, 32, classes=10, per_class=per_class)
        assert torch.equal(x_full, x_mini) and torch.equal(y_full, y_mini)


def test_grading_falls_back_to_the_bundled_excerpt_without_the_full_copy(monkeypatch):
    monkeypatch.delenv(flowers.ENV_VAR, raising=False)
    module = A5.spec
    monkeypatch.setattr(module._photos(), "kit_copy", lambda: None)  # as on a bare clone
    assert module.GRADER_DATA()["flowers"] == str(flowers.bundled_excerpt())
    view = module.MOUNTS()["flowers"]
    x_view, y_view = flowers.load_split(view, "train", 32, classes=10, per_class=8)
    x_mini, y_mini = flowers.load_split(flowers.bundled_excerpt(), "train", 32, classes=10, per_class=8)
    assert torch.equal(x_view, x_mini) and torch.equal(y_view, y_mini)


def test_the_grader_refuses_an_environment_variable_naming_no_flowers_folder(monkeypatch, tmp_path):
    """A typo in $AUTOGRADER_FLOWERS stops the grader with the variable and the path named;
    it never grades on the ten-class excerpt instead (the notebook's rule is friendlier)."""
    monkeypatch.setenv(flowers.ENV_VAR, str(tmp_path / "flowers102-182"))
    with pytest.raises(FileNotFoundError) as error:  # the command line reports it in one line
        load_assignment("a5_finetune")
    assert type(error.value).__name__ == photo_files.FlowersFolderError.__name__  # the grader's copy's
    assert flowers.ENV_VAR in str(error.value) and str(tmp_path / "flowers102-182") in str(error.value)


def test_finding_the_grading_photos_needs_neither_torch_nor_numpy():
    """The grader's spec chooses its files with the shared photo_files module alone."""
    import subprocess

    code = ("import sys\nfrom autograder.course.shared_with_grader import grader_module\n"
            "photos = grader_module(sys.argv[1], 'photo_files')\n"
            "files = photos.split_files(photos.grading_root(), 'train', 10, 8)\n"
            "print(len({label for _, label in files}), sorted({'torch', 'numpy'} & set(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code, str(A5.hidden_dir)], capture_output=True, text=True,
                          cwd=ASSIGNMENTS_DIR.parent, check=True)
    assert done.stdout.split() == ["10", "[]"], done.stdout + done.stderr


def _files(folder):
    from pathlib import Path

    return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_file())


def test_the_sandbox_sees_training_photos_and_modules_only():
    """Never mount what a check scores on: the flowers mount is a view with train/ only
    (the photos the short finetune trains on), the shared_with_grader mount holds the
    student-side modules and no data; the validation photos stay in the grader's checks."""
    mounts = dict(A5.mounts)
    assert _files(mounts["shared_with_grader"]) == [f"shared_with_grader/{name}.py" for name in (
        "__init__", "backbones", "flowers", "photo_files", "tv_compat")]
    assert A5.import_paths == ("shared_with_grader",)
    photos = _files(mounts["flowers"])
    assert photos and all(p.startswith("train/") for p in photos), photos[:3]
    held_out = A5.checks.DATA["flowers"]
    _, y_used = flowers.load_split(held_out, "train", 8, classes=10, per_class=8)
    assert len(photos) == len(y_used)  # exactly the photos the short finetune trains on
    assert (__import__("pathlib").Path(held_out) / "val").is_dir()
    assert not any("val" in part for p in photos for part in p.split("/")[:-1])


def test_flowers_env_var_pointing_nowhere_finds_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv(flowers.ENV_VAR, str(tmp_path))
    assert flowers.find_offline_root() is None
    with pytest.raises(FileNotFoundError, match=flowers.ENV_VAR):
        flowers.require_offline_root()


# ------------------------------------------------------------------ reference, in process

def test_reference_top_epoch_keeps_every_frozen_tensor(ref):
    model = ref.replace_head(backbones.load_backbone("efficientnet_lite0"), 7)
    names = ref.set_trainable(model, "top")
    assert names == ["_fc.bias", "_fc.weight"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [(torch.randn(4, 3, 32, 32), torch.randint(0, 7, (4,))) for _ in range(2)]
    ref.train_one_epoch(model, batches, ref.make_optimizer(model, 0.1), "cpu")
    changed = {k for k, v in model.state_dict().items() if not torch.equal(before[k], v)}
    assert changed == {"_fc.weight", "_fc.bias"}


def test_reference_top_k_counts_layers(ref):
    model = backbones.load_backbone("efficientnet_lite0")
    assert ref.set_trainable(model, "top_k", k=3) == ["_bn1.bias", "_bn1.weight", "_conv_head.weight",
                                                      "_fc.bias", "_fc.weight"]
    with pytest.raises(ValueError):
        ref.set_trainable(model, "bottom")


# ------------------------------------------------------------------ the grader-side checks

def test_finetune_check_scores_the_returned_head_itself():
    """The accuracy is computed in the grader from the head the run returns: the
    reference's head passes; an untrained (zero) head or a much weaker one fails; a
    malformed record is a problem sentence, never an exception."""
    import numpy as np

    checks = A5.checks
    case = next(c for c in A5.cases if c.name == "short_finetune")
    expected = A5.expected[case.case_id]
    weight, bias = expected
    assert weight.dtype == np.float32 and weight.shape == (10, 1280)
    assert checks.finetune_head_accuracy(case, expected, expected) is None
    zero = (np.zeros_like(weight), np.zeros_like(bias))
    assert "accuracy" in checks.finetune_head_accuracy(case, zero, expected)
    noisy = (weight + np.random.default_rng(0).normal(0, 1, weight.shape).astype(np.float32), bias)
    assert "accuracy" in checks.finetune_head_accuracy(case, noisy, expected)
    for forged in [(np.float64(1.0),), (np.zeros(3), np.zeros(2)), (weight[None], bias), (weight * np.nan, bias)]:
        assert isinstance(checks.finetune_head_accuracy(case, forged, expected), str)
    accuracy = checks.head_accuracy(weight, bias, 10, int(case.kwargs["image_size"]))
    assert accuracy >= checks.MIN_TIMES_CHANCE / 10 + 0.2


def test_optimizer_check_reads_membership_lr_and_momentum_off_the_steps():
    import numpy as np

    case = next(c for c in A5.cases if c.name == "tiny_sgd_momentum")
    expected = A5.expected[case.case_id]
    judge = A5.checks.optimizer_is_sgd_with_momentum
    assert judge(case, expected, expected) is None
    chain, momenta, moved, norms = expected
    frozen = moved == 0
    assert frozen.any() and (~frozen).any()
    no_momentum = np.where(frozen, 0.0, moved * 2.0 / 2.9)
    assert "momentum" in judge(case, (chain, momenta, no_momentum, norms), expected)
    holds_frozen = np.where(frozen, -1.0, moved)
    assert "frozen" in judge(case, (chain, momenta, holds_frozen, norms), expected)
    adam = np.frombuffer(b"torch.optim.adam.Adam", dtype=np.uint8)
    assert "SGD" in judge(case, (adam, momenta, moved, norms), expected)
    assert "momentum" in judge(case, (chain, np.zeros(2), moved, norms), expected)
    assert isinstance(judge(case, (chain, momenta, moved[:1], norms), expected), str)


def test_limits_can_be_raised_from_the_environment(monkeypatch):
    import importlib.util

    monkeypatch.setenv("AUTOGRADER_A5_WALL_SECONDS", "900")
    monkeypatch.setenv("AUTOGRADER_A5_MEMORY_MIB", "8192")
    spec = importlib.util.spec_from_file_location("a5_spec_env", SOLUTIONS_DIR / "a5_finetune" / "spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.LIMITS.wall_seconds == 900 and module.LIMITS.memory_bytes == 8192 * 1024 * 1024
    assert A5.limits.memory_bytes > 1024 * 1024 * 1024  # larger than the NumPy assignments'
