"""a5_finetune probes: drive the student's PyTorch functions, return raw observations. HIDDEN.

Runs inside the sandbox with the submission's functions (``fns``) and in the grader with
the reference's (for the expected values). Standalone: stdlib, numpy, torch; the student-side
modules (``backbones``, ``flowers``) come from the assignment's ``shared_with_grader``
package (``_shared``: on the sandbox's ``sys.path``, in the grader its own copy) and the
training photos from the ``flowers`` mount, which holds ``train/`` only. Never imports
``autograder``.

Every probe builds its own models and data from fixed seeds, and where it is not the
function under test it does the set-up itself (e.g. sets ``requires_grad`` directly rather
than through the student's ``set_trainable``), so one wrong function costs points once.

Data out, verdicts in the grader
--------------------------------
Everything after the submission's first line is hostile: it can patch torch, this module
and the objects handed to it, and it can write forged records to the results pipe. So a
probe decides nothing. It returns what it observed, and the grader judges it: by equality
with the reference's observation of the same seeded models (``spec.py``'s tolerances;
bit-for-bit where the property is "unchanged", via per-tensor digests) or in ``checks.py``.

- Tensors are read with ``torch._C.TensorBase``'s own methods under
  ``DisableTorchFunctionSubclass`` (a ``Parameter`` subclass whose ``detach`` lies is not
  asked), modules through their plain ``__dict__`` (an instance-level ``state_dict`` or
  ``named_parameters`` is not called), the optimizer's groups from its ``__dict__`` with
  ``dict`` methods (a ``param_groups`` property is not called), and student numbers only
  when their type is exactly a builtin or NumPy number or a plain tensor (no ``__float__``
  of theirs runs). Names, types and identities travel as data (text as uint8 arrays).
- That makes cheap tricks fail, but it is not what makes the design safe. What does is
  that each observation is one that only the correct behaviour reproduces: the head's
  weights after an epoch differ when frozen BatchNorm layers used batch statistics, the
  parameters an optimizer moved when the probe steps it show which ones it holds and with
  what momentum, the accuracy on the probe's loader differs in train mode. A forged or
  injected record carries values; the only values that pass are those a correct
  implementation computes on the same inputs, so forging gains nothing over honest work.
- One property cannot be observed from data: whether ``evaluate`` ran with autograd off
  leaves no trace in any value (``evaluate_autograd``). That case is worth one point and
  ``spec.py`` says so.
"""

import copy
import hashlib
import importlib
import os
import sys
import time

import numpy as np
import torch
from torch import nn

DATA = {}  # set by the runner (sandbox) or the grader: {"flowers": dir, "shared_with_grader": dir}
# Where the student-side modules are imported from: the package's own name in the sandbox
# (the runner put it on sys.path) and beside the notebook; the grader sets its copy's name.
SHARED_PACKAGE = "shared_with_grader"

SEED = 0
LR = 0.01

# Bound when this module loads, before any submission code runs. TensorBase is an
# immutable C type: its methods cannot be replaced, only these module globals could be.
_TB = torch._C.TensorBase
_NO_SUBCLASS = torch._C.DisableTorchFunctionSubclass
_REQUIRES_GRAD = _TB.requires_grad.__get__
_GRAD = _TB.grad.__get__
_MODULE_DICT = object.__getattribute__
_ITEMS = dict.items
_GET = dict.get


def _shared(module):
    """A module of the shared_with_grader package (``backbones``, ``flowers``)."""
    if SHARED_PACKAGE == "shared_with_grader":  # the notebook's tests/probes.py: one folder down
        student = os.path.dirname(os.path.dirname(os.path.abspath(globals().get("__file__", "."))))
        if os.path.isdir(os.path.join(student, SHARED_PACKAGE)) and student not in sys.path:
            sys.path.append(student)
    return importlib.import_module(f"{SHARED_PACKAGE}.{module}")


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


_BUILT = {}  # name -> (pristine model, torch RNG state right after building it)


def _model(name):
    """A freshly built model, same weights on every call (seeded).

    Built once per process and copied afterwards (DenseNet-121's initialisation alone takes
    a second); the global RNG is left exactly as a fresh build leaves it, so what the
    student's code draws next (a new head's weights) does not depend on the cache."""
    if name not in _BUILT:
        model = _build(name)
        _BUILT[name] = (model, torch.get_rng_state())
    model, state = _BUILT[name]
    torch.set_rng_state(state)
    return copy.deepcopy(model)


def _build(name):
    torch.manual_seed(SEED)
    if name == "tiny":
        model = TinyNet()
    elif name == "efficientnet_lite0":
        model = _shared("backbones").load_backbone("efficientnet_lite0")
    elif name in ("mobilenet_v3_small", "densenet121"):
        model = _shared("backbones").load_backbone(name, pretrained=False)
    else:
        raise ValueError(name)
    # A model "as loaded" has non-trivial BatchNorm statistics.
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._NormBase):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return model


# ---------------------------------------------------------------- reading without asking

def _modules(model):
    """[(qualified name, module)] in registration order, read from each module's own
    ``__dict__["_modules"]`` (like ``named_modules``: each module once)."""
    found, seen, stack = [], set(), [("", model)]
    while stack:
        name, module = stack.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        found.append((name, module))
        children = _ITEMS(_MODULE_DICT(module, "__dict__")["_modules"])
        stack += reversed([(f"{name}.{key}" if name else key, child)
                           for key, child in children if child is not None])
    return found


def _own(module, kind):
    """[(name, tensor)] of a module's direct ``_parameters`` or ``_buffers``."""
    return [(k, v) for k, v in _ITEMS(_MODULE_DICT(module, "__dict__")[kind]) if v is not None]


def _parameters(model):
    """[(qualified name, Parameter)] in registration order, each tensor once."""
    found, seen = [], set()
    for name, module in _modules(model):
        for key, p in _own(module, "_parameters"):
            if id(p) not in seen:
                seen.add(id(p))
                found.append((f"{name}.{key}" if name else key, p))
    return found


def _state(model):
    """[(qualified name, tensor)]: parameters and buffers, as ``state_dict`` orders them."""
    found = []
    for name, module in _modules(model):
        for kind in ("_parameters", "_buffers"):
            found += [(f"{name}.{key}" if name else key, t) for key, t in _own(module, kind)]
    return found


def _layers(model):
    """Modules owning parameters directly, in registration order ("layers" of top_k)."""
    return [m for _, m in _modules(model) if _own(m, "_parameters")]


def _head(model):
    return [m for _, m in _modules(model) if type(m) is nn.Linear][-1]


def _raw(tensor):
    """A tensor's values as a fresh numpy array, read by TensorBase itself."""
    with _NO_SUBCLASS():
        base = _TB.contiguous(_TB.cpu(_TB.detach(tensor)))
        return np.array(_TB.numpy(base), copy=True)


def _digest(tensor):
    """64 bits of BLAKE2b over a tensor's dtype, shape and bytes: equal digests mean
    bit-identical tensors (for the grader's "stayed exactly as loaded")."""
    values = _raw(tensor)
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{values.dtype.str}{values.shape}".encode())
    h.update(values.tobytes())
    return int.from_bytes(h.digest(), "little", signed=True)


def _digests(tensors):
    return np.array([_digest(t) for t in tensors], dtype=np.int64)


def _values(tensors):
    """Flat float32 concatenation (what trained, compared within tolerance)."""
    parts = [_raw(t).astype(np.float32).ravel() for t in tensors]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _text(lines):
    return np.frombuffer("\n".join(lines).encode(), dtype=np.uint8).copy()


def _number(value):
    """A returned number as float, without running any method the submission defined:
    exactly a builtin or NumPy number, or a one-element plain tensor; NaN otherwise."""
    kind = type(value)
    if kind in (int, float) or kind in (np.float64, np.float32, np.int64, np.int32):
        return float(value)
    if kind is torch.Tensor and _TB.numel(value) == 1:
        return float(_raw(value).ravel()[0])
    return float("nan")


def _requires_grad(tensor):
    with _NO_SUBCLASS():
        return bool(_REQUIRES_GRAD(tensor))


def _random_batches(n_batches, batch, classes, size=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch, 3, size, size, generator=g), torch.randint(0, classes, (batch,), generator=g))
            for _ in range(n_batches)]


def _freeze_all_but(model, trainable_modules):
    ids = {id(m) for m in trainable_modules}
    for m in model.modules():
        for p in m.parameters(recurse=False):
            p.requires_grad_(id(m) in ids)


# ---------------------------------------------------------------- replace_head

def replace_head_shape(fns, model, num_classes):
    """(the layers after the call as text: per parameterised layer, in registration order,
    "name type param=shape ..."; [returned object is the model, *forward output shape])."""
    net = _model(model)
    out = fns["replace_head"](net, num_classes)
    lines = [f"{name} {type(m).__name__} " + " ".join(f"{k}={tuple(_raw(p).shape)}" for k, p in
                                                      _own(m, "_parameters"))
             for name, m in _modules(net) if _own(m, "_parameters")]
    size = 64 if model != "tiny" else 16
    net.eval()
    with torch.no_grad():
        logits = net(torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2)))
    shape = _raw(logits).shape if isinstance(logits, torch.Tensor) else ()
    return _text(lines), np.array([out is net, *shape], dtype=np.int64)


def replace_head_keeps_weights(fns, model, num_classes):
    """Digest of every state entry below the head after the call, in the order before it
    (0 where an entry disappeared)."""
    net = _model(model)
    old_head = _head(net)
    head_names = {n for n, m in _modules(net) if m is old_head}
    body = [k for k, _ in _state(net) if k.rpartition(".")[0] not in head_names]
    fns["replace_head"](net, num_classes)
    after = dict(_state(net))
    return np.array([_digest(after[k]) if k in after else 0 for k in body], dtype=np.int64)


# ---------------------------------------------------------------- set_trainable

def trainable_flags(fns, model, calls):
    """Call set_trainable once per (flavour, k) in ``calls`` ("top:1,all:1" ...); after the
    last: (requires_grad per parameter in registration order, the returned names as text,
    the model's parameter names as text)."""
    net = _model(model)
    names = None
    for item in calls.split(","):
        flavour, k = item.split(":")
        names = fns["set_trainable"](net, flavour, k=int(k))
    params = _parameters(net)
    flags = np.array([_requires_grad(p) for _, p in params], dtype=np.int64)
    if type(names) in (list, tuple) and all(type(n) is str for n in names):
        returned = list(names)
    else:
        returned = [f"<not a list of str: {type(names).__name__}>"]
    return flags, _text(returned), _text([n for n, _ in params])


# ---------------------------------------------------------------- make_optimizer

def _optimizer_groups(opt):
    """The optimizer's parameter groups as plain (params list, {hyper-parameter: value}),
    read from its ``__dict__`` (never through a property or method of its class)."""
    groups = _GET(_MODULE_DICT(opt, "__dict__"), "param_groups")
    if type(groups) is not list:
        return []
    plain = []
    for group in groups:
        if type(group) is dict:
            params = _GET(group, "params")
            plain.append((list(params) if type(params) in (list, tuple) else [], group))
    return plain


def _make_optimizer(fns, model, trainable_layers, lr):
    net = _model(model)
    _freeze_all_but(net, _layers(net)[-int(trainable_layers):])
    return net, fns["make_optimizer"](net, lr)


def optimizer_parameters(fns, model, trainable_layers, lr):
    """The top ``trainable_layers`` layers trainable (set here, not by the student): (per
    parameter: how many times the optimizer's groups hold it, [smallest, largest lr])."""
    net, opt = _make_optimizer(fns, model, trainable_layers, lr)
    groups = _optimizer_groups(opt)
    held = [id(p) for params, _ in groups for p in params]
    counts = np.array([held.count(id(p)) for _, p in _parameters(net)], dtype=np.int64)
    lrs = [_number(_GET(g, "lr")) for _, g in groups] or [float("nan")]
    return counts, np.array([min(lrs), max(lrs)], dtype=np.float64)


def optimizer_steps(fns, model, trainable_layers, lr):
    """What the optimizer is and does: (its class and base classes as text, [smallest and
    largest momentum over groups], per parameter: <p_after - p_before, g> after two
    ``step()`` calls with gradient g set by the probe on EVERY parameter, and <g, g>).

    With lr and momentum m, SGD moves a held parameter by -lr (2 + m) g in two steps and
    leaves the others alone, so the grader reads membership, lr and momentum off the
    displacements: what the optimizer does, not what it says about itself."""
    net, opt = _make_optimizer(fns, model, trainable_layers, lr)
    chain = [f"{c.__module__}.{c.__qualname__}" for c in type(opt).__mro__]
    momenta = [_number(_GET(g, "momentum", 0.0)) for _, g in _optimizer_groups(opt)] or [float("nan")]
    params = [p for _, p in _parameters(net)]
    gen = torch.Generator().manual_seed(7)
    before = [torch.from_numpy(_raw(p)).double() for p in params]
    grads = [torch.randn(tuple(b.shape), generator=gen, dtype=torch.float64) for b in before]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.to(p.dtype)
    opt.step()
    opt.step()
    moved = [float(((torch.from_numpy(_raw(p)).double() - b) * g).sum())
             for p, b, g in zip(params, before, grads, strict=True)]
    norms = [float((g.to(torch.float32).double() ** 2).sum()) for g in grads]
    return (_text(chain), np.array([min(momenta), max(momenta)], dtype=np.float64),
            np.array(moved, dtype=np.float64), np.array(norms, dtype=np.float64))


# ---------------------------------------------------------------- train_one_epoch

def _setup_training(model, trainable_layers, classes=10):
    net = _model(model)
    if model != "tiny":
        torch.manual_seed(SEED + 1)
        old = _head(net)
        parent_name, _, attr = [n for n, m in _modules(net) if m is old][0].rpartition(".")
        setattr(net.get_submodule(parent_name) if parent_name else net, attr,
                nn.Linear(old.in_features, classes))
    layers = _layers(net)
    _freeze_all_but(net, layers if trainable_layers == 0 else layers[-int(trainable_layers):])
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=LR, momentum=0.9)
    return net, opt


def _trainable_modules(net):
    """(modules whose parameters all stay frozen, modules with a trainable parameter),
    as the probe set them up (before the student's call)."""
    layers = _layers(net)
    trained = [m for m in layers if any(_requires_grad(p) for _, p in _own(m, "_parameters"))]
    return [m for m in layers if m not in trained], trained


def _bn_statistics(modules):
    return [t for m in modules if isinstance(m, nn.modules.batchnorm._NormBase)
            for k, t in _own(m, "_buffers") if k in ("running_mean", "running_var")]


def epoch_frozen_state(fns, model, trainable_layers, batches):
    """Train one epoch with only the top ``trainable_layers`` layers trainable (0: all).

    Returns (digest of every state entry of a frozen layer afterwards, weights and
    BatchNorm running statistics; the trainable parameters' values; the running mean and
    variance of the trainable BatchNorm layers), all read after the epoch."""
    net, opt = _setup_training(model, trainable_layers)
    size = 16 if model == "tiny" else 32
    frozen, trained = _trainable_modules(net)
    loader = _random_batches(int(batches), 8, 10, size)
    torch.manual_seed(SEED + 2)  # dropout draws the same masks as in the reference's run
    fns["train_one_epoch"](net, loader, opt, "cpu")
    frozen_state = [t for m in frozen for kind in ("_parameters", "_buffers") for _, t in _own(m, kind)]
    trainable = [t for m in trained for _, t in _own(m, "_parameters")]
    return _digests(frozen_state), _values(trainable), _values(_bn_statistics(trained))


def epoch_loss(fns, model, trainable_layers, batches):
    """The mean training loss train_one_epoch returns (equal-size batches), and the
    trainable weights afterwards (did each step use the right gradient?)."""
    net, opt = _setup_training(model, trainable_layers)
    size = 16 if model == "tiny" else 32
    loader = _random_batches(int(batches), 8, 10, size, seed=3)
    trainable = [p for _, p in _parameters(net) if _requires_grad(p)]
    torch.manual_seed(SEED + 2)
    loss = fns["train_one_epoch"](net, loader, opt, "cpu")
    return np.float64(_number(loss)), _values(trainable)


# ---------------------------------------------------------------- evaluate

class _GradSpy(nn.Module):
    """Records whether autograd was on during each forward pass."""

    def __init__(self):
        super().__init__()
        self.grad_seen = False

    def forward(self, x):
        self.grad_seen = self.grad_seen or torch.is_grad_enabled()
        return x


def _evaluation_loader(net, train_mode, batches, batch_size, size):
    g = torch.Generator().manual_seed(5)
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
    return loader


def evaluate_probe(fns, model, train_mode, batches, batch_size):
    """(accuracy, digest of every state entry afterwards, [requires_grad per parameter,
    train flag per module, 1 per parameter whose .grad is None], all read afterwards)."""
    net = _model(model)
    net.train(bool(train_mode))
    if model != "tiny":
        list(net.parameters())[0].requires_grad_(False)
    loader = _evaluation_loader(net, train_mode, batches, batch_size, 16 if model == "tiny" else 32)
    torch.manual_seed(SEED + 2)
    acc = fns["evaluate"](net, loader, "cpu")
    params = [p for _, p in _parameters(net)]
    with _NO_SUBCLASS():
        no_grad = [_GRAD(p) is None for p in params]
    flags = ([_requires_grad(p) for p in params]
             + [bool(_GET(_MODULE_DICT(m, "__dict__"), "training")) for _, m in _modules(net)] + no_grad)
    return (np.float64(_number(acc)), _digests([t for _, t in _state(net)]),
            np.array(flags, dtype=np.int64))


def evaluate_autograd(fns, model, batches, batch_size):
    """1 if autograd was on in any forward pass during evaluate, recorded by a module the
    probe planted in the model. The one property no returned value can show: the flag
    lives in the submission's process, so this case is worth little (spec.py)."""
    net = _model(model)
    spy = _GradSpy()
    net.features.add_module("grad_spy", spy)
    loader = _evaluation_loader(net, 0, batches, batch_size, 16)
    spy.grad_seen = False
    fns["evaluate"](net, loader, "cpu")
    return np.int64(bool(_GET(_MODULE_DICT(spy, "__dict__"), "grad_seen")))


# ---------------------------------------------------------------- short finetune

def short_finetune(fns, classes, per_class, image_size, epochs, lr):
    """A short finetune on real flowers driven by the student's ``train_one_epoch`` (the
    rest is set up here, so only that function is graded): pretrained EfficientNet-Lite0
    with a new head, "top" flavour, on the training photos (the only split mounted).

    Returns the finetuned head's weight (classes, 1280) and bias (classes,), float32. The
    grader scores the head itself on validation photos the sandbox never sees
    (checks.finetune_head_accuracy)."""
    load_backbone = _shared("backbones").load_backbone
    load_split, tensor_loader = _shared("flowers").load_split, _shared("flowers").tensor_loader

    xt, yt = load_split(DATA["flowers"], "train", int(image_size), int(classes), int(per_class))
    torch.manual_seed(SEED)
    net = load_backbone("efficientnet_lite0", pretrained=True)
    net._fc = nn.Linear(net._fc.in_features, int(classes))
    head = net._fc
    _freeze_all_but(net, [head])
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=lr, momentum=0.9)
    for epoch in range(int(epochs)):
        fns["train_one_epoch"](net, tensor_loader(xt, yt, 16, shuffle=True, seed=epoch), opt, "cpu")
    weight, bias = dict(_own(head, "_parameters"))["weight"], dict(_own(head, "_parameters"))["bias"]
    return _values([weight]).reshape(int(classes), -1), _values([bias])


# ---------------------------------------------------------------- GPU stage (autograder.grading.gpu_stage)

def gpu_environment(fns):
    """What CUDA looks like inside the sandbox, before any student's run: ([cuda available,
    device count], text "device name\ntorch version\nwhy CUDA did not start"). Run by the
    grader with a stub submission, so it tells whether the GPU is usable there at all."""
    why = ""
    try:
        torch.cuda.init()  # is_available() hides the reason; init() raises it
    except Exception as exc:  # noqa: BLE001 - the reason is the point
        why = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
    available = bool(torch.cuda.is_available())
    name = torch.cuda.get_device_name(0) if available else ""
    count = torch.cuda.device_count() if available else 0
    return np.array([int(available), count], dtype=np.int64), _text([name, torch.__version__, why])


def gpu_layers(net, flavour, k):
    """The modules whose state the grader needs after a finetune of ``flavour``: the layers
    ``set_trainable`` should have made trainable (all of them for "all")."""
    layers = _layers(net)
    return layers if flavour == "all" else layers[-(1 if flavour == "top" else int(k)):]


def gpu_state(modules):
    """[(name, tensor)]: each module's own parameters, then its floating-point buffers
    (BatchNorm running statistics; the integer step counter is left out)."""
    found = []
    for module in modules:
        found += _own(module, "_parameters")
        found += [(n, t) for n, t in _own(module, "_buffers") if _raw(t).dtype.kind == "f"]
    return found


def _device_type(tensor):
    with _NO_SUBCLASS():
        return str(_TB.device.__get__(tensor).type)


def gpu_finetune(fns, flavour, k, classes, per_class, image_size, batch_size, lr, epochs, device):
    """A real finetune with all five student functions: pretrained EfficientNet-Lite0, the
    student's ``replace_head`` (``classes`` outputs), the model moved to ``device`` here, the
    student's ``set_trainable(flavour, k)``, ``make_optimizer(lr)``, ``epochs`` calls of
    ``train_one_epoch`` on the training photos (the only split mounted), then ``evaluate`` on
    them.

    Returns raw data, never a verdict: (float32 values of ``gpu_state(gpu_layers(...))`` in
    order, int64 element count of each of those tensors, text "params <devices>\nbatches
    <devices>" (the devices the parameters are on afterwards and the batches that reached
    the model were on, a CLAIM the grader cannot check), float64 [seconds the epochs took,
    the accuracy the student's evaluate gave on the training photos, CUDA available]: claims
    too). The grader scores the returned tensors on validation photos it alone holds."""
    load_backbone = _shared("backbones").load_backbone
    load_split, tensor_loader = _shared("flowers").load_split, _shared("flowers").tensor_loader

    xt, yt = load_split(DATA["flowers"], "train", int(image_size), int(classes), int(per_class) or None)
    target = torch.device(device)
    torch.manual_seed(SEED)
    net = load_backbone("efficientnet_lite0", pretrained=True)
    fns["replace_head"](net, int(classes))  # in place, as the contract says
    net.to(target)
    seen = set()

    def record_batch(module, inputs):
        if inputs and isinstance(inputs[0], torch.Tensor):
            seen.add(_device_type(inputs[0]))

    net.register_forward_pre_hook(record_batch)
    fns["set_trainable"](net, flavour, k=int(k))
    optimizer = fns["make_optimizer"](net, float(lr))
    started = time.perf_counter()
    for epoch in range(int(epochs)):
        fns["train_one_epoch"](net, tensor_loader(xt, yt, int(batch_size), shuffle=True, seed=epoch),
                               optimizer, target)
    if target.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    train_accuracy = _number(fns["evaluate"](net, tensor_loader(xt, yt, 256), target))
    state = [t for _, t in gpu_state(gpu_layers(net, flavour, k))]
    sizes = np.array([_raw(t).size for t in state], dtype=np.int64)
    params = sorted({_device_type(p) for _, p in _parameters(net)})
    claims = _text([f"params {','.join(params)}", f"batches {','.join(sorted(seen))}"])
    figures = np.array([seconds, train_accuracy, float(torch.cuda.is_available())], dtype=np.float64)
    return _values(state), sizes, claims, figures
