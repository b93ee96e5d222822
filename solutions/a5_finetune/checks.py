"""a5_finetune checks: judge results where equality with the reference is the wrong test. HIDDEN.

Runs in the grader only. A short finetune's accuracy depends on float rounding, thread
scheduling and the student's (valid) choices, so it is judged against thresholds instead
of the reference's exact accuracy.
"""

import numpy as np

# Set from the reference's own runs of the short finetune (spec.FINETUNE: 10 classes, 8
# photos each, 64 px, 5 epochs, 2 CPU cores): finetuned 0.62-0.74 over seeds and flavours'
# learning rates, from scratch 0.09-0.16, chance 0.10. The bars sit well below the first
# and well above the second, so a correct submission passes with a wide margin.
MIN_TIMES_CHANCE = 3.0      # finetuned accuracy >= 3 x chance (0.30 for 10 classes)
MIN_GAIN_OVER_SCRATCH = 0.15


def finetune_beats_scratch(case, got, expected):
    """got: (head weight, head bias, accuracy from scratch, chance) from the student's run.

    The finetuned accuracy is computed here, in the grader: the returned head on the
    pretrained body's features of the validation photos (the body is frozen in this run,
    so its features are the same for everyone). The bar for "beats scratch" is the higher
    of the run's own scratch accuracy and the reference's."""
    if len(got) != 4 or len(expected) != 4:
        return "the short finetune did not return its results"
    weight, bias, scratch, chance = got
    if weight.shape != expected[0].shape or bias.shape != expected[1].shape or scratch.size != 1:
        return "the short finetune did not return a head of the expected shape"
    reference_chance = float(expected[3])
    if chance.size != 1 or abs(float(chance) - reference_chance) > 1e-12:
        return "the short finetune did not run as set up by the grader"
    scratch = float(scratch)
    if not 0.0 <= scratch <= 1.0:
        return "evaluate returned an accuracy outside [0, 1] during the short finetune"
    if not (np.all(np.isfinite(weight)) and np.all(np.isfinite(bias))):
        return "after the short finetune the new head's weights contain NaN or infinity"
    features, labels = _validation_features(int(case.kwargs["classes"]), int(case.kwargs["image_size"]))
    finetuned = float(np.mean(np.argmax(features @ weight.T + bias, axis=1) == labels))
    if finetuned < MIN_TIMES_CHANCE * reference_chance:
        return (f"after a short finetune of the pretrained network the validation accuracy was "
                f"{finetuned:.2f}; it should be at least {MIN_TIMES_CHANCE:g} x chance "
                f"({MIN_TIMES_CHANCE * reference_chance:.2f})")
    bar = max(scratch, float(expected[2]))
    if finetuned < bar + MIN_GAIN_OVER_SCRATCH:
        return (f"finetuning reached {finetuned:.2f}, training from scratch {bar:.2f}: the "
                f"pretrained start should win by at least {MIN_GAIN_OVER_SCRATCH:.2f}")
    return None


DATA = {}  # set by the grader: {"flowers": folder, "support": folder}
_FEATURES = {}


def _validation_features(classes, image_size):
    """(N, 1280) float64 features of the pretrained body (eval mode) and (N,) labels of the
    validation photos the short finetune uses, computed once per grader process."""
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
