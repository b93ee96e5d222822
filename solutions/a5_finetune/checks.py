"""a5_finetune checks: judge raw observations where equality with the reference is the
wrong test. HIDDEN. Runs in the grader only.

The sandbox's records are untrusted: any array of any shape and dtype may arrive here
(the protocol guarantees only that it is a numeric array). Every check answers a
problem sentence or None, and never raises on malformed input.
"""

import numpy as np

DATA = {}  # set by the grader: {"flowers": folder with val/, "support": folder} (spec.GRADER_DATA)

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
        import sys

        import torch

        if DATA["support"] not in sys.path:
            sys.path.insert(0, DATA["support"])
        from backbones import load_backbone
        from flowers import load_split

        x, y = load_split(DATA["flowers"], "val", image_size, classes, 10)
        body = load_backbone("efficientnet_lite0", pretrained=True).eval()
        with torch.no_grad():
            features = body.features(x).double().numpy()
        _FEATURES[key] = (features, y.numpy())
    return _FEATURES[key]
