"""a5_finetune under attack: each cheat is graded next to its honest twin (the same wrong
code from the mistakes catalogue, no cheat) and earns no more, per question.

The attack classes that once gained points, when probes judged inside the sandbox:
objects that lie to the probe (a Parameter subclass whose ``detach`` and
``__torch_function__`` report the old values, an instance-level ``state_dict``, a
``param_groups`` property, a momentum whose ``__float__`` says 0.9 while the step sees 0),
patching torch's tensor methods and the probe's own model builders and
``backbones.load_backbone``, and fitting the short finetune's head on the validation
photos. The cheats run in the sandbox on a reduced set of cases (tiny and EfficientNet
models only); the twins are honest code, so they are graded in this process with the same
probes and the same judgement (``evaluate_case``), which is much faster.
"""

from __future__ import annotations

import inspect
from types import MappingProxyType

import pytest

torch = pytest.importorskip("torch")

from autograder.course.assignment import load_assignment  # noqa: E402
from autograder.course.calling import call_case  # noqa: E402
from autograder.course.probes_and_checks import ProbesAndChecks  # noqa: E402
from autograder.grading.evaluate import evaluate_case  # noqa: E402
from autograder.grading.grade import GRADED, grade_submission  # noqa: E402
from autograder.sandbox import SandboxSettings  # noqa: E402

A5 = load_assignment("a5_finetune")
MISTAKES = {m.name: m for m in A5.mistakes}


def _quick_cases(questions, lite0=()):
    """The questions' cases on the tiny model (and on EfficientNet-Lite0 for ``lite0``)."""
    models = {q: ("tiny", "efficientnet_lite0") if q in lite0 else ("tiny",) for q in questions}
    return tuple(c for c in A5.cases if c.question in questions and c.name != "short_finetune"
                 and c.kwargs.get("model") in models[c.question])


def _twin_source(names):
    """The reference with several catalogued mistakes in place (one per question)."""
    reference = inspect.getsource(A5.reference)
    return reference + "".join(MISTAKES[n].submission_source(A5.reference)[len(reference):] for n in names)


def _scores(results, questions):
    scores = dict.fromkeys(questions, 0.0)
    for r in results:
        scores[r.case.question] += r.points
    return scores


def _twin_scores(source, cases):
    """Honest code graded in this process: the probes drive it, ``evaluate_case`` judges."""
    namespace = {"__name__": "twin"}
    exec(compile(source, "<twin>", "exec"), namespace)
    fns = MappingProxyType(namespace)
    results = []
    for case in cases:
        probe = getattr(A5.probes, case.probe)
        record = call_case(lambda *a, probe=probe, **k: probe(fns, *a, **k), case)
        check = A5.probes_and_checks.checks.get(case.check) if case.check else None
        results.append(evaluate_case(case, A5.expected[case.case_id], record, check))
    return _scores(results, {c.question for c in cases})


def _cheat_scores(source, cases, tmp_path, probes_and_checks=None):
    path = tmp_path / "cheat.py"
    path.write_text(source)
    result = grade_submission(path, cases=cases, expected=A5.expected,
                              settings=SandboxSettings().with_default_limits(A5.limits),
                              probes_and_checks=probes_and_checks or A5.probes_and_checks)
    assert result.status == GRADED, result.messages
    return _scores(result.case_results, {c.question for c in cases}), result


# ------------------------------------------------------------------ lying objects

LYING_OBJECTS = '''
import sys as _sys

_honest_replace_head = replace_head


class _LyingParameter(nn.Parameter):
    """Reports the values it had before, through detach(), .data and torch functions."""

    def detach(self):
        return self._before.clone()

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if args and isinstance(args[0], _LyingParameter) and getattr(func, "__name__", "") in (
                "detach", "clone", "numpy", "cpu", "contiguous", "__eq__", "equal", "data"):
            args = (args[0]._before, *args[1:])
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **kwargs)


def replace_head(model, num_classes):
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    _honest_replace_head(model, num_classes)  # the catalogued mistake: re-initialises the body
    for name, module in model.named_modules():
        for key, p in list(module._parameters.items()):
            full = f"{name}.{key}" if name else key
            if p is not None and full in before and before[full].shape == p.shape:
                lying = _LyingParameter(p.detach().clone(), requires_grad=p.requires_grad)
                lying._before = before[full]
                module._parameters[key] = lying
    live = model.state_dict()
    snapshot = {k: before[k] if k in before and before[k].shape == v.shape else v for k, v in live.items()}
    model.state_dict = lambda *a, **k: snapshot
    return model


class _QuietSGD(torch.optim.SGD):
    """Holds every parameter, but shows anyone outside torch.optim the trainable ones only."""

    @property
    def param_groups(self):
        real = self.__dict__["_real_groups"]
        caller = _sys._getframe(1).f_code.co_filename
        if "torch/optim" in caller:
            return real
        return [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in real]

    @param_groups.setter
    def param_groups(self, value):
        self.__dict__["_real_groups"] = value


def make_optimizer(model, lr):
    return _QuietSGD(model.parameters(), lr=lr, momentum=0.9)  # the mistake: every parameter


_honest_train = train_one_epoch


def train_one_epoch(model, loader, optimizer, device):
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    loss = _honest_train(model, loader, optimizer, device)  # the mistake: BN stats drift
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    live = model.state_dict()
    lie = {k: (live[k] if k in trained else snapshot[k]) for k in live}
    model.state_dict = lambda *a, **k: lie
    return loss


_honest_evaluate = evaluate


def evaluate(model, loader, device):
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    accuracy = _honest_evaluate(model, loader, device)  # the mistake: train mode
    model.state_dict = lambda *a, **k: snapshot
    return accuracy
'''

LYING_TWINS = ("replace_head_reinit_everything", "make_optimizer_all_parameters", "train_bn_train_mode",
               "evaluate_train_mode")


def test_objects_that_lie_to_the_probe_gain_nothing(tmp_path):
    questions = ("replace_head", "make_optimizer", "train_one_epoch", "evaluate")
    cases = _quick_cases(questions)
    twin = _twin_source(LYING_TWINS)
    honest = _twin_scores(twin, cases)
    cheat, _ = _cheat_scores(twin + LYING_OBJECTS, cases, tmp_path)
    full = {q: sum(c.points for c in cases if c.question == q) for q in questions}
    assert all(honest[q] < full[q] for q in questions), honest  # each twin is caught
    assert all(cheat[q] <= honest[q] for q in questions), (cheat, honest)


# ------------------------------------------------------------------ patching torch and the probe

LATE_MOMENTUM = '''
class _LateMomentum:
    """0 for the optimizer's arithmetic, 0.9 for anyone who asks float()."""

    def __float__(self):
        return 0.9

    def __ne__(self, other):
        return False

    def __eq__(self, other):
        return other == 0

    def __lt__(self, other):
        return False

    def __gt__(self, other):
        return True

    __hash__ = object.__hash__


def make_optimizer(model, lr):
    return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=_LateMomentum())


'''

PATCHES = '''
import sys as _sys

from shared_with_grader import backbones as _backbones

_honest_set_trainable = set_trainable


def _one_tensor_per_layer(*args, **kwargs):
    """A model on which counting tensors is counting layers: no biases, no BatchNorm."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 16, bias=False), nn.ReLU(), nn.Linear(16, 10, bias=False))


def set_trainable(model, flavour, k=1):
    probe_globals = _sys._getframe(1).f_globals
    probe_globals["TinyNet"] = _one_tensor_per_layer       # the probe's own model class,
    probe_globals["_model"] = _one_tensor_per_layer        # its model builder and cache
    probe_globals.get("_BUILT", {}).clear()
    _backbones.load_backbone = _one_tensor_per_layer          # what the probe imports lazily
    return _honest_set_trainable(model, flavour, k)           # the mistake: counts tensors


''' + LATE_MOMENTUM + '''
_honest_train = train_one_epoch
_saved = {}


def _lie(method):
    def patched(self, *args, **kwargs):
        result = method(self, *args, **kwargs)
        before = _saved.get(self.data_ptr()) if isinstance(self, torch.Tensor) else None
        return before.clone() if before is not None and method.__name__ != "numpy" else (
            before.numpy().copy() if before is not None else result)
    patched.__name__ = method.__name__
    return patched


def train_one_epoch(model, loader, optimizer, device):
    frozen = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d) and not m.weight.requires_grad]
    for m in frozen:
        for b in (m.running_mean, m.running_var):
            _saved[b.data_ptr()] = b.detach().clone()
    loss = _honest_train(model, loader, optimizer, device)  # the mistake: frozen BN stats drift
    for name in ("detach", "clone", "cpu", "contiguous", "numpy"):
        setattr(torch.Tensor, name, _lie(getattr(torch.Tensor, name)))
    torch.equal = lambda a, b: True
    return loss
'''

PATCH_TWINS = ("set_trainable_counts_tensors", "make_optimizer_no_momentum", "train_bn_train_mode")


def test_patching_torch_and_the_probes_models_gains_nothing(tmp_path):
    questions = ("set_trainable", "make_optimizer", "train_one_epoch")
    cases = _quick_cases(questions, lite0=("set_trainable",))  # where backbones.load_backbone is used
    twin = _twin_source(PATCH_TWINS)
    honest = _twin_scores(twin, cases)
    cheat, _ = _cheat_scores(twin + PATCHES, cases, tmp_path)
    assert all(cheat[q] <= honest[q] for q in questions), (cheat, honest)


# ------------------------------------------------------------------ the photos the check scores on

VALIDATION_HUNTER = '''
import glob as _glob
import sys as _sys

_honest_train = train_one_epoch
FOUND_VALIDATION = []


def _validation_roots(data):
    """Everywhere a validation split could be: the probe's data folders, the bundled excerpt
    beside any of them, anything mounted under /sandbox/data."""
    roots = []
    for folder in list(data.values()) + _glob.glob("/sandbox/data/*"):
        roots += [folder, folder + "/data/flowers102-mini"]
    return [r for r in roots if _glob.glob(r + "/val/*/*")]


def train_one_epoch(model, loader, optimizer, device):
    roots = _validation_roots(_sys._getframe(1).f_globals.get("DATA", {}))  # the probe's DATA
    if roots and not FOUND_VALIDATION:
        from shared_with_grader.flowers import load_split

        FOUND_VALIDATION.append(roots[0])
        size = next(iter(loader))[0].shape[-1]
        x, y = load_split(roots[0], "val", size, int(model._fc.out_features), 10)
        model.eval()
        with torch.no_grad():
            features = model.features(x)
        fit = torch.optim.Adam(model._fc.parameters(), lr=0.01)
        for _ in range(300):
            fit.zero_grad()
            F.cross_entropy(model._fc(features), y).backward()
            fit.step()
    if FOUND_VALIDATION:
        return 0.0  # keep the head fitted on the validation photos
    return _honest_train(model, loader, optimizer, device)
'''


FINETUNE_CASE = next(c for c in A5.cases if c.name == "short_finetune")


def _head_accuracy(result):
    kwargs = FINETUNE_CASE.kwargs
    return A5.checks.head_accuracy(*result.outputs[FINETUNE_CASE.case_id], int(kwargs["classes"]),
                                   int(kwargs["image_size"]))


def test_fitting_the_head_on_the_validation_photos_is_impossible(tmp_path):
    """The sandbox's flowers mount holds train/ only and its shared_with_grader mount no data,
    so the hunter finds nothing: it scores as its twin and its head is an honest one."""
    twin = _twin_source(("train_bn_train_mode",))
    got, result = _cheat_scores(twin + VALIDATION_HUNTER, (FINETUNE_CASE,), tmp_path)
    honest = _twin_scores(twin, (FINETUNE_CASE,))
    assert got["train_one_epoch"] <= honest["train_one_epoch"]
    assert _head_accuracy(result) < 0.9


def test_the_validation_hunter_works_where_the_photos_are_mounted(tmp_path):
    """With the validation photos mounted (the old layout: the full flowers folder and the
    assignment folder with its excerpt) the same cheat memorises them: the attack is real,
    the layout is what stops it."""
    from autograder.kit_folders import ASSIGNMENTS_DIR

    old_layout = ProbesAndChecks(probes_source=A5.probes_and_checks.probes_source,
                                 checks=A5.probes_and_checks.checks,
                                 mounts=(("flowers", A5.checks.DATA["flowers"]),
                                         ("assignment", str(ASSIGNMENTS_DIR / "a5_finetune"))),
                                 import_paths=("assignment",))  # shared_with_grader is in it
    cheat = _twin_source(("train_bn_train_mode",)) + VALIDATION_HUNTER
    exposed, result = _cheat_scores(cheat, (FINETUNE_CASE,), tmp_path, probes_and_checks=old_layout)
    assert exposed["train_one_epoch"] == FINETUNE_CASE.points
    assert _head_accuracy(result) >= 0.95


def test_twins_are_the_catalogued_mistakes():
    """Guards the helper above: a twin is the reference plus exactly the named mistakes."""
    source = _twin_source(("train_bn_train_mode", "evaluate_train_mode"))
    assert source.count("# --- common mistake:") == 2
    namespace = {"__name__": "twin"}
    exec(compile(source, "<twin>", "exec"), namespace)
    assert namespace["train_one_epoch"].__name__ == "train_one_epoch_bn_train_mode"
    assert namespace["replace_head"].__name__ == "replace_head"


def test_the_lies_fool_a_naive_reader_but_not_the_probe():
    """The cheats above are real attacks: read the way probes used to read (state_dict,
    detach, param_groups, float), the model and optimizer look right; the probes' own
    reading sees what the submission did."""
    import sys

    from autograder.kit_folders import ASSIGNMENTS_DIR

    sys.path.insert(0, str(ASSIGNMENTS_DIR / "a5_finetune"))
    probes = A5.probes
    cheat = {"__name__": "cheat"}
    exec(compile(_twin_source(LYING_TWINS) + LYING_OBJECTS, "<cheat>", "exec"), cheat)
    net = probes._model("tiny")
    original = {k: v.clone() for k, v in net.state_dict().items()}
    cheat["replace_head"](net, 5)
    body = [k for k in original if not k.startswith("classifier.3")]
    assert all(torch.equal(original[k], net.state_dict()[k]) for k in body)
    weight = net.features[0].weight
    assert torch.equal(weight.detach(), original["features.0.weight"])
    assert not (probes._raw(weight) == original["features.0.weight"].numpy()).all()

    net = probes._model("tiny")
    probes._freeze_all_but(net, probes._layers(net)[-1:])
    optimizer = cheat["make_optimizer"](net, 0.1)
    assert [p for g in optimizer.param_groups for p in g["params"]] == [net.classifier[3].weight,
                                                                       net.classifier[3].bias]
    counts, _ = probes.optimizer_parameters(cheat, "tiny", 1, 0.1)
    assert counts.sum() == 0  # the groups in its __dict__ are not where it keeps them

    late = {"torch": torch}
    exec(compile(LATE_MOMENTUM, "<late>", "exec"), late)
    optimizer = late["make_optimizer"](net, 0.1)
    assert float(optimizer.param_groups[0]["momentum"]) == 0.9
    _, momenta, _, _ = probes.optimizer_steps(late, "tiny", 2, 0.05)
    assert all(m != m for m in momenta)  # NaN: not a plain number, so never asked
