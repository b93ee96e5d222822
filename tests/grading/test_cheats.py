"""Attacks on the grade, each graded next to its honest twin: the same wrong code, no cheat.

Every attack below is generic: it knows nothing of the right answer, only of how a grader
that trusted the sandbox would decide (0/1 flags, booleans, comparisons, the result
records). Each is appended to a real mistake and graded through the real sandbox with the
kit's grading function, on three targets:

- ``toy``: a one-case assignment whose probe still computes a 0/1 verdict in the sandbox,
  as a3's probes did. There the attack must WIN (cheat > twin): proof that it is a real
  attack and that this file can fail.
- ``a1``: a1_softmax (plain calls), twin ``unstable_softmax``, graded on softmax's cases.
- ``a3``: a3_init, twin ``kaiming_global_rng`` (wrong only in what the reproducibility
  probe shows), graded on kaiming_normal's cases; and ``torch_init_xavier`` for the attack
  on PyTorch, which the probe imports lazily.

On a1 and a3 the cheat never earns more than its twin: probes send raw data and the
grader decides, so a forged, hooked or patched result can only carry values the
submission could have returned honestly.

Attack classes and their tests (``test_attack_*``, parametrised by class):

========================  =====================================================================
settrace, setprofile      hooks that rewrite probe and runner locals (flags, booleans)
frames_and_closures       through frames: the probe's globals, the runner's probe closure, and
                          (gc) the runner's ResultStream.send, all wrapped to forge verdicts
background_thread         a thread that keeps re-patching numpy, the runner and the probes
forged_stream             a complete, well-formed result stream written to the results fd
                          (found on the runner's command line), then os._exit(0)
duplicate_records         forged records first, then the runner's own: ``tampered``
lying_array               an ndarray subclass whose __eq__, __array_function__, __float__,
                          __bool__ lie
lying_value               a non-array with __array__ and the same lies
lazy_torch                torch.equal, Tensor.__eq__ and Tensor.numpy patched (a3 only)
default_rng               np.random.default_rng, Generator, seed replaced by liars
probe_helpers             every function of the probes module (found with gc) wrapped
========================  =====================================================================

What data cannot show (``test_what_data_cannot_show_is_confined_to_the_cases_spec_names``):
a function that draws from np.random's global stream but memoises its draws by the
generator's state, restores the global state and advances the generator passes the
reproducibility checks without any attack; only the cases spec.py names for it gain.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np
import pytest

from autograder.course.assignment import load_assignment
from autograder.grading.grade import GRADED, grade_submission
from autograder.sandbox import SandboxSettings

TAMPERED = "tampered"

# --- what every attack shares: what a verdict-forger wants to see -----------------------------

FORGE = '''
import numpy as _np


def _looks_like_flags(value):
    return (isinstance(value, _np.ndarray) and value.dtype.kind == "f" and 0 < value.size <= 4
            and bool(_np.all((value == 0.0) | (value == 1.0))))


def _forge(value):
    """Every boolean true, every 0/1 flag 1: what would pass a grader that trusted flags."""
    if isinstance(value, (bool, _np.bool_)):
        return True
    if isinstance(value, float) and value in (0.0, 1.0):
        return 1.0
    if _looks_like_flags(value):
        return _np.ones_like(value)
    if isinstance(value, tuple):
        return tuple(_forge(v) for v in value)
    return value


def _forging(function):
    if getattr(function, "_forged", False):
        return function

    def forged(*args, **kwargs):
        return _forge(function(*args, **kwargs))

    forged._forged = True
    forged.__name__ = getattr(function, "__name__", "forged")
    return forged


def _is_probe_frame(frame):
    return frame.f_code.co_filename == "<probes>"
'''

# --- the attacks (each appended to the twin's source; {function} is the function it wraps) ----

SETTRACE = '''
import sys as _sys


def _rewrite_locals(frame):
    names = frame.f_locals
    for name, value in list(names.items()):
        forged = _forge(value)
        if forged is not value:
            names[name] = forged  # written back to the frame when the hook returns


def _targeted(frame):
    return _is_probe_frame(frame) or frame.f_code.co_name == "run_call"


def _local_hook(frame, event, arg):
    _rewrite_locals(frame)
    return _local_hook


def _global_hook(frame, event, arg):
    if _targeted(frame):
        _rewrite_locals(frame)
        return _local_hook
    return None


_sys.settrace(_global_hook)
'''

SETPROFILE = '''
import sys as _sys


def _profile(frame, event, arg):
    if _is_probe_frame(frame) or frame.f_code.co_name == "run_call":
        names = frame.f_locals
        for name, value in list(names.items()):
            forged = _forge(value)
            if forged is not value:
                names[name] = forged


_sys.setprofile(_profile)
'''

FRAMES_AND_CLOSURES = '''
import gc as _gc
import sys as _sys
import types as _types


def _reach_and_patch():
    frame = _sys._getframe(1)
    while frame is not None:
        if _is_probe_frame(frame):  # the probe's own module globals, through its frame
            for name, value in list(frame.f_globals.items()):
                if isinstance(value, _types.FunctionType) and value.__module__ == "probes":
                    frame.f_globals[name] = _forging(value)
        if frame.f_code.co_name == "run_call":  # the runner's closure around the probe
            wrapper = frame.f_locals.get("function")
            for cell in getattr(wrapper, "__closure__", None) or ():
                if isinstance(cell.cell_contents, _types.FunctionType):
                    cell.cell_contents = _forging(cell.cell_contents)
        frame = frame.f_back
    for obj in _gc.get_objects():  # the runner's result stream, through the garbage collector
        if type(obj).__name__ == "ResultStream" and not hasattr(obj, "_forged"):
            real_send = obj.send

            def send(meta, arrays=None, _send=real_send):
                meta = dict(meta)
                meta["warnings"] = []
                return _send(meta, {k: _forge(v) for k, v in (arrays or {}).items()})

            obj.send = send
            obj._forged = True


_wrong_function = {function}


def {function}(*args, **kwargs):
    out = _wrong_function(*args, **kwargs)
    _reach_and_patch()
    return out
'''

BACKGROUND_THREAD = '''
import gc as _gc
import sys as _sys
import threading as _threading
import time as _time
import types as _types

_probe_modules = [m for m in _gc.get_objects() if isinstance(m, _types.ModuleType) and m.__name__ == "probes"]


def _patch_everything():
    _np.array_equal = lambda *args, **kwargs: True
    _np.allclose = lambda *args, **kwargs: True
    runner = _sys.modules.get("__main__")
    if runner is not None and hasattr(runner, "_to_numeric"):
        runner._to_numeric = _forging(runner._to_numeric)
    torch = _sys.modules.get("torch")
    if torch is not None:
        torch.equal = lambda *args, **kwargs: True
    for module in _probe_modules:
        for name, value in list(vars(module).items()):
            if isinstance(value, _types.FunctionType) and value.__module__ == "probes":
                setattr(module, name, _forging(value))


def _keep_patching():
    while True:
        _patch_everything()
        _time.sleep(0.001)


_patch_everything()
_threading.Thread(target=_keep_patching, daemon=True).start()
'''

_WRITE_RECORDS = '''
import io as _io
import json as _json
import os as _os
import struct as _struct
import sys as _sys
import types as _types


def _runner_options():
    argv = list(_sys.argv)
    if "--results-fd" not in argv:
        with open("/proc/self/cmdline", "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\\0") if a]
    return int(argv[argv.index("--results-fd") + 1]), argv[argv.index("--in") + 1]


def _send(fd, meta, arrays=None):
    """One record in the runner's exact framing: MAGIC | <IQ lengths | json | npz."""
    payload = b""
    if arrays:
        buffer = _io.BytesIO()
        _np.savez(buffer, **arrays)
        payload = buffer.getvalue()
    head = _json.dumps(meta).encode()
    view = memoryview(b"AGR1" + _struct.pack("<IQ", len(head), len(payload)) + head + payload)
    while view:
        view = view[_os.write(fd, view):]


def _forged_records():
    """(load meta, [(call meta, arrays)]): the honest results of this submission's own
    functions, with every verdict forged, every warning dropped, every input 'unchanged'."""
    fd, inputs = _runner_options()
    with open(_os.path.join(inputs, "code.json")) as f:
        cells = _json.load(f)["cells"]
    with open(_os.path.join(inputs, "calls.json")) as f:
        calls = _json.load(f)
    with _np.load(_os.path.join(inputs, "arrays.npz")) as npz:
        arrays = {key: npz[key] for key in npz.files}
    probes = None
    if _os.path.exists(_os.path.join(inputs, "probes.py")):
        probes = _types.ModuleType("probes")
        with open(_os.path.join(inputs, "probes.py")) as f:
            exec(compile(f.read(), "<probes>", "exec"), probes.__dict__)
        probes.DATA = {}
    functions = dict(globals())
    records = []
    for call in calls:
        def resolve(ref):
            return _np.array(arrays[ref["array"]]) if "array" in ref else ref["value"]
        args = [resolve(ref) for ref in call["args"]]
        kwargs = {name: resolve(ref) for name, ref in call["kwargs"].items()}
        meta, out = {"kind": "call", "id": call["id"], "warnings": []}, {}
        try:
            if call.get("probe"):
                result = getattr(probes, call["probe"])(functions, *args, **kwargs)
            else:
                result = functions[call["function"]](*args, **kwargs)
            results = result if isinstance(result, tuple) else (result,)
            meta.update(tuple=isinstance(result, tuple), n_results=len(results))
            for i, item in enumerate(results):
                out["r%d" % i] = _np.array(_forge(_np.asarray(item)), copy=True)
            given = [resolve(ref) for ref in call["args"]] + [resolve(ref) for ref in call["kwargs"].values()]
            for i, item in enumerate(given):
                if isinstance(item, _np.ndarray):
                    out["a%d" % i] = item
        except Exception as exc:
            meta["error"] = {"type": type(exc).__name__, "message": str(exc)[:100]}
            out = {}
        records.append((meta, out))
    return fd, {"kind": "load", "cells": [{"cell": i} for i in range(len(cells))]}, records
'''

FORGED_STREAM = _WRITE_RECORDS + '''
_fd, _load, _records = _forged_records()
_send(_fd, _load)
for _meta, _out in _records:
    _send(_fd, _meta, _out)
_send(_fd, {"kind": "done"})
_os._exit(0)  # the runner never writes a byte: the stream is the forger's alone
'''

DUPLICATE_RECORDS = _WRITE_RECORDS + '''
_fd, _load, _records = _forged_records()
_send(_fd, _load)
for _meta, _out in _records:
    _send(_fd, _meta, _out)
# ... and the runner carries on, writing its own load and call records after these.
'''

LYING_OBJECTS = '''
class _LyingArray(_np.ndarray):
    """Equal to anything, a 1.0 when asked for a float, true when asked for a truth value,
    and np.array_equal / np.allclose / np.isclose say yes."""

    def __eq__(self, other):
        return _np.ones(_np.shape(self), dtype=bool)

    def __ne__(self, other):
        return _np.zeros(_np.shape(self), dtype=bool)

    def __float__(self):
        return 1.0

    def __bool__(self):
        return True

    def __array_function__(self, func, types, args, kwargs):
        if func.__name__ in ("array_equal", "array_equiv", "allclose"):
            return True
        if func.__name__ == "isclose":
            return _np.ones(_np.shape(args[0]), dtype=bool)
        return super().__array_function__(func, types, args, kwargs)


_wrong_function = {function}


def {function}(*args, **kwargs):
    return _np.asarray(_wrong_function(*args, **kwargs)).view(_LyingArray)
'''

LYING_VALUE = '''
class _LyingValue:
    """Not an array at all: __array__ hands over the values, everything else says yes."""

    def __init__(self, values):
        self._values = _np.asarray(values)

    def __array__(self, dtype=None, copy=None):
        return self._values if dtype is None else self._values.astype(dtype)

    def __array_function__(self, func, types, args, kwargs):
        return True if func.__name__ in ("array_equal", "array_equiv", "allclose") else NotImplemented

    def __eq__(self, other):
        return True

    def __float__(self):
        return 1.0

    def __bool__(self):
        return True

    def __len__(self):
        return len(self._values)


_wrong_function = {function}


def {function}(*args, **kwargs):
    return _LyingValue(_wrong_function(*args, **kwargs))
'''

LAZY_TORCH = '''
import torch as _torch

_torch.equal = lambda *args, **kwargs: True
_torch.allclose = lambda *args, **kwargs: True
_torch.Tensor.__eq__ = lambda self, other: _torch.ones(self.shape, dtype=_torch.bool)
_torch.Tensor.numpy = _forging(_torch.Tensor.numpy)
_torch.Tensor.all = lambda self, *args, **kwargs: _torch.tensor(True)
'''

DEFAULT_RNG = '''
_real_seed = _np.random.seed


class _LyingGenerator(_np.random.Generator):
    """A Generator whose state always looks advanced."""

    @property
    def bit_generator(self):
        real = super().bit_generator

        class _Moved:
            state = real.state

        _Moved.state["state"]["state"] = (_Moved.state["state"]["state"] + 1) % 2**128
        return _Moved()


_np.random.Generator = _LyingGenerator
_np.random.default_rng = lambda seed=None: _LyingGenerator(_np.random.PCG64(seed))
_np.random.seed = lambda seed=None: _real_seed(0)  # every global seed the same
'''

PROBE_HELPERS = '''
import gc as _gc
import types as _types

for _module in _gc.get_objects():
    if isinstance(_module, _types.ModuleType) and _module.__name__ == "probes":
        for _name, _value in list(vars(_module).items()):
            if isinstance(_value, _types.FunctionType) and _value.__module__ == "probes":
                setattr(_module, _name, _forging(_value))
'''

ATTACKS = {
    "settrace": SETTRACE,
    "setprofile": SETPROFILE,
    "frames_and_closures": FRAMES_AND_CLOSURES,
    "background_thread": BACKGROUND_THREAD,
    "forged_stream": FORGED_STREAM,
    "duplicate_records": DUPLICATE_RECORDS,
    "lying_array": LYING_OBJECTS,
    "lying_value": LYING_VALUE,
    "lazy_torch": LAZY_TORCH,
    "default_rng": DEFAULT_RNG,
    "probe_helpers": PROBE_HELPERS,
}

# --- the toy: a probe that still judges inside the sandbox -------------------------------------

TOY_SPEC = '''
from autograder.course.cases import Case
from autograder.sandbox import Limits

NAME = "toy_verdicts"
TITLE = "toy: a probe that judges in the sandbox"
QUESTIONS = ("draw",)
LIMITS = Limits(cpu_seconds=10, wall_seconds=20, load_seconds=5, call_seconds=3)


def make_cases():
    return [Case("draw", "same_seed", "the same seed gives the same draw", (7,), probe="same_seed_same_draw")]
'''

TOY_REFERENCE = '''
def draw(rng, n):
    return rng.standard_normal(n)
'''

# The old design in miniature: the probe compares the draws itself and sends a 0/1 flag.
TOY_PROBES = '''
import numpy as np

DATA = {}


def _flag(condition):
    return 1.0 if condition else 0.0


def same_seed_same_draw(fns, seed):
    draw = fns["draw"]
    np.random.seed(11)
    first = draw(np.random.default_rng(seed), 50)
    np.random.seed(12)
    second = draw(np.random.default_rng(seed), 50)
    same = bool(np.array_equal(first, second))
    return np.array([_flag(same)])
'''

TOY_TWIN = '''
import numpy as np


def draw(rng, n):
    return np.random.standard_normal(n)  # the global stream, not rng
'''


@dataclass(frozen=True)
class Target:
    assignment: object
    questions: tuple[str, ...]
    twin_source: str
    function: str  # the twin's wrong function, which some attacks wrap

    @property
    def cases(self):
        return tuple(c for c in self.assignment.cases if c.question in self.questions)


def _mistake_source(assignment, name):
    mistake = next(m for m in assignment.mistakes if m.name == name)
    return mistake.submission_source(assignment.reference)


@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    hidden = tmp_path_factory.mktemp("toy_verdicts")
    for name, text in (("spec", TOY_SPEC), ("reference", TOY_REFERENCE), ("probes", TOY_PROBES)):
        (hidden / f"{name}.py").write_text(textwrap.dedent(text))
    toy = load_assignment(hidden)
    a1, a3 = load_assignment("a1_softmax"), load_assignment("a3_init")
    return {
        "toy": Target(toy, ("draw",), TOY_TWIN, "draw"),
        "a1": Target(a1, ("softmax",), _mistake_source(a1, "unstable_softmax"), "softmax"),
        "a3": Target(a3, ("kaiming_normal",), _mistake_source(a3, "kaiming_global_rng"), "kaiming_normal"),
        "a3_torch": Target(a3, ("kaiming_init_",), _mistake_source(a3, "torch_init_xavier"), "kaiming_init_"),
    }


@pytest.fixture(scope="module")
def grade(tmp_path_factory):
    """grade(target, name, source) -> SubmissionResult on the target's cases, through the sandbox."""
    folder = tmp_path_factory.mktemp("cheats")
    cache = {}

    def run(target, name, source):
        key = (id(target), name)
        if key not in cache:
            path = folder / f"{name}_{len(cache)}.py"
            path.write_text(source)
            assignment = target.assignment
            cache[key] = grade_submission(
                path, cases=target.cases, expected=assignment.expected,
                settings=SandboxSettings().with_default_limits(assignment.limits),
                probes_and_checks=assignment.probes_and_checks)
        return cache[key]

    return run


def _cheat(target, attack):
    return target.twin_source + "\n" + FORGE + textwrap.dedent(ATTACKS[attack]).replace("{function}", target.function)


def _failed(result):
    return sorted(r.case.case_id for r in result.case_results if not r.passed)


# Which targets each attack is run against: the toy shows it works where a probe judges,
# a1 and a3 that it gains nothing where the grader does.
RUNS = [(attack, target) for attack in ATTACKS for target in ("toy", "a1", "a3")
        if attack != "lazy_torch" and not (attack == "default_rng" and target == "a1")]
RUNS += [("lazy_torch", "a3_torch")]


def test_every_twin_is_wrong_honestly(targets, grade):
    for name, target in targets.items():
        result = grade(target, "twin", target.twin_source)
        assert result.status == GRADED, (name, result.messages)
        assert 0 <= result.score < sum(c.points for c in target.cases), name


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a != "lazy_torch"])
def test_attack_wins_against_a_probe_that_judges_in_the_sandbox(targets, grade, attack):
    """The same attack, on a probe that sends a flag: it must gain (else it proves nothing)."""
    toy = targets["toy"]
    twin, cheat = grade(toy, "twin", toy.twin_source), grade(toy, attack, _cheat(toy, attack))
    assert twin.score == 0
    if attack == "duplicate_records":
        assert cheat.status == TAMPERED, cheat.messages  # caught by the protocol instead
    else:
        assert cheat.score > twin.score, (attack, _failed(cheat), cheat.messages)


@pytest.mark.parametrize(("attack", "target_name"), [r for r in RUNS if r[1] != "toy"],
                         ids=[f"{a}-{t}" for a, t in RUNS if t != "toy"])
def test_attack_gains_nothing_where_the_grader_decides(targets, grade, attack, target_name):
    target = targets[target_name]
    twin = grade(target, "twin", target.twin_source)
    cheat = grade(target, attack, _cheat(target, attack))
    if cheat.status == TAMPERED:
        assert cheat.score <= twin.score
        return
    assert cheat.score <= twin.score, (attack, _failed(cheat), _failed(twin))
    assert set(_failed(twin)) <= set(_failed(cheat)), (attack, _failed(cheat), _failed(twin))


def test_forged_stream_is_read_as_a_finished_run(targets, grade):
    """The forger's stream is well formed: the grader grades it (no crash, no tamper) and
    still finds every wrong value, because it judges the data itself."""
    target = targets["a3"]
    cheat = grade(target, "forged_stream", _cheat(target, "forged_stream"))
    assert cheat.status == GRADED, cheat.messages
    assert "kaiming_normal/reproducible" in _failed(cheat)


MEMOISED_GLOBAL_DRAWS = '''
import math

import numpy as np

_draws = {}


def kaiming_normal(fan_out, fan_in, rng, negative_slope=0.0):
    """Draws from np.random's global stream, but hides it: the same generator state gives
    the same (cached) draw, the global state is put back, and rng is advanced by one."""
    key = (fan_out, fan_in, negative_slope, repr(rng.bit_generator.state))
    if key not in _draws:
        saved = np.random.get_state()
        std = math.sqrt(2.0 / ((1.0 + negative_slope**2) * fan_in))
        _draws[key] = np.random.normal(0.0, std, size=(fan_out, fan_in))
        np.random.set_state(saved)
    rng.random()
    return _draws[key].copy()
'''

# The kaiming_normal cases whose verdict rests on how the draws were made (spec.py's
# "What data cannot show"): the reproducible case and the public summary's gaps.
PROCESS_CASES = {"kaiming_normal/reproducible", "kaiming_normal/summary"}


def test_what_data_cannot_show_is_confined_to_the_cases_spec_names(targets, grade):
    target = targets["a3"]
    twin = grade(target, "twin", target.twin_source)
    source = target.twin_source + "\n" + MEMOISED_GLOBAL_DRAWS
    hidden = grade(target, "memoised_global_draws", source)
    gained = set(_failed(twin)) - set(_failed(hidden))
    assert gained <= PROCESS_CASES
    spec = (target.assignment.hidden_dir / "spec.py").read_text()
    assert "What data cannot show" in spec and "memoises" in spec


def test_forged_values_are_judged_like_returned_ones():
    """The grader-side judgement is a function of the data alone: the a3 check on the
    reference's own probe data passes, and on a forger's flags (ones) it fails."""
    a3 = load_assignment("a3_init")
    case = next(c for c in a3.cases if c.case_id == "kaiming_normal/reproducible")
    expected = a3.expected[case.case_id]
    check = a3.probes_and_checks.checks[case.check]
    assert check(case, expected, expected) is None
    ones = tuple(np.ones_like(e) for e in expected)
    assert check(case, ones, expected)


STALLING_RESULT = '''
class _Stalling:
    """Returned by softmax: turning it into an array never ends."""

    def __array__(self, dtype=None, copy=None):
        while True:
            pass


def softmax(z, axis=-1):
    return _Stalling()
'''


def test_a_result_that_stalls_when_read_costs_its_own_call_only(targets, tmp_path):
    """Reading a result runs the submission's code (__array__ here); the runner does it
    under the call's alarm, so the stall is that call's timeout and the run goes on."""
    a1 = targets["a1"].assignment
    path = tmp_path / "stalling.py"
    path.write_text((a1.hidden_dir / "reference.py").read_text() + STALLING_RESULT)
    cases = tuple(c for c in a1.cases if c.question in ("softmax", "sigmoid"))
    settings = SandboxSettings(overrides=(("call_seconds", 0.5),)).with_default_limits(a1.limits)
    result = grade_submission(path, cases=cases, expected=a1.expected, settings=settings,
                              probes_and_checks=a1.probes_and_checks)
    scores = result.question_scores(a1.questions)
    assert result.status == GRADED, result.messages
    assert scores["softmax"] == 0
    assert scores["sigmoid"] == sum(c.points for c in cases if c.question == "sigmoid")
