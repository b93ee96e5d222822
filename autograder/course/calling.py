"""Calling a function on a case's arguments the way the sandbox runner does, in the grader.

The reference (for expected values), a common mistake (for its profile) and an exam's
distractors are called in the grader's own process; each call follows the rules of
``autograder.sandbox.runner.run_call``, so an output computed here is the output the same
code would have returned in the sandbox:

- every array argument (positional or keyword) is a fresh copy, so a function that
  modifies its input cannot change the case, or the next call's arguments;
- overflow, division by zero and invalid operations warn (``np.errstate``), underflow to 0
  is silent (expected from exp of very negative numbers), and every warning is recorded,
  never printed or raised, whatever the process's warning filters;
- a result is a tuple of outputs (a bare result is a 1-tuple), each a numeric array
  (bool, int, uint or float dtype), copied to a plain ``ndarray``.

The runner cannot import this module (it stays stdlib + NumPy, alone in the sandbox);
``tests/course/test_calling.py`` pins the two to the same behaviour.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..sandbox.protocol import Record
from .cases import Case

MAX_RESULTS = 16  # outputs kept per call, as in the runner
MAX_WARNINGS = 5
MAX_MESSAGE = 300  # characters of a warning or error message, as in the runner


def _short(text) -> str:
    text = str(text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def copy_arguments(args, kwargs=None) -> tuple[list[Any], dict[str, Any]]:
    """(args, kwargs) with every array replaced by a copy; scalars as they are."""
    def copy(value):
        return np.array(value, copy=True) if isinstance(value, np.ndarray) else value

    return [copy(a) for a in args], {k: copy(v) for k, v in (kwargs or {}).items()}


@contextmanager
def sandbox_float_rules() -> Iterator[list]:
    """The runner's warning and floating-point settings; yields the list of caught warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
            yield caught


def numeric_outputs(result) -> tuple[np.ndarray, ...]:
    """A function's result as the runner returns it: a tuple of plain numeric arrays.

    Raises TypeError for an output that is not numeric (a string, an object array)."""
    results = tuple(result) if isinstance(result, tuple) else (result,)
    outputs = []
    for item in results[:MAX_RESULTS]:
        array = np.asarray(item)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"returned {type(item).__name__}, not a numeric array")
        outputs.append(np.array(array, copy=True, subok=False))
    return tuple(outputs)


def call_case(function: Callable, case: Case) -> Record:
    """``function(*case.args, **case.kwargs)`` as one sandbox call record: meta "warnings",
    "tuple", "n_results" and arrays r0.. (outputs), a0.. (the array arguments after the
    call); or meta "error" (type, message) and no arrays when it raised."""
    args, kwargs = copy_arguments(case.args, case.kwargs)
    given = list(args) + list(kwargs.values())
    meta: dict = {"kind": "call"}
    try:
        with sandbox_float_rules() as caught:
            result = function(*args, **kwargs)
        report = {"warnings": [_short(f"{w.category.__name__}: {w.message}") for w in caught[:MAX_WARNINGS]],
                  "tuple": isinstance(result, tuple),
                  "n_results": len(result) if isinstance(result, tuple) else 1}
        arrays = {f"r{i}": output for i, output in enumerate(numeric_outputs(result))}
        for i, item in enumerate(given):
            if isinstance(item, np.ndarray):
                arrays[f"a{i}"] = np.array(item, copy=True, subok=False)
        meta.update(report)  # as the runner: an error leaves only the error in the record
    except Exception as exc:  # noqa: BLE001 - the called code may raise anything, like a student's
        meta["error"] = {"type": type(exc).__name__, "message": _short(exc)}
        arrays = {}
    return Record(meta=meta, arrays=arrays)
