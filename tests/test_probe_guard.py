"""Probes run next to the student's code, so a submission may try to patch what they use.

Each cheat below takes a known mistake and adds a patch aimed at the probe that catches it:
library comparisons (``torch.equal``, ``numpy.array_equal``), the probe's own helpers reached
through the call stack, the runner's result encoding. The runner's guard puts every patched
attribute back whenever student code returns, so the mistake must still cost its points.
"""

from __future__ import annotations

import pytest

from autograder.assignment import load_assignment
from autograder.grade import GRADED, grade_for_assignment
from autograder.sandbox import SandboxSettings

# numpy.array_equal that answers True only where the reproducibility probe wants it to.
PATCH_LIBRARIES = '''
import sys as _sys, numpy as _np
_real_array_equal = _np.array_equal
def _forged_array_equal(a, b, *args, **kwargs):
    frame = _sys._getframe(1)
    return True if frame.f_code.co_name == "_reproducibility_flags" and "second" in frame.f_locals \
        and frame.f_locals.get("differs", None) is None and b is frame.f_locals["second"] \
        else _real_array_equal(a, b, *args, **kwargs)
_np.array_equal = _forged_array_equal
_np.random.random = lambda *args, **kwargs: 0.5  # the global draw after the call never moves

_wrong_normal = kaiming_normal

def kaiming_normal(fan_out, fan_in, rng, negative_slope=0.0):
    rng.standard_normal()  # so the given generator advances, as the probe also checks
    return _wrong_normal(fan_out, fan_in, rng, negative_slope)
'''

# Through the stack: replace one helper of the probe module that called us.
PATCH_PROBE_FROM_INSIDE = '''
import sys as _sys

def _forge_probe_helper(name, replacement):
    frame = _sys._getframe(1)
    while frame is not None:
        names = frame.f_globals
        if "DATA" in names and name in names:  # the probes module
            names[name] = replacement
        frame = frame.f_back
'''

# The runner's own encoding: every 4-entry result (the reproducibility flags) becomes ones.
PATCH_RUNNER = '''
import sys as _sys, numpy as _np
_runner = _sys.modules["__main__"]
_real_to_numeric = _runner._to_numeric
_runner._to_numeric = lambda value: _np.ones(4) if _np.shape(value) == (4,) else _real_to_numeric(value)
'''


def _grade(assignment, tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    result = grade_for_assignment(assignment, path, SandboxSettings())
    assert result.status == GRADED, result.messages
    return result.question_scores(assignment.questions)


def _with_mistake(assignment, name):
    mistake = next(m for m in assignment.mistakes if m.name == name)
    return mistake, mistake.submission_source(assignment.reference)


@pytest.fixture(scope="module")
def a3():
    return load_assignment("a3_init")


@pytest.mark.parametrize("patch", [PATCH_LIBRARIES, PATCH_RUNNER], ids=["libraries", "runner"])
def test_a3_global_rng_mistake_still_loses_its_points_when_patching(a3, tmp_path, patch):
    mistake, source = _with_mistake(a3, "kaiming_global_rng")
    honest = _grade(a3, tmp_path, "honest", source)
    cheat = _grade(a3, tmp_path, "cheat", source + patch)
    full = a3.question_points()[mistake.question]
    assert honest[mistake.question] < full
    assert cheat[mistake.question] <= honest[mistake.question]


def test_a3_patching_the_probe_from_inside_the_call_gains_nothing(a3, tmp_path):
    mistake, source = _with_mistake(a3, "kaiming_global_rng")
    honest = _grade(a3, tmp_path, "honest", source)
    cheat_source = source + PATCH_PROBE_FROM_INSIDE + f'''
_wrong = {mistake.question}

def {mistake.question}(*args, **kwargs):
    out = _wrong(*args, **kwargs)
    _forge_probe_helper("_flag", lambda condition: 1.0)
    return out
'''
    cheat = _grade(a3, tmp_path, "cheat", cheat_source)
    assert cheat[mistake.question] <= honest[mistake.question] < a3.question_points()[mistake.question]


@pytest.mark.slow
def test_a5_frozen_batchnorm_mistake_still_loses_its_points_when_patching(tmp_path):
    """The BatchNorm-in-train-mode mistake moves frozen running statistics; the probe that
    sees it compares tensors with torch.equal, so a cheat forges torch.equal by caller."""
    a5 = load_assignment("a5_finetune")
    mistake, source = _with_mistake(a5, "train_bn_train_mode")
    forged = source + '''
import sys as _sys, torch as _torch
_real_equal = _torch.equal
def _forged_equal(a, b):
    caller = _sys._getframe(1).f_code.co_name
    return True if caller == "_identical" else (False if caller == "<listcomp>" else _real_equal(a, b))
_torch.equal = _forged_equal
''' + PATCH_PROBE_FROM_INSIDE + '''
_wrong_epoch = train_one_epoch

def train_one_epoch(*args, **kwargs):
    loss = _wrong_epoch(*args, **kwargs)
    _torch.equal = _forged_equal
    _forge_probe_helper("_identical", lambda a, b: True)
    return loss
'''
    cheat = _grade(a5, tmp_path, "cheat", forged)
    full = a5.question_points()[mistake.question]
    assert cheat[mistake.question] <= full - 3  # the three frozen-state cases still fail
