"""Calling a function in the grader the way the sandbox runner calls a student's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from autograder.course.calling import call_case, copy_arguments, numeric_outputs, sandbox_float_rules
from autograder.course.cases import Case
from autograder.sandbox import runner


def _in_the_runner(function, case):
    """The runner's own run_call on the same case: (meta, arrays)."""
    arrays, args = {}, []
    for i, value in enumerate(case.args):
        if isinstance(value, np.ndarray):
            arrays[f"x{i}"] = value
            args.append({"array": f"x{i}"})
        else:
            args.append({"value": value})
    kwargs = {k: {"value": v} for k, v in case.kwargs.items()}
    call = {"id": "c", "function": "f", "args": args, "kwargs": kwargs}
    return runner.run_call({"f": function}, call, arrays, seconds=5)


def _overflows(z):
    return np.exp(z)


def _modifies_input(z):
    z *= 2
    return z.sum(), z.shape[0]


def _underflows(z):
    return np.exp(-np.abs(z) * 1e3)


def _not_numeric(z):
    return "text"


def _raises(z):
    raise ValueError("bad input")


@pytest.mark.parametrize("function", [_overflows, _modifies_input, _underflows, _not_numeric, _raises])
def test_a_call_gives_the_runners_record(function):
    z = np.array([[1000.0, -3.0], [2.0, 0.5]])
    case = Case("f", "c", "d", (z,))
    record = call_case(function, case)
    meta, arrays = _in_the_runner(function, case)
    for key in ("warnings", "tuple", "n_results"):
        assert record.meta.get(key) == meta.get(key)
    assert ("error" in record.meta) == ("error" in meta)
    if "error" in meta:
        assert record.meta["error"]["type"] == meta["error"]["type"]
    assert sorted(record.arrays) == sorted(arrays)
    assert all(np.array_equal(record.arrays[k], arrays[k]) for k in arrays)
    assert np.array_equal(case.args[0], z) and z[0, 0] == 1000.0  # the case's own array untouched


def test_warnings_are_recorded_not_raised_even_under_an_error_filter():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record = call_case(_overflows, Case("f", "c", "d", (np.array([1000.0]),)))
    assert "error" not in record.meta
    assert record.meta["warnings"] and record.meta["warnings"][0].startswith("RuntimeWarning")


def test_float_rules_warn_on_overflow_and_stay_silent_on_underflow():
    with sandbox_float_rules() as caught:
        np.exp(np.array([-1e4]))
    assert caught == []
    with sandbox_float_rules() as caught:
        np.exp(np.array([1e4]))
    assert len(caught) == 1


def test_arguments_are_copied_positional_and_keyword():
    a, b = np.zeros(3), np.ones(2)
    args, kwargs = copy_arguments((a, 2.0), {"w": b})
    args[0][0] = kwargs["w"][0] = 7.0
    assert a[0] == 0.0 and b[0] == 1.0 and args[1] == 2.0


def test_outputs_are_a_tuple_of_plain_numeric_arrays():
    class Sub(np.ndarray):
        pass

    single = numeric_outputs(np.arange(3).view(Sub))
    assert len(single) == 1 and type(single[0]) is np.ndarray
    assert [o.item() for o in numeric_outputs((1.5, True))] == [1.5, True]
    with pytest.raises(TypeError):
        numeric_outputs(np.array(["a"]))
