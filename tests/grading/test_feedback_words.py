"""The words feedback may use: syntax errors from the grader's own compiler, load-time and call
errors in kit words unless every input was public, untrusted locations checked."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.course.cases import Case
from autograder.grading.evaluate import Context, evaluate_case, location
from autograder.grading.load_messages import MAX_CELL_COMPILE, runtime_errors, syntax_errors
from autograder.grading.redact import raised, warning_words
from autograder.sandbox.protocol import Record

CELLS = ["import numpy as np\n", "def softmax(z, axis=-1):\n    x = 1\n    raise ValueError(z)\n"]


def load(*entries) -> Record:
    return Record(meta={"kind": "load", "cells": list(entries)})


def test_syntax_errors_are_the_grader_s_own_compilation():
    cells = ["x = 1\n", "def f(:\n    pass\n"]
    assert syntax_errors(cells) == ['SyntaxError in code cell 2 ("def f(:"), line 1: invalid syntax']
    # What the sandbox claims about compiling is not what the student reads.
    forged = load({"cell": 0, "syntax_error": {"type": "X", "message": "Qz9LEAK", "line": 9}})
    assert syntax_errors(cells, forged) == syntax_errors(cells)


@pytest.mark.parametrize("source, words", [
    ("(" * 10_000, "too many nested parentheses"),
    ("-" * 100_000 + "1", "could not be compiled"),
    ("x = 1\0", "null bytes"),
])
def test_pathological_source_is_a_message_not_a_grader_crash(source, words):
    (message,) = syntax_errors([source])
    assert words in message


def test_a_cell_too_large_to_compile_here_relies_on_the_sandbox_report():
    huge = "x = (\n" + "1,\n" * (MAX_CELL_COMPILE // 3)
    assert syntax_errors([huge]) == []  # not compiled here (it would cost the grader ~250 bytes a byte)
    (message,) = syntax_errors([huge], load({"cell": 0, "syntax_error": {"message": "Qz9LEAK"}}))
    assert message.startswith("SyntaxError in code cell 1") and "Qz9LEAK" not in message


def test_load_errors_are_kit_words_where_hidden_inputs_were_readable():
    cells = CELLS + ["x = 1\n"] * 3
    report = load(
        {"cell": 0, "timeout": True, "error": {"type": "Qz9LEAK", "message": "Qz9LEAK"}},
        {"cell": 1, "error": {"type": "Secret_0_4f3a", "message": "Qz9LEAK 0.5", "cell": 1, "line": 3}},
        {"cell": 2, "error": {"type": "ValueError", "message": "Qz9LEAK", "cell": 1, "line": 10**15}},
        {"cell": True, "error": {"type": "MemoryError", "message": "", "memory": True}},
        {"cell": 4, "error": {"type": "KeyError", "message": "Qz9LEAK", "cell": 10**15}},
    )
    assert runtime_errors(report, cells, echo=False) == [
        'code cell 1 ("import numpy as np") did not finish within the time limit for loading',
        'while running code cell 2 ("def softmax(z, axis=-1):"), line 3: raised an exception',
        'while running code cell 3 ("x = 1") (at code cell 2 ("def softmax(z, axis=-1):")): raised ValueError',
        'while running code cell 5 ("x = 1"): raised KeyError',
    ]  # the entry at position 3 claims to be another cell's report: skipped


def test_many_failing_cells_show_a_few_messages_then_a_count():
    cells = ["raise KeyError\n"] * 40
    report = load(*({"cell": i, "error": {"type": "KeyError", "cell": i, "line": 1}} for i in range(40)))
    messages = runtime_errors(report, cells, echo=False)
    assert len(messages) == 6 and messages[-1] == "... and 35 more code cells failed as they ran"
    assert len(runtime_errors(report, cells, echo=True)) == 40


def test_load_errors_echo_the_submission_redacted_where_every_input_was_public():
    report = load({"cell": 0}, {"cell": 1, "error": {"type": "Secret_0_4f3a", "message": "bad 0.5", "cell": 1, "line": 3}})
    (message,) = runtime_errors(report, CELLS, echo=True)
    assert message.endswith("line 3: Secret_0_4f3a: bad #")


def test_location_shows_only_places_inside_the_student_s_code():
    assert location({"cell": 1, "line": 4}, CELLS).endswith(", line 4")
    assert location({"cell": 1, "line": 5}, CELLS) == 'code cell 2 ("def softmax(z, axis=-1):")'
    assert location({"cell": 1, "line": 0}, CELLS) == 'code cell 2 ("def softmax(z, axis=-1):")'
    assert location({"cell": 2, "line": 1}, CELLS) == ""
    assert location({"cell": -1}, CELLS) == "" and location({"cell": "1"}, CELLS) == ""
    assert location({"cell": 1, "line": 2}, None) == ""  # nothing to check against: nothing shown
    assert location({"cell": 0}, ["\x1b[2Jx = 1"]) == 'code cell 1 ("?[2Jx = 1")'


HIDDEN = Case("softmax", "hidden", "a hidden property", (np.zeros(3),), no_warnings=True)
PUBLIC = Case("softmax", "public", "a public property", (np.zeros(3),), public=True)
EXPECTED = (np.full(3, 1 / 3),)


def call(**meta) -> Record:
    return Record(meta={"kind": "call", "id": "c0000", **meta})


@pytest.mark.parametrize("error, hidden_words", [
    ({"type": "Secret_0_4f3a", "message": "Qz9LEAK"}, "raised an exception"),
    ({"type": "ZeroDivisionError", "message": "Qz9LEAK"}, "raised ZeroDivisionError"),
    ({"type": "NameError", "missing": True, "name": "Qz9LEAK"},
     "a function this test needs is not defined in the submission"),
    ({"type": "NameError", "missing": True, "name": "softmax"}, "softmax is not defined in the submission"),
    ({"type": "TypeError", "message": "returned Qz9LEAK, not a numeric array"},
     "returned something that is not a numeric array"),
])
def test_call_errors_in_kit_words(error, hidden_words):
    assert evaluate_case(HIDDEN, EXPECTED, call(error=error)).reason == hidden_words
    echoed = evaluate_case(HIDDEN, EXPECTED, call(error=error), context=Context(echo=True)).reason
    assert "Qz9LEAK" in echoed or "not a numeric array" in echoed or "softmax" in echoed


def test_counts_a_submission_sends_are_shown_only_when_small():
    reason = evaluate_case(HIDDEN, EXPECTED, call(n_results=4_607_182_418_800_017_408)).reason
    assert reason == "returned more than 16 values; expected one array"


def returned(case, value, echo=False, **meta) -> str:
    record = Record(meta={"kind": "call", "n_results": 1, "tuple": False, **meta},
                    arrays={"r0": np.asarray(value), "a0": np.zeros(3)})
    return evaluate_case(case, EXPECTED, record, context=Context(echo=echo)).reason


@pytest.mark.parametrize("case", [HIDDEN, PUBLIC])
def test_figures_of_chosen_outputs_are_not_read_back_where_hidden_inputs_were_readable(case):
    # Zeros read a hidden case's expected values back; anything plus a public case's expected
    # values reads back whatever the code chose to add (a hidden input of the same run).
    kit = returned(case, np.zeros(3))
    assert kit.startswith("values differ") and "0.333" not in kit and "largest" not in kit
    assert "largest error 0.333" in returned(case, np.zeros(3), echo=True)


def test_warnings_on_hidden_cases_name_only_known_categories():
    assert returned(HIDDEN, EXPECTED[0], warnings=["RuntimeWarning: overflow encountered in exp"]) == \
        "emitted a warning (RuntimeWarning: overflow encountered in exp)"
    assert returned(HIDDEN, EXPECTED[0], warnings=["RuntimeWarning: overflow encountered in Qz9LEAK"]) == \
        "emitted a warning (RuntimeWarning)"
    assert returned(HIDDEN, EXPECTED[0], warnings=["Secret_0_4f3a: Qz9LEAK"]) == "emitted a warning"
    assert returned(HIDDEN, EXPECTED[0], warnings={"0": 1}) == "emitted a warning"


def test_allow_lists_hold_builtin_names_only():
    import builtins

    from autograder.grading.redact import BUILTIN_EXCEPTIONS, BUILTIN_WARNINGS
    assert all(issubclass(getattr(builtins, name), BaseException) for name in BUILTIN_EXCEPTIONS)
    assert all(issubclass(getattr(builtins, name), Warning) for name in BUILTIN_WARNINGS)
    assert raised("Exception") == "raised an exception" and raised(["ValueError"]) == "raised an exception"
    assert warning_words(None) == "emitted a warning"


def test_shapes_a_submission_chooses_freely_are_not_echoed_where_hidden_inputs_were_readable():
    assert returned(HIDDEN, np.zeros((3, 1))) == "returned shape (3, 1); expected shape (3,)"
    chosen = np.zeros((0, 4_607_182, 418_800, 17_408))  # empty: any dimensions fit the budget
    assert returned(HIDDEN, chosen) == "returned an array of another shape; expected shape (3,)"
    assert "4607182" in returned(PUBLIC, chosen, echo=True)
    assert "4607182" not in returned(PUBLIC, chosen)


def test_a_check_s_figures_are_redacted_where_hidden_inputs_were_readable():
    def check(case, got, expected):
        return f"standard deviation {float(got[0][0]) + 0.5:.4f} for 3 layers"

    record = Record(meta={"kind": "call", "n_results": 1, "tuple": False}, arrays={"r0": np.zeros(3)})
    assert evaluate_case(HIDDEN, EXPECTED, record, check).reason == "standard deviation # for 3 layers"
    assert evaluate_case(PUBLIC, EXPECTED, record, check).reason == "standard deviation # for 3 layers"
    assert evaluate_case(PUBLIC, EXPECTED, record, check, Context(echo=True)).reason == \
        "standard deviation 0.5000 for 3 layers"


def test_a_check_that_breaks_on_odd_outputs_fails_the_case_not_the_grader():
    def check(case, got, expected):
        return "fine" if got[0][1] > 0 else None  # a 0-d output has no [1]

    record = Record(meta={"kind": "call", "n_results": 1, "tuple": False}, arrays={"r0": np.zeros(())})
    result = evaluate_case(HIDDEN, EXPECTED, record, check)
    assert not result.passed and "cannot judge" in result.reason
