"""More attacks on the grade, by a student who has read the kit's source.

Each attack is graded through the real sandbox with the kit's own grading function, next to
an honest twin (the same wrong code without the cheat) or next to itself with a different
secret: feedback on hidden cases must not depend on what the submission read from the
hidden inputs, and a cheat must not earn more than its twin.

========================  =====================================================================
check_message_integers    a statistical check's sentence names the shapes of what came back
                          ("the weights have shape (0, 1815068268)"); integers were not
                          redacted, so an empty array whose dimensions are a hidden seed
                          carried it into the feedback. Fixed in ``evaluate``: on hidden runs
                          a check's sentence keeps only numbers the kit itself knows.
error_line                "raised ValueError at code cell 1, line 20126": the line an error is
                          placed at is chosen by code that read the hidden inputs. Fixed in
                          ``evaluate``: on hidden runs only the cell defining the function.
history_rewrite (xfail)   a6's early-stopping case trusts the submission's history; code
                          that keeps the last epoch rewrites the history to agree with it.
public_table              stubs that answer the public cases from the table the student
                          folder ships (their inputs and expected values). Fixed in
                          ``course.cases``: a public case counts only with a hidden twin.
no_warnings (xfail)       the naive sigmoid with its overflow warning silenced.
========================  =====================================================================
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from autograder.course.assignment import load_assignment
from autograder.grading.grade import GRADED, grade_submission
from autograder.sandbox import SandboxSettings


def _grade(assignment, questions, path):
    cases = tuple(c for c in assignment.cases if c.question in questions)
    return grade_submission(path, cases=cases, expected=assignment.expected,
                            settings=SandboxSettings().with_default_limits(assignment.limits),
                            probes_and_checks=assignment.probes_and_checks)


def _mistake_source(assignment, name):
    return next(m for m in assignment.mistakes if m.name == name).submission_source(assignment.reference)


# --- a check's sentence as a channel for hidden inputs ---------------------------------------

# Reads the hidden seed of its own call from the grader's calls.json and returns an empty array
# whose second dimension is that seed plus OFFSET (an empty array may have any dimensions, and
# costs nothing against the result budget). init_mlp does the same through its first layer.
SEED_AS_SHAPE = '''
import json as _json
import os as _os
import sys as _sys

import numpy as np

OFFSET = {offset}


def _calls():
    inputs = _sys.argv[_sys.argv.index("--in") + 1]
    with open(_os.path.join(inputs, "calls.json")) as f:
        return _json.load(f)


def _secret(function, first_args):
    for call in _calls():
        values = [ref.get("value") for ref in call["args"]]
        if call["function"] == function and values[:len(first_args)] == list(first_args):
            return int(values[len(first_args)]) + OFFSET
    return 7


def kaiming_normal(fan_out, fan_in, rng, negative_slope=0.0):
    return np.zeros((0, _secret("kaiming_normal", (fan_out, fan_in))))


def init_mlp(sizes, rng):
    inputs = _sys.argv[_sys.argv.index("--in") + 1]
    with np.load(_os.path.join(inputs, "arrays.npz")) as npz:
        arrays = {key: npz[key] for key in npz.files}
    seed = 7
    for call in _calls():
        first, second = (call["args"] + [{}, {}])[:2]
        if (call["function"] == "init_mlp" and "value" in second
                and arrays[first["array"]].tolist() == [int(s) for s in sizes]):
            seed = int(second["value"]) + OFFSET
    return [(np.zeros((0, seed)), np.zeros(0)) for _ in sizes[1:]]
'''

LEAK_QUESTIONS = ("kaiming_normal", "init_mlp")


@pytest.fixture(scope="module")
def a3():
    return load_assignment("a3_init")


@pytest.fixture(scope="module")
def seed_leaks(a3, tmp_path_factory):
    """{offset: SubmissionResult} of the seed-as-shape attack with two different secrets."""
    folder = tmp_path_factory.mktemp("seed_leak")
    results = {}
    for offset in (0, 1):
        path = folder / f"leak_{offset}.py"
        path.write_text(SEED_AS_SHAPE.replace("{offset}", str(offset)))
        results[offset] = _grade(a3, LEAK_QUESTIONS, path)
    return results


def _hidden_reasons(result):
    return {r.case.case_id: r.reason for r in result.case_results if not r.case.public}


def test_hidden_seeds_do_not_reach_the_check_sentences(seed_leaks, a3):
    shown = " ".join(_hidden_reasons(seed_leaks[0]).values())
    seeds = {str(c.args[2]) for c in a3.cases if c.question == "kaiming_normal" and not c.public}
    seeds |= {str(c.args[1]) for c in a3.cases if c.question == "init_mlp" and not c.public}
    assert not {s for s in seeds if s in shown}, shown


def test_hidden_feedback_does_not_depend_on_the_secret_encoded(seed_leaks):
    """Two runs that differ only in the number smuggled out read the same, word for word."""
    assert seed_leaks[0].status == seed_leaks[1].status == GRADED
    assert _hidden_reasons(seed_leaks[0]) == _hidden_reasons(seed_leaks[1])


def test_the_leak_earns_nothing(seed_leaks):
    assert seed_leaks[0].score == 0


def test_a_wrong_shape_is_still_described_with_the_kit_s_numbers(a3, tmp_path):
    """The fix keeps the useful sentence: a transposed draw shows both shapes, which are the
    case's own (its description states them)."""
    path = tmp_path / "transposed.py"
    path.write_text(_mistake_source(a3, "kaiming_normal_transposed"))
    result = _grade(a3, ("kaiming_normal",), path)
    reasons = _hidden_reasons(result)
    assert reasons["kaiming_normal/more_inputs_than_outputs"] == (
        "the weights have shape (512, 256); expected (256, 512) = (fan_out, fan_in)")


def test_kit_numbers_exclude_what_only_the_submission_chose():
    from autograder.grading.evaluate import kit_numbers

    case = next(c for c in load_assignment("a3_init").cases if c.case_id == "kaiming_normal/leaky_slope")
    known = kit_numbers(case, (np.zeros((300, 400)),))
    assert {300, 400, 120000, 1, 2} <= known
    assert int(case.args[2]) not in known  # the hidden seed: an input, not an expected shape


# --- where an error happened, as a channel -------------------------------------------------

# A cell of 20,000 blank lines, and a softmax that raises from line 1 + (a number it read from
# the hidden inputs + OFFSET): per failing case, the line number told feedback ~14 bits.
LINE_AS_DATA = '"""' + "\n" * 20000 + '"""' + '''
import numpy as np


def softmax(z, axis=-1):
    line = 1 + (int(abs(float(np.ravel(z)[0])) * 1000) + {offset}) % 19999
    exec(compile("\\n" * (line - 1) + "raise ValueError", "<cell 0>", "exec"))
'''


@pytest.fixture(scope="module")
def line_leaks(tmp_path_factory):
    a1 = load_assignment("a1_softmax")
    folder = tmp_path_factory.mktemp("line_leak")
    results = {}
    for offset in (0, 7):
        path = folder / f"lines_{offset}.py"
        path.write_text(LINE_AS_DATA.replace("{offset}", str(offset)))
        results[offset] = _grade(a1, ("softmax",), path)
    return results


def test_error_lines_do_not_carry_what_the_code_read(line_leaks):
    assert _hidden_reasons(line_leaks[0]) == _hidden_reasons(line_leaks[7])
    assert not any(", line " in reason for reason in _hidden_reasons(line_leaks[0]).values())


def test_an_error_is_still_placed_in_the_cell_defining_the_function(line_leaks):
    reasons = set(_hidden_reasons(line_leaks[0]).values())
    assert reasons == {'raised ValueError at code cell 1 (""""")'}, reasons


# --- a6: early stopping judged on the submission's own history ------------------------------

# The catalogued mistake (returns the last epoch's parameters), with its history made to agree:
# the loss of the parameters it returns is computed on the validation split it was given and
# becomes the minimum of history["val_loss"].
HISTORY_REWRITE = '''

_keeps_last = train_mlp


def train_mlp(sizes, data, rng, epochs, lr, batch_size, weight_decay, patience):
    params, history = _keeps_last(sizes, data, rng, epochs, lr, batch_size, weight_decay, patience)
    a = np.asarray(data["x_val"], dtype=np.float64)
    for index, (W, b) in enumerate(params):
        a = a @ W.T + b
        if index < len(params) - 1:
            a = np.maximum(a, 0.0)
    shifted = a - a.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    y = np.asarray(data["y_val"], dtype=np.int64)
    loss = float(-np.mean(log_p[np.arange(len(y)), y]))
    history["val_loss"] = [max(v, loss + 1e-3) for v in history["val_loss"][:-1]] + [loss]
    history["best_epoch"] = len(history["val_loss"]) - 1
    return params, history
'''


@pytest.mark.xfail(strict=True, reason="a6's early_stopping case rests on the history the submission "
                   "reports: a run that keeps the last epoch and rewrites its history passes (2 points). "
                   "Judging it needs data the sandbox cannot forge (see the report), a change to a6's design.")
def test_rewriting_the_history_does_not_pass_early_stopping(tmp_path):
    a6 = load_assignment("a6_mlp")
    twin = _mistake_source(a6, "early_stopping_keeps_last")
    paths = {}
    for name, source in (("twin", twin), ("cheat", twin + textwrap.dedent(HISTORY_REWRITE))):
        paths[name] = tmp_path / f"{name}.py"
        paths[name].write_text(source)
    graded = {name: _grade(a6, ("train_mlp",), path) for name, path in paths.items()}
    early = {name: next(r for r in result.case_results if r.case.name == "early_stopping")
             for name, result in graded.items()}
    assert not early["twin"].passed, early["twin"].reason
    assert graded["cheat"].score <= graded["twin"].score, early["cheat"].reason



# --- public cases answered from the student folder's own expected values -----------------------

# Stubs, plus a table of the public cases as the student folder ships them (inputs and expected
# values, tests/public_cases.json): each function answers a public input from the table.
LOOKUP = '''
import numpy as np

_TABLE = {table}


def _answer(name, *args):
    for function, inputs, output in _TABLE:
        if function == name and len(inputs) == len(args) and all(
                np.shape(a) == np.shape(b) and np.array_equal(a, b) for a, b in zip(inputs, args)):
            return np.array(output)
    raise NotImplementedError(name)


def softmax(z, axis=-1):
    return _answer("softmax", z)


def log_softmax(z, axis=-1):
    return _answer("log_softmax", z)


def sigmoid(z):
    return _answer("sigmoid", z)


def predict_multiclass(probs):
    return _answer("predict_multiclass", probs)


def predict_multilabel(probs, threshold=0.5):
    return _answer("predict_multilabel", probs)
'''


def test_answering_public_cases_from_a_table_earns_nothing(tmp_path):
    a1 = load_assignment("a1_softmax")
    table = [(c.question, [a.tolist() for a in c.args], a1.expected[c.case_id][0].tolist())
             for c in a1.cases if c.public and not c.kwargs]
    stubs = tmp_path / "stubs.py"
    stubs.write_text(LOOKUP.replace("{table}", "[]"))
    lookup = tmp_path / "lookup.py"
    lookup.write_text(LOOKUP.replace("{table}", repr(table)))
    twin, cheat = (_grade(a1, a1.questions, path) for path in (stubs, lookup))
    assert twin.score == 0, [r.reason for r in twin.case_results if r.passed]
    assert cheat.score <= twin.score, sorted(r.case.case_id for r in cheat.case_results if r.passed)


# --- "no warning" is the sandbox's own report ---------------------------------------------------

# The catalogued naive sigmoid, 1 / (1 + exp(-z)), is exact at z = -1000 too (1 / inf = 0): only
# its overflow warning tells it from a stable one. Silenced (np.errstate here; emptying the
# runner's list of caught warnings, found in the caller's frame, does the same), it passes.
QUIET = '''

import numpy as _np

_naive = sigmoid


def sigmoid(z):
    with _np.errstate(all="ignore"):
        return _naive(z)
'''


@pytest.mark.xfail(strict=True, reason="a no_warnings case awards its point on the sandbox's report that "
                   "no warning was caught; code that silences its warnings (or empties the runner's list) "
                   "passes a1's sigmoid/no_overflow_warning with the naive formula. Data cannot show it: "
                   "such a case needs inputs where the naive formula's values are wrong too.")
def test_silencing_the_overflow_warning_does_not_pass(tmp_path):
    a1 = load_assignment("a1_softmax")
    twin = _mistake_source(a1, "naive_sigmoid")
    paths = {"twin": tmp_path / "twin.py", "quiet": tmp_path / "quiet.py"}
    paths["twin"].write_text(twin)
    paths["quiet"].write_text(twin + QUIET)
    twin_result, quiet_result = (_grade(a1, ("sigmoid",), paths[n]) for n in ("twin", "quiet"))
    assert twin_result.score < sum(c.points for c in a1.cases if c.question == "sigmoid")
    assert quiet_result.score <= twin_result.score
