"""a5_finetune probes: drive the student's PyTorch functions, return plain arrays. HIDDEN.

Runs inside the sandbox with the submission's functions (``fns``) and in the grader with
the reference's (for the expected values). Standalone: stdlib, numpy, torch; the kit's
student-side modules (``backbones``, ``flowers``, ``tv_compat``) are imported from the
read-only ``support`` mount (``DATA["support"]``, the assignment's student folder) and the
flowers from the ``flowers`` mount. Never imports ``autograder``.

Every probe builds its own models and data from fixed seeds, and where it is not the
function under test it does the set-up itself (e.g. sets ``requires_grad`` directly rather
than through the student's ``set_trainable``), so one wrong function costs points once.
Results are untrusted: the grader compares them with the reference's or judges them in
``checks.py``.
"""

import os
import sys

import numpy as np
import torch
from torch import nn

DATA = {}  # set by the runner (sandbox) or the grader: {"flowers": dir, "support": dir}

SEED = 0
LR = 0.01


def _support():
    """Make the student-side modules importable (the support mount, or the student folder)."""
    folder = DATA.get("support")
    if folder is None:  # public self-check: tests/probes.py sits in the student folder
        folder = os.path.dirname(os.path.dirname(os.path.abspath(globals().get("__file__", "."))))
    if folder not in sys.path:
        sys.path.insert(0, folder)


class TinyNet(nn.Module):
    """A small stand-in for a pretrained CNN: conv + BatchNorm body, a two-Linear classifier
    (like MobileNet v3's), so "the last Linear" and "the first Linear" differ."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.classifier = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.2),
                                        nn.Linear(32, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def _model(name):
    """A freshly built model, same weights on every call (seeded)."""
    torch.manual_seed(SEED)
    if name == "tiny":
        model = TinyNet()
    elif name == "efficientnet_lite0":
        _support()
        from backbones import load_backbone
        model = load_backbone("efficientnet_lite0")
    elif name in ("mobilenet_v3_small", "densenet121"):
        _support()
        from backbones import load_backbone
        model = load_backbone(name, pretrained=False)
    else:
        raise ValueError(name)
    # A model "as loaded" has non-trivial BatchNorm statistics.
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._NormBase):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return model


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _identical(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


def _random_batches(n_batches, batch, classes, size=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, 3, size, size, generator=g), torch.randint(0, classes, (batch,), generator=g))
            for _ in range(n_batches)]


def _freeze_all_but(model, trainable_modules):
    ids = {id(m) for m in trainable_modules}
    for m in model.modules():
        for p in m.parameters(recurse=False):
            p.requires_grad_(id(m) in ids)


def _layers(model):
    return [m for m in model.modules() if next(m.parameters(recurse=False), None) is not None]


def _head(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


# ---------------------------------------------------------------- replace_head

def replace_head_shape(fns, model, num_classes):
    """[returned the same object, in_features, out_features, has bias, number of Linear layers,
    the head is the last parameterised layer, the forward pass gives (2, num_classes)]."""
    net = _model(model)
    n_linear = sum(isinstance(m, nn.Linear) for m in net.modules())
    out = fns["replace_head"](net, num_classes)
    head = _head(net)
    size = 64 if model != "tiny" else 16
    net.eval()
    with torch.no_grad():
        logits = net(torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2)))
    return np.array([out is net, head.in_features, head.out_features, head.bias is not None,
                     sum(isinstance(m, nn.Linear) for m in net.modules()) - n_linear,
                     _layers(net)[-1] is head, *logits.shape], dtype=np.int64)


def replace_head_keeps_weights(fns, model, num_classes):
    """(per state entry below the head: 1 if bit-identical after replace_head,
    number of entries that disappeared, 1 if the new head differs from a zero init)."""
    net = _model(model)
    old_head = _head(net)
    head_names = {n for n, m in net.named_modules() if m is old_head}
    before = _snapshot(net)
    fns["replace_head"](net, num_classes)
    after = net.state_dict()
    body = [k for k in before if k.rsplit(".", 1)[0] not in head_names]
    same = np.array([k in after and _identical(before[k], after[k]) for k in body], dtype=np.int64)
    missing = sum(k not in after for k in body)
    fresh = float(_head(net).weight.detach().abs().sum()) > 0
    return same, np.int64(missing), np.int64(fresh)


# ---------------------------------------------------------------- set_trainable

def trainable_flags(fns, model, calls):
    """Call set_trainable once per (flavour, k) in ``calls`` ("top:1,all:1" ...); after the
    last: (requires_grad per parameter in registration order, 1 if the returned names are
    exactly the sorted trainable names)."""
    net = _model(model)
    names = None
    for item in calls.split(","):
        flavour, k = item.split(":")
        names = fns["set_trainable"](net, flavour, k=int(k))
    flags = np.array([p.requires_grad for _, p in net.named_parameters()], dtype=np.int64)
    expected_names = sorted(n for n, p in net.named_parameters() if p.requires_grad)
    consistent = isinstance(names, (list, tuple)) and list(names) == expected_names
    return flags, np.int64(consistent)


# ---------------------------------------------------------------- make_optimizer

def optimizer_parameters(fns, model, trainable_layers, lr):
    """The top ``trainable_layers`` layers trainable (set here, not by the student): (per
    parameter: 1 if in the optimizer, [is SGD, momentum > 0, every group's lr == lr,
    duplicates])."""
    net = _model(model)
    _freeze_all_but(net, _layers(net)[-int(trainable_layers):])
    opt = fns["make_optimizer"](net, lr)
    held = [p for group in opt.param_groups for p in group["params"]]
    ids = {id(p) for p in held}
    inside = np.array([id(p) in ids for p in net.parameters()], dtype=np.int64)
    groups = opt.param_groups
    facts = [isinstance(opt, torch.optim.SGD),
             all(float(g.get("momentum", 0.0)) > 0 for g in groups),
             all(abs(float(g["lr"]) - lr) <= 1e-12 * max(1.0, lr) for g in groups),
             len(held) - len(ids)]
    return inside, np.array(facts, dtype=np.int64)


# ---------------------------------------------------------------- train_one_epoch

def _setup_training(model, trainable_layers, classes=10):
    net = _model(model)
    if model != "tiny":
        torch.manual_seed(SEED + 1)
        old = _head(net)
        parent_name, _, attr = [n for n, m in net.named_modules() if m is old][0].rpartition(".")
        setattr(net.get_submodule(parent_name) if parent_name else net, attr,
                nn.Linear(old.in_features, classes))
    layers = _layers(net)
    _freeze_all_but(net, layers if trainable_layers == 0 else layers[-int(trainable_layers):])
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=LR, momentum=0.9)
    return net, opt


def epoch_frozen_state(fns, model, trainable_layers, batches):
    """Train one epoch with only the top ``trainable_layers`` layers trainable (0: all).

    Returns (per state entry of a frozen layer: 1 if bit-identical afterwards (weights and
    BatchNorm running statistics), per trainable parameter: 1 if it changed,
    per BatchNorm layer that is trainable: 1 if its running mean changed)."""
    net, opt = _setup_training(model, trainable_layers)
    size = 16 if model == "tiny" else 32
    before = _snapshot(net)
    frozen_modules = [m for m in _layers(net) if not any(p.requires_grad for p in m.parameters(recurse=False))]
    frozen_keys = [f"{n}.{k}" if n else k for n, m in net.named_modules() if m in frozen_modules
                   for k in list(m.state_dict(keep_vars=True)) if "." not in k]
    fns["train_one_epoch"](net, _random_batches(int(batches), 8, 10, size), opt, "cpu")
    after = net.state_dict()
    frozen = np.array([_identical(before[k], after[k]) for k in frozen_keys], dtype=np.int64)
    trained = np.array([not torch.equal(before[n], p.detach()) for n, p in net.named_parameters()
                        if p.requires_grad], dtype=np.int64)
    bn_trained = np.array([not torch.equal(before[f"{n}.running_mean"], m.running_mean)
                           for n, m in net.named_modules()
                           if isinstance(m, nn.modules.batchnorm._NormBase) and m.weight.requires_grad],
                          dtype=np.int64)
    return frozen, trained, bn_trained


def epoch_loss(fns, model, trainable_layers, batches):
    """The mean training loss train_one_epoch returns (equal-size batches), and the
    sum of the trainable weights afterwards (did each step use the right gradient?)."""
    net, opt = _setup_training(model, trainable_layers)
    size = 16 if model == "tiny" else 32
    loss = fns["train_one_epoch"](net, _random_batches(int(batches), 8, 10, size, seed=3), opt, "cpu")
    weights = sum(float(p.detach().double().sum()) for p in net.parameters() if p.requires_grad)
    return np.float64(float(loss)), np.float64(weights)


# ---------------------------------------------------------------- evaluate

class _GradSpy(nn.Module):
    """Records whether autograd was on during each forward pass."""

    def __init__(self):
        super().__init__()
        self.grad_seen = False

    def forward(self, x):
        self.grad_seen = self.grad_seen or torch.is_grad_enabled()
        return x


def evaluate_probe(fns, model, train_mode, batches, batch_size):
    """(accuracy, [every state entry bit-identical, requires_grad flags unchanged, every
    module's train/eval flag as before, no parameter got a .grad, autograd off in forward])."""
    net = _model(model)
    spy = _GradSpy()
    if model == "tiny":
        net.features.add_module("grad_spy", spy)
    net.train(bool(train_mode))
    if model != "tiny":
        list(net.parameters())[0].requires_grad_(False)
    before = _snapshot(net)
    flags = [p.requires_grad for p in net.parameters()]
    modes = [m.training for m in net.modules()]
    g = torch.Generator().manual_seed(5)
    size = 16 if model == "tiny" else 32
    loader = []
    # The last batch is smaller: accuracy is a mean over samples, not over batches.
    for n in [int(batch_size)] * int(batches) + [3]:
        x = torch.randn(n, 3, size, size, generator=g)
        with torch.no_grad():
            net.eval()
            scores = net(x)
            net.train(bool(train_mode))
        # Labels: the model's own prediction for some samples, random for the rest.
        y = torch.where(torch.rand(len(x), generator=g) < 0.5, scores.argmax(1),
                        torch.randint(0, scores.shape[1], (len(x),), generator=g))
        loader.append((x, y))
    spy.grad_seen = False
    acc = fns["evaluate"](net, loader, "cpu")
    after = net.state_dict()
    facts = [all(_identical(before[k], after[k]) for k in before),
             [p.requires_grad for p in net.parameters()] == flags,
             [m.training for m in net.modules()] == modes,
             all(p.grad is None for p in net.parameters()),
             not spy.grad_seen if model == "tiny" else True]
    return np.float64(float(acc)), np.array(facts, dtype=np.int64)


# ---------------------------------------------------------------- short finetune

def _accuracy(net, x, y):
    net.eval()
    with torch.no_grad():
        return float((net(x).argmax(1) == y).double().mean())


def short_finetune(fns, classes, per_class, image_size, epochs, lr):
    """A short finetune on real flowers driven by the student's ``train_one_epoch`` (the
    rest is set up here, so only that function is graded): pretrained EfficientNet-Lite0
    with a new head, "top" flavour; then the same run from scratch (random init, "all").

    Returns (the finetuned head's weight (classes, 1280) and bias (classes,), accuracy from
    scratch, chance = 1 / classes). The grader scores the head itself on the validation
    photos (checks.finetune_beats_scratch): an accuracy computed here, next to the
    student's code, could be forged."""
    _support()
    from backbones import load_backbone
    from flowers import load_split, tensor_loader

    root = DATA["flowers"]
    xt, yt = load_split(root, "train", int(image_size), int(classes), int(per_class))
    xv, yv = load_split(root, "val", int(image_size), int(classes), 10)
    heads, accuracies = [], []
    for pretrained, trainable_layers in ((True, 1), (False, 0)):
        torch.manual_seed(SEED)
        net = load_backbone("efficientnet_lite0", pretrained=pretrained)
        net._fc = nn.Linear(net._fc.in_features, int(classes))
        layers = _layers(net)
        _freeze_all_but(net, layers[-trainable_layers:] if trainable_layers else layers)
        opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=lr, momentum=0.9)
        for epoch in range(int(epochs)):
            fns["train_one_epoch"](net, tensor_loader(xt, yt, 16, shuffle=True, seed=epoch), opt, "cpu")
        heads.append(net._fc)
        accuracies.append(_accuracy(net, xv, yv))
    head = heads[0]
    return (head.weight.detach().double().numpy().copy(), head.bias.detach().double().numpy().copy(),
            np.float64(accuracies[1]), np.float64(1.0 / int(classes)))
