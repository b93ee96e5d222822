"""Writes assignments/a5_finetune/a5_finetune.ipynb (the stub notebook) from this script.

The notebook is generated so its cells stay reviewable as plain text:
    .venv/bin/python solutions/a5_finetune/tools/make_notebook.py
"""

from pathlib import Path

import nbformat

OUT = Path(__file__).resolve().parents[3] / "assignments" / "a5_finetune" / "a5_finetune.ipynb"
md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell

CELLS = [
    md("""# a5_finetune — transfer learning for the 102 flowers

**The main lesson of this part of the course: do not train a deep network from scratch.** Start from weights
that were learned on a very large dataset (here: ImageNet, 1.2 million photos of 1000 object classes) and adapt
them to your task. The exception is a task with hundreds of thousands of labelled examples of its own.

Our task: Oxford 102 Flowers, 102 kinds of flowers with only about ten training photos per class. A network with
millions of weights trained on ~1000 photos from random weights can only memorise them; the same network started
from ImageNet weights reaches useful accuracy within minutes.

| task | function | what it does |
|---|---|---|
| 1 | `replace_head(model, num_classes)` | swap the 1000-class output layer for a fresh `num_classes` one |
| 2 | `set_trainable(model, flavour, k=1)` | choose what is trained: `"all"`, `"top"` (head only) or `"top_k"` |
| 3 | `make_optimizer(model, lr)` | SGD with momentum over the trainable parameters only |
| 4 | `train_one_epoch(model, loader, optimizer, device)` | one pass over the data; frozen layers stay exactly as loaded |
| 5 | `evaluate(model, loader, device)` | top-1 accuracy, without changing the model |

Section 6 then compares the three flavours with training from scratch, with curves and a table.

**How this notebook is graded.** The grader runs your notebook's cells from top to bottom and then calls your five
functions on models and data of its own. Cells under `if __name__ == "__main__":` (the experiments) run for you in
Jupyter but not in the grader, so keep your functions outside such blocks and keep long computations inside them.
The folder `shared_with_grader/` next to this notebook holds the helpers it imports (pretrained backbones, the flower
photos); the grader imports the same modules from its own copy, so editing them changes nothing about your grade."""),
    code('import otter\ngrader = otter.Notebook("a5_finetune.ipynb")'),
    code("import torch\nimport torch.nn.functional as F\nfrom torch import nn"),
    md("""## 1. A new head on a pretrained network

**Why the weights below the head can be reused.** A CNN trained on ImageNet computes, layer by layer, features
of growing abstraction: the first layers respond to edges, colour contrasts and blobs, the middle ones to textures
and simple shapes (petal-like, striped, fuzzy), the top ones to parts of objects. Almost none of ImageNet's classes
are flowers, yet the low- and mid-level filters a flower classifier needs are very much the same ones. Learning
them well takes 100k+ images; loading them costs nothing, and they are a far better starting point for the
non-convex optimisation than random numbers.

**What cannot be reused: the last layer.** Its weight has shape `(1000, in_features)`, one row per ImageNet
class. Our problem has 102 classes, so this layer gets a new, randomly initialised `nn.Linear(in_features, 102)`.
Everything below it keeps the loaded values.

**Why loading stops at the first layer whose shape changed.** A layer's weights only mean something together with
the exact inputs they were trained on. If you change a layer (other shape, other kind of layer) its output changes,
so every layer *above* it receives inputs it has never seen; their loaded weights are no longer a good
initialisation. Loading therefore goes bottom-up, from the input up to the first layer that cannot be loaded, and
stops there. Changing the head is the cheap case: it is the very last layer, so nothing above it is lost.

In PyTorch the head is usually the last `nn.Linear` the model registers (`model.classifier` in DenseNet-121,
`model.classifier[3]` in MobileNet v3 whose classifier has *two* Linear layers, `model._fc` in our offline
EfficientNet-Lite0). Find it by walking `model.named_modules()` and replace it on its parent module with
`setattr(parent, attribute_name, new_layer)`."""),
    code('''def replace_head(model, num_classes):
    """Replace the model's last nn.Linear by a fresh one with num_classes outputs.

    The new layer has the same in_features as the old one (and a bias if the old one had
    one), lives on the same device and dtype, and is freshly initialised (nn.Linear's own
    default). Every other parameter and buffer (BatchNorm statistics too) stays exactly as
    loaded.

    model:       torch.nn.Module ending in an nn.Linear head (registered last)
    num_classes: int, the number of output classes (102 for the flowers)
    returns:     the same model object, changed in place; model(x) now has shape (N, num_classes)
    """
    raise NotImplementedError("a5_finetune task 'replace_head': implement replace_head")'''),
    code('grader.check("replace_head")'),
    md("""## 2. Three flavours of finetuning

After loading, you choose what gets trained:

- **`"all"`**: every layer is trained, starting from the loaded weights. With a few thousand images or more this
  is usually best (check on validation data).
- **`"top"`**: only the new head is trained; the pretrained network is a fixed feature extractor `h(x)` and the
  model is a linear classifier `f(x) = W h(x) + b` on top of it. Finetuning in the narrowest sense, and the winner
  when there is **very little data**: with ten photos per class, updating millions of pretrained weights mostly
  lets the network forget what it knew and memorise the training photos. Long training with too few samples
  destroys a good initialisation.
- **`"top_k"`**: the `k` top-most layers are trained, the rest is frozen; a compromise between the two.

A **layer** here is a module that owns parameters *directly* (`module.parameters(recurse=False)` is not empty),
in the order the model registers them; the head is the last one. So a `Conv2d` is one layer, the `BatchNorm2d`
after it another, and a `Linear`'s weight and bias together are one layer, not two.

Freezing a parameter means `p.requires_grad_(False)`: autograd computes no gradient for it and the optimizer
never changes it. Make `set_trainable` set *every* parameter, not only the ones it switches on, so that calling
it again with another flavour works."""),
    code('''def set_trainable(model, flavour, k=1):
    """Freeze or unfreeze parameters for a finetuning flavour.

    flavour: "all"   every parameter trainable
             "top"   only the head (the last parameterised layer) trainable
             "top_k" the k top-most parameterised layers trainable, head included (k >= 1)
    A layer is a module with parameters of its own (parameters(recurse=False) not empty),
    in registration order (model.named_modules()).

    Sets requires_grad on every parameter of the model.
    returns: sorted list of the names (as in model.named_parameters()) of the trainable parameters
    """
    raise NotImplementedError("a5_finetune task 'set_trainable': implement set_trainable")'''),
    code('grader.check("set_trainable")'),
    md("""## 3. An optimizer for the trainable parameters only

Give the optimizer only what should change: `[p for p in model.parameters() if p.requires_grad]`. Handing it all
parameters looks harmless (frozen ones have no gradient), but it hides bugs, costs memory for momentum buffers,
and weight decay or a later `requires_grad_(True)` would start changing the "frozen" weights. Use
`torch.optim.SGD` with momentum (0.9 is the usual choice)."""),
    code('''def make_optimizer(model, lr):
    """SGD with momentum (e.g. 0.9) over the parameters with requires_grad=True only.

    model:   torch.nn.Module, after set_trainable
    lr:      float, the learning rate of every parameter group
    returns: torch.optim.SGD holding exactly the trainable parameters, each once
    """
    raise NotImplementedError("a5_finetune task 'make_optimizer': implement make_optimizer")'''),
    code('grader.check("make_optimizer")'),
    md("""## 4. One training epoch, frozen layers untouched

The loop itself is the usual one: for each batch move `x` and `y` to `device`, zero the gradients, compute the
mean cross-entropy of `model(x)` against `y`, `backward()`, `step()`.

**The trap: BatchNorm.** `requires_grad_(False)` stops gradient updates, but a `BatchNorm` layer in train mode
also *overwrites its running mean and variance* with statistics of every batch it sees, gradient or not. After
an epoch in the "top" flavour the "frozen" network would no longer be the one you loaded, and with small batches
of a new dataset its statistics get noisy. So: `model.train()` for the parts that learn, and `.eval()` for every
BatchNorm layer whose parameters are all frozen. In the "all" flavour every BatchNorm layer trains normally.

Return the mean training loss of the epoch: the average over **samples** of the per-sample loss (weight each
batch's mean loss by its size)."""),
    code('''def train_one_epoch(model, loader, optimizer, device):
    """One pass over loader, minimising the mean cross-entropy.

    model:     torch.nn.Module (already on device, or moved there here)
    loader:    iterable of (x, y) batches: x (B, 3, H, W) float, y (B,) int64 class indices
    optimizer: from make_optimizer
    device:    "cpu", "cuda" or a torch.device; every batch is moved there
    Frozen layers stay exactly as loaded: BatchNorm layers whose parameters are all frozen
    run in eval mode, so their running statistics do not change.
    returns:   float, the mean training loss over the epoch's samples
    """
    raise NotImplementedError("a5_finetune task 'train_one_epoch': implement train_one_epoch")'''),
    code('grader.check("train_one_epoch")'),
    md("""## 5. Evaluation that changes nothing

Accuracy is measured with the model in **eval mode** (BatchNorm uses its running statistics and leaves them
alone; dropout is off) and **without autograd** (`torch.no_grad()`: no graph is built, which saves memory and
time). Afterwards put every module back into the mode it was in: `evaluate` must not change the model, not even
its train/eval flags. Count correct predictions over all samples and divide by the number of samples (the last
batch may be smaller)."""),
    code('''def evaluate(model, loader, device):
    """Top-1 accuracy of model on loader, without changing the model.

    model:   torch.nn.Module, in train or eval mode
    loader:  iterable of (x, y) batches: x (B, 3, H, W), y (B,) int64
    device:  where to compute
    Runs in eval mode under torch.no_grad(); restores every module's train/eval flag.
    returns: float in [0, 1], (number of samples whose argmax equals y) / (number of samples)
    """
    raise NotImplementedError("a5_finetune task 'evaluate': implement evaluate")'''),
    code('grader.check("evaluate")'),
    md("""## 6. Experiments: three flavours against training from scratch

Everything below runs only in Jupyter (`if __name__ == "__main__":`), never in the grader. It trains real networks
with **your five functions**; the file `recipe.py` next to this notebook adds what practitioners put around them:

- **LP-FT** (linear probe, then finetune): the new head is first fitted on features of the frozen network, computed
  once for a few views of every photo; only then are the chosen layers trained. A fitted head sends small, useful
  gradients into the pretrained layers instead of large random ones. The "top" flavour is that first step alone:
  with only the head trained and the photos fixed, the frozen network computes the same features `h(x)` every epoch,
  so computing them once makes each epoch a small matrix product instead of a pass through the whole CNN;
- **augmentation**: random resized crops and mirror images of every batch, so ten photos per class look like many;
- **a learning-rate schedule**: a short linear warm-up, then cosine decay to zero (stepped before every batch);
- **two learning rates**: the optimizer your `make_optimizer` returns is split into a group for the pretrained body
  and one for the head;
- **larger inputs** in the "full" setting: the 128-pixel photos upsampled to 160, closer to the 224 pixels the
  network was pretrained on.

**Where the photos come from** (the first that applies): the environment variable `AUTOGRADER_FLOWERS` (the folder
of the course's offline copy, holding `train/ val/ test/`); `DATA_PATH` below; the offline copy if it sits in a
folder above this one or in `data/flowers102-128`; a download of `torchvision.datasets.Flowers102` (needs internet
and `pip install scipy`; about 330 MB, made once into the same 128-pixel layout under `data/`); otherwise the cell
stops with a message saying what to do. `USE_EXCERPT = True` trains on the ten-class excerpt shipped in
`data/flowers102-mini` instead: a first look only, with its own chance level and expected accuracies.

**Settings.** `"quick"` (the default on a CPU): all four runs at 128 pixels with few epochs, under 5 minutes on two
CPU cores (about 3.5 minutes measured for the four runs). `"full"` (the default when PyTorch sees a GPU): the benchmark's recipes, about 10 minutes per flavour on
two CPU cores and far less on a GPU. Each run prints the accuracy the course's reference solution reaches with the
same setting and data, next to yours.

What to install: `pip install -r requirements.txt` (next to this notebook; the versions the course uses)."""),
    code('''if __name__ == "__main__":
    from shared_with_grader.flowers import find_flowers, load_split
    from recipe import SETTINGS, StudentFunctions, default_device, expected_accuracy, run_recipe

    DATA_PATH = None      # or the folder holding train/ val/ test/, e.g. "/data/flowers102-128"
    USE_EXCERPT = False   # True: the bundled ten-class excerpt (a first look; other accuracies)
    DEVICE = default_device()                          # "cuda" when PyTorch sees a GPU, else "cpu"
    SETTING = "full" if DEVICE == "cuda" else "quick"  # "quick": < 5 min on 2 CPU cores

    source = find_flowers(DATA_PATH, excerpt=USE_EXCERPT)
    data = {split: load_split(source.root, split, normalize=False) for split in ("train", "val")}
    print(f"{source.describe()}; train {len(data['train'][1])}, val {len(data['val'][1])} photos; "
          f"device {DEVICE}, setting {SETTING!r}")'''),
    code('''if __name__ == "__main__":
    students = StudentFunctions.from_namespace(globals())   # your five functions
    names = {"all": "all layers", "top": "top layer only", "top_k": "top 3 layers", "scratch": "from scratch (all layers)"}
    results = {}
    for flavour, recipe in SETTINGS[SETTING].items():
        print(f"{names[flavour]} ...")
        results[flavour] = run_recipe(students, recipe, data, device=DEVICE, log=print)'''),
    code('''if __name__ == "__main__":
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for flavour, r in results.items():
        ax_loss.plot(range(1, len(r.losses) + 1), r.losses, marker="o", label=names[flavour])
    ax_loss.set(xlabel="epoch (of the last phase)", ylabel="mean training loss", title="training loss")
    ax_loss.legend()
    flavours = list(results)
    ax_acc.bar([names[f] for f in flavours], [results[f].val_accuracy for f in flavours])
    ax_acc.axhline(source.chance, color="k", linestyle="--", label=f"chance (1/{source.num_classes})")
    ax_acc.set(ylabel="validation accuracy", ylim=(0, 1), title=f"validation accuracy, {source.num_classes} classes")
    ax_acc.tick_params(axis="x", rotation=20)
    ax_acc.legend()
    plt.tight_layout()
    plt.show()

    print(f"{'flavour':28s} {'trainable tensors':>17s} {'val accuracy':>12s} {'expected':>8s} {'seconds':>8s}")
    for flavour, r in results.items():
        expected = expected_accuracy(SETTING, flavour, source.num_classes)
        shown = f"{expected:8.2f}" if expected is not None else f"{'n/a':>8s}"
        print(f"{names[flavour]:28s} {r.trainable:17d} {r.val_accuracy:12.3f} {shown} {r.train_seconds:8.1f}")
    print(f"chance level: {source.chance:.3f}; 'expected': the reference solution, same setting and data")'''),
    md("""**Questions to answer for yourself.** Which flavour wins with ~9 photos per class, and why? How far is training
from scratch from chance level after the same number of epochs? Set `USE_EXCERPT = True` (ten classes, eight
photos each): does the gap between "top" and "all" grow or shrink as the task gets smaller? In `recipe.py`, switch
off one trick at a time (`probe_epochs=0`, `augment=None`, `warmup=0`) with `dataclasses.replace(recipe, ...)`:
which one matters most here?"""),
    md("""## 7. Submit

1. Restart the kernel and **run all cells** from top to bottom (*Kernel → Restart Kernel and Run All Cells*). Check that
   no cell raises an error (a `NotImplementedError` means that task is still unfinished) and that every
   `grader.check` passes.
2. Save the notebook.
3. Run the cell below. It saves the notebook and packs it into a **zip file** next to this notebook, and it shows a link
   to that file. Upload that zip, unchanged, as your submission. The course staff grade it with the autograder, which
   runs the hidden tests on the zip exactly as you exported it."""),
    code("grader.export(pdf=False, force_save=True)"),
]


def main(root=None):
    """root: write under this folder instead of the kit, at the same relative path (the
    freshness test, tests/assignments/test_generated_files.py, compares the two)."""
    out = OUT if root is None else Path(root) / OUT.relative_to(OUT.parents[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    nb.cells = CELLS
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating gives the same file
        cell.id = f"a5-cell-{i:02d}"
    nbformat.write(nb, out, version=4)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
