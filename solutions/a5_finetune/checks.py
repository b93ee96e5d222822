"""a5_finetune checks: judge raw observations where equality with the reference is the
wrong test. HIDDEN. Runs in the grader only.

The sandbox's records are untrusted: any array of any shape and dtype may arrive here
(the protocol guarantees only that it is a numeric array). Every check answers a
problem sentence or None, and never raises on malformed input.
"""

import importlib

import numpy as np

DATA = {}  # set by the grader: {"flowers": folder with val/, ...} (spec.MOUNTS and spec.GRADER_DATA)
SHARED_PACKAGE = None  # set by the grader: the name of its copy of the shared_with_grader package


def _shared(module):
    """A student-side module (``backbones``, ``flowers``): the grader's copy."""
    return importlib.import_module(f"{SHARED_PACKAGE}.{module}")

# ---------------------------------------------------------------- make_optimizer

SGD_CLASS = "torch.optim.sgd.SGD"
# Two steps with a fixed gradient g move a held parameter by -lr * r * g, where r = 2 + m
# for SGD with momentum m (dampening 0), 2 + 2m + m^2 with Nesterov momentum; weight
# decay adds a little. r in (2, 5] means "momentum > 0 and lr as given"; frozen
# parameters must not move at all.
RATIO_RANGE = (2.0 + 1e-3, 5.0)


def _text(array) -> str | None:
    array = np.asarray(array)
    if array.ndim != 1 or array.dtype != np.uint8:
        return None
    return bytes(array).decode("utf-8", "replace")


def _floats(array, shape) -> np.ndarray | None:
    array = np.asarray(array)
    if array.shape != shape or array.dtype.kind not in "biuf":
        return None
    return array.astype(np.float64)


def optimizer_is_sgd_with_momentum(case, got, expected):
    """got: (class chain text, [min, max] momentum, per parameter <displacement, g>, <g, g>),
    from ``probes.optimizer_steps``; expected: the reference's."""
    if len(got) != 4 or len(expected) != 4:
        return "the optimizer's observations did not come back"
    chain = _text(got[0])
    if chain is None or SGD_CLASS not in chain.split("\n"):
        return "make_optimizer should return a torch.optim.SGD"
    momenta = _floats(got[1], (2,))
    if momenta is None or not np.all(np.isfinite(momenta)) or momenta.min() <= 0:
        return "every parameter group needs a momentum > 0 (a plain number, e.g. 0.9)"
    moved = _floats(got[2], expected[2].shape)
    norms = _floats(got[3], expected[3].shape)
    if moved is None or norms is None or not np.array_equal(norms, expected[3]):
        return "the optimizer's steps could not be observed"
    frozen = expected[2] == 0
    if np.any(moved[frozen] != 0):
        return "stepping the optimizer changed frozen parameters (it holds parameters it should not)"
    lr = float(case.kwargs["lr"])
    with np.errstate(all="ignore"):
        ratio = -moved[~frozen] / (lr * norms[~frozen])
    if not np.all(np.isfinite(ratio)) or ratio.min() < RATIO_RANGE[0] or ratio.max() > RATIO_RANGE[1]:
        return ("two steps did not move the trainable parameters as SGD with momentum and the given "
                "lr does (a missing parameter, no momentum, or a different learning rate?)")
    return None


# ---------------------------------------------------------------- short finetune

# Set from runs of the short finetune (spec.FINETUNE: 10 classes, 8 photos each, 64 px, 3
# epochs of the head, 2 CPU cores), scored on 86 validation photos: the reference 0.76; an
# honest variant that also turns dropout off 0.73; 0.62-0.76 over seeds and learning rates
# (0.01-0.05); the catalogued train_one_epoch mistakes 0.47-0.76 (they are caught by the
# exact cases); from scratch the same kind of run reached 0.09-0.16 (chance 0.10).
MIN_TIMES_CHANCE = 3.0         # finetuned accuracy >= 3 x chance (0.30 for 10 classes)
MIN_SHARE_OF_REFERENCE = 0.6   # and >= 0.6 x the reference's head on the same photos


def head_accuracy(weight, bias, classes, image_size):
    """Top-1 accuracy of a head (classes, 1280) + (classes,) on the pretrained body's
    features of the held-out validation photos."""
    features, labels = _validation_features(classes, image_size)
    with np.errstate(all="ignore"):
        scores = features @ weight.astype(np.float64).T + bias.astype(np.float64)
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def finetune_head_accuracy(case, got, expected):
    """got: (head weight, head bias) after the student's epochs (``probes.short_finetune``).

    The accuracy is computed here, on validation photos the sandbox never sees: the head
    on the pretrained body's features (the body is frozen in this run, so its features
    are the same for everyone)."""
    if len(got) != 2 or len(expected) != 2:
        return "the short finetune did not return its head"
    classes, size = int(case.kwargs["classes"]), int(case.kwargs["image_size"])
    weight, bias = _floats(got[0], expected[0].shape), _floats(got[1], expected[1].shape)
    if weight is None or bias is None:
        return "the short finetune did not return a head of the expected shape"
    if not (np.all(np.isfinite(weight)) and np.all(np.isfinite(bias))):
        return "after the short finetune the new head's weights contain NaN or infinity"
    finetuned = head_accuracy(weight, bias, classes, size)
    bar = max(MIN_TIMES_CHANCE / classes, MIN_SHARE_OF_REFERENCE * head_accuracy(*expected, classes, size))
    if finetuned < bar:
        return (f"after a short finetune of the pretrained network the validation accuracy was "
                f"{finetuned:.2f}; it should be at least {bar:.2f} (the reference reaches "
                f"{head_accuracy(*expected, classes, size):.2f}, chance is {1 / classes:.2f})")
    return None


_FEATURES = {}


def _validation_features(classes, image_size):
    """(N, 1280) float64 features of the pretrained body (eval mode) and (N,) labels of the
    validation photos, computed once per grader process."""
    key = (classes, image_size)
    if key not in _FEATURES:
        import torch

        x, y = _shared("flowers").load_split(DATA["flowers"], "val", image_size, classes, 10)
        body = _shared("backbones").load_backbone("efficientnet_lite0", pretrained=True).eval()
        with torch.no_grad():
            features = body.features(x).double().numpy()
        _FEATURES[key] = (features, y.numpy())
    return _FEATURES[key]


# ---------------------------------------------------------------- GPU stage

_GPU_MODELS = {}
_GPU_VALIDATION = {}


def _grader_device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _pretrained_with_head(classes):
    """The reference architecture the GPU case's tensors are loaded into: pretrained
    EfficientNet-Lite0 with a ``classes``-way head (a fresh copy each call)."""
    import copy

    import torch
    from torch import nn

    if classes not in _GPU_MODELS:
        torch.manual_seed(0)
        model = _shared("backbones").load_backbone("efficientnet_lite0", pretrained=True)
        model._fc = nn.Linear(model._fc.in_features, classes)
        _GPU_MODELS[classes] = model.eval()
    return copy.deepcopy(_GPU_MODELS[classes])


def gpu_expected_state(model, flavour, k):
    """[(name, tensor)] the GPU probe returns for ``flavour``, computed here on our own model:
    the parameters and floating-point buffers of the layers ``set_trainable`` trains, in
    registration order (the same rule as ``probes.gpu_layers`` / ``probes.gpu_state``)."""
    layers = [m for _, m in model.named_modules() if any(p is not None for p in m._parameters.values())]
    chosen = layers if flavour == "all" else layers[-(1 if flavour == "top" else int(k)):]
    state = []
    for module in chosen:
        state += [(n, p) for n, p in module._parameters.items() if p is not None]
        state += [(n, b) for n, b in module._buffers.items() if b is not None and b.is_floating_point()]
    return state


def _validation(classes, image_size, per_class):
    key = (classes, image_size, per_class)
    if key not in _GPU_VALIDATION:
        load_split = _shared("flowers").load_split
        _GPU_VALIDATION[key] = load_split(DATA["flowers"], "val", image_size, classes, per_class or None)
    return _GPU_VALIDATION[key]


def _claims(array):
    """{"params": [...], "batches": [...]} from the probe's claim text; None when malformed."""
    text = _text(array)
    if text is None or len(text) > 400:
        return None
    claims = {}
    for line in text.split("\n"):
        key, _, value = line.partition(" ")
        if key not in ("params", "batches") or key in claims:
            return None
        claims[key] = [v for v in value.split(",") if v]
    return claims if set(claims) == {"params", "batches"} else None


def gpu_finetune_accuracy(case, got, min_accuracy, validation_per_class=0):
    """Judge a GPU case from ``probes.gpu_finetune``'s raw data: (problem or None, figures).

    got: (values, sizes, claims, figures). The values must be exactly the tensors
    ``gpu_expected_state`` names (sizes equal, finite); they are loaded into the reference
    architecture (every other weight as pretrained) and scored on the validation photos
    here. The device claim (parameters and batches on the recipe's device) is the
    submission's word: a forged claim is possible, which is why the grader's own time
    budget (``autograder.grading.gpu_stage``) and the accuracy it measures carry the verdict."""
    import torch

    figures = {"min_accuracy": float(min_accuracy)}
    if len(got) != 4:
        return "the GPU finetune did not return its trained weights", figures
    kw = case.kwargs
    classes, flavour, device = int(kw["classes"]), str(kw["flavour"]), str(kw["device"])
    model = _pretrained_with_head(classes)
    wanted = gpu_expected_state(model, flavour, kw["k"])
    want_sizes = np.array([t.numel() for _, t in wanted], dtype=np.int64)
    sizes, values = np.asarray(got[1]), np.asarray(got[0])
    if (sizes.dtype.kind not in "iu" or sizes.shape != want_sizes.shape
            or not np.array_equal(sizes, want_sizes)):
        return ("after the GPU finetune the network does not have the expected layers (did "
                "replace_head keep the architecture?)"), figures
    if values.dtype.kind != "f" or values.shape != (int(want_sizes.sum()),):
        return "the GPU finetune returned weights of the wrong size or type", figures
    if not np.all(np.isfinite(values)):
        return "after the GPU finetune the weights contain NaN or infinity", figures
    claims = _claims(got[2])
    numbers = _floats(got[3], (3,))
    if numbers is not None and np.all(np.isfinite(numbers)):
        figures.update(claimed_seconds=float(numbers[0]), claimed_train_accuracy=float(numbers[1]))
    figures["claimed_devices"] = claims
    if claims is None or claims["params"] != [device] or claims["batches"] != [device]:
        return (f"the model and the batches should be on the device given ({device}): pass the "
                "device on to the model's inputs in train_one_epoch and evaluate"), figures
    offset = 0
    with torch.no_grad():
        for (_, tensor), size in zip(wanted, want_sizes, strict=True):
            chunk = torch.from_numpy(values[offset:offset + size].astype(np.float32))
            tensor.copy_(chunk.view(tensor.shape))
            offset += size
    accuracy = validation_accuracy(model, {id(t) for _, t in wanted}, classes, int(kw["image_size"]),
                                   int(validation_per_class))
    figures["accuracy"] = accuracy
    if accuracy < min_accuracy:
        return ("after the GPU finetune the accuracy on the held-back photos is below the "
                "threshold (the reference's own accuracy minus a margin)"), figures
    return None, figures


_BLOCK_OUTPUTS = {}


def _top_part(model, z):
    """The network above ``_blocks`` (``_conv_head``, ``_bn1``, pooling, ``_fc``; dropout is
    off in eval mode): logits from the blocks' output ``z``."""
    import torch
    import torch.nn.functional as F

    x = F.relu6(model._bn1(model._conv_head(z)))
    return model._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def validation_accuracy(model, loaded, classes, image_size, per_class, batch=128):
    """Top-1 accuracy of ``model`` (eval mode) on the validation photos.

    ``loaded``: ids of the tensors that came back from the sandbox. When they all lie above
    ``_blocks`` ("top", "top_k" up to 3), everything below is the pretrained network, so the
    blocks' output for the photos is computed once per grader process and only the top part
    runs per submission (the same numbers as the whole network, a fraction of the time)."""
    import torch

    where = _grader_device()
    model.to(where).eval()
    x, y = _validation(classes, image_size, per_class)
    above = {id(t) for m in (model._conv_head, model._bn1, model._fc) for t in
             [*m._parameters.values(), *m._buffers.values()] if t is not None}
    correct = 0
    with torch.no_grad():
        if loaded <= above:
            key = (classes, image_size, per_class, str(where))
            if key not in _BLOCK_OUTPUTS:
                _BLOCK_OUTPUTS[key] = torch.cat([
                    model._blocks(torch.nn.functional.relu6(model._bn0(model._conv_stem(
                        x[i:i + batch].to(where))))) for i in range(0, len(y), batch)])
            z = _BLOCK_OUTPUTS[key]
            for start in range(0, len(y), batch):
                scores = _top_part(model, z[start:start + batch])
                correct += int((scores.argmax(1).cpu() == y[start:start + batch]).sum())
        else:
            for start in range(0, len(y), batch):
                scores = model(x[start:start + batch].to(where))
                correct += int((scores.argmax(1).cpu() == y[start:start + batch]).sum())
    return correct / max(len(y), 1)
