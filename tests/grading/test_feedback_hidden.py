"""Feedback for hidden cases echoes nothing the submission wrote.

Each leaky submission below tries to carry hidden inputs out through its own words: an
exception class it names, an exception message, a warning, printed output, an error at load
time. Graded through the real sandbox next to its honest twin (the same wrong code, without
the leak), it must score the same and show none of its strings; in the self-check (public
inputs only) the same submission still gets a useful, redacted message.
"""

from __future__ import annotations

import json

import pytest
from cohort_helpers import hidden_input_fragments

from autograder.grading.grade import TAMPERED, grade_for_assignment
from autograder.outputs.feedback import feedback_text
from autograder.publish.check import run_check
from autograder.publish.gradescope import GradescopeOptions, results_json
from autograder.sandbox import SandboxSettings

MARK = "Qz9LEAK"  # in every string a leaky submission writes
SECRET_CLASS = "Secret_0_4f3a"

# Hidden values as letters (so redacting numbers cannot catch them), read from the inputs.
READER = f'''
import sys, numpy as _np

def _letters(values):
    digits = "".join(ch for ch in repr([float(v) for v in _np.ravel(values)[:4]]) if ch.isdigit())
    return "{MARK}" + "".join("abcdefghij"[int(d)] for d in digits)[:60] + " 0.123456"

def _inputs():
    folder = sys.argv[sys.argv.index("--in") + 1]
    with _np.load(folder + "/arrays.npz") as npz:
        return {{key: npz[key] for key in npz.files}}
'''

# variant: (what replaces the reference's function, honest twin)
LEAKS = {
    "exception_class": (
        f"class {SECRET_CLASS}(Exception):\n    pass\n\n"
        f"def softmax(z, axis=-1):\n    raise {SECRET_CLASS}(_letters(z))\n",
        "class Plain(Exception):\n    pass\n\ndef softmax(z, axis=-1):\n    raise Plain('no')\n",
    ),
    "exception_message": (
        "def log_softmax(z, axis=-1):\n    raise ValueError(_letters(z) + repr(z.tolist()))\n",
        "def log_softmax(z, axis=-1):\n    raise ValueError('no')\n",
    ),
    "warning": (
        f"import warnings\nclass {SECRET_CLASS}(UserWarning):\n    pass\n\n_sigmoid = sigmoid\n"
        f"def sigmoid(z):\n    warnings.warn(_letters(z), {SECRET_CLASS})\n"
        "    warnings.warn(_letters(z) + repr(z.tolist()))\n    return _sigmoid(z)\n",
        "import warnings\n_sigmoid = sigmoid\n"
        "def sigmoid(z):\n    warnings.warn('no')\n    return _sigmoid(z)\n",
    ),
    "printed": (
        "import os\ndef predict_multilabel(probs, threshold=0.5):\n"
        "    print(_letters(probs), probs.tolist(), flush=True)\n    os._exit(1)\n",
        "import os\ndef predict_multilabel(probs, threshold=0.5):\n    os._exit(1)\n",
    ),
    "load_time": (
        f"class {SECRET_CLASS}(Exception):\n    pass\n\n"
        "_hidden = sorted(_inputs().items())[-1][1]\n"
        f"raise {SECRET_CLASS}(_letters(_hidden) + repr(_hidden.tolist()))\n",
        "raise RuntimeError('no')\n",
    ),
}


def shown(result, a1) -> list[str]:
    text = feedback_text(result, title="a1", questions=a1.questions, question_points=a1.question_points())
    return [text, *result.messages, *(r.reason for r in result.case_results)]


@pytest.fixture(scope="module")
def graded(a1, reference_source, tmp_path_factory):
    """variant -> (leaky result, twin result, leaky path), graded once per module."""
    folder = tmp_path_factory.mktemp("leaks")
    folder.chmod(0o755)
    results = {}
    for variant, (leak, twin) in LEAKS.items():
        paths = []
        for kind, body in (("leaky", leak), ("twin", twin)):
            path = folder / f"{variant}_{kind}.py"
            path.write_text(reference_source + READER + body)
            paths.append(path)
        results[variant] = (grade_for_assignment(a1, paths[0], SandboxSettings()),
                            grade_for_assignment(a1, paths[1], SandboxSettings()), paths[0])
    return results


@pytest.mark.parametrize("variant", sorted(LEAKS))
def test_hidden_feedback_shows_none_of_the_submission_s_words(graded, a1, variant):
    leaky, _, _ = graded[variant]
    texts = shown(leaky, a1)
    for secret in (MARK, SECRET_CLASS, "last lines your code printed", *hidden_input_fragments(a1)):
        assert not any(secret in text for text in texts), (secret, leaky.messages)


@pytest.mark.parametrize("variant", sorted(LEAKS))
def test_the_leak_scores_as_its_honest_twin(graded, variant):
    leaky, twin, _ = graded[variant]
    assert (leaky.status, leaky.score) == (twin.status, twin.score)
    assert [r.passed for r in leaky.case_results] == [r.passed for r in twin.case_results]


def test_hidden_feedback_still_names_what_went_wrong(graded):
    reasons = {variant: [r.reason for r in graded[variant][0].case_results if not r.passed]
               for variant in graded}
    assert all(r.startswith("raised an exception at code cell 1") for r in reasons["exception_class"])
    assert all(r.startswith("raised ValueError at code cell 1") for r in reasons["exception_message"])
    assert reasons["warning"] == ["emitted a warning"]  # sigmoid/no_overflow_warning
    assert any("while running code cell 1" in m and "raised an exception" in m
               for m in graded["load_time"][0].messages)


@pytest.mark.parametrize("variant, expected", [
    ("exception_class", f"raised {SECRET_CLASS}: {MARK}"),
    ("exception_message", f"raised ValueError: {MARK}"),
    ("printed", "last lines your code printed"),
    ("load_time", f"{SECRET_CLASS}: {MARK}"),
])
def test_the_self_check_shows_the_submission_s_words_redacted(graded, variant, expected):
    _, text = run_check("a1_softmax", graded[variant][2])
    assert expected in text
    assert "0.123456" not in text and " #" in text  # numbers redacted


def test_a_forged_record_in_the_real_sandbox_is_tampering(a1, reference_source, write_py):
    # sigmoid's first call writes a record for the first call again, straight to the
    # results pipe, then returns the right answer.
    forge = '''
import json as _json, os as _os, struct as _struct, sys as _sys
_sigmoid, _sent = sigmoid, []
def sigmoid(z):
    if not _sent:
        _sent.append(1)
        head = _json.dumps({"kind": "call", "id": "c0000", "n_results": 1, "tuple": False}).encode()
        fd = int(_sys.argv[_sys.argv.index("--results-fd") + 1])
        _os.write(fd, b"AGR1" + _struct.pack("<IQ", len(head), 0) + head)
    return _sigmoid(z)
'''
    result = grade_for_assignment(a1, write_py("forger", reference_source + forge), SandboxSettings())
    assert result.status == TAMPERED
    before_sigmoid = sum(1 for c in a1.cases if c.question in ("softmax", "log_softmax"))
    assert result.score == before_sigmoid
    assert all(r.passed == (r.case.question in ("softmax", "log_softmax")) for r in result.case_results)


@pytest.mark.parametrize("variant", sorted(LEAKS))
def test_gradescope_results_show_none_of_the_submission_s_words(graded, a1, variant):
    payload = json.dumps(results_json(graded[variant][0], title="a1", questions=a1.questions,
                                      options=GradescopeOptions(hidden_tests="visible")))
    for secret in (MARK, SECRET_CLASS, "last lines your code printed", *hidden_input_fragments(a1)):
        assert secret not in payload, secret
