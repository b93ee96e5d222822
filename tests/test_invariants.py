"""Every assignment's invariants: reference full marks, the completed sample full marks, stubs
zero, each mistake loses points on the function it breaks and only there, every question has
public and hidden cases, stubs match the reference's signatures, and nothing hidden reaches
students. A new assignment gets all of these by being in ``available_assignments()``.

a5_finetune is graded by its own tests (tests/test_a5_finetune.py): one of its grades takes
seconds and its mistakes are graded without the multi-second case; the static invariants here
cover it too. Every grade here belongs to the default run (CI): these are the kit's invariants."""

from __future__ import annotations

import ast
import inspect

import pytest
from invariant_helpers import (
    assert_build_layout,
    assert_student_folder_is_clean,
    failed_cases,
    grade_source,
    stub_functions,
)

from autograder.assignment import ASSIGNMENTS_DIR, SOLUTIONS_DIR, available_assignments, load_assignment
from autograder.build import build_assignment, find_leaks
from autograder.grade import GRADED, grade_for_assignment
from autograder.sandbox import SandboxSettings

ALL = tuple(available_assignments())
ASSIGNMENTS = {name: load_assignment(name) for name in ALL}
GRADED_ELSEWHERE = {"a5_finetune"}
GRADED_HERE = [name for name in ALL if name not in GRADED_ELSEWHERE]


def _mistake_params():
    return [pytest.param(name, m.name, id=f"{name}-{m.name}")
            for name in GRADED_HERE for m in ASSIGNMENTS[name].mistakes]


def _reference_source(assignment) -> str:
    return (assignment.hidden_dir / "reference.py").read_text()


@pytest.mark.parametrize("name", GRADED_HERE)
def test_reference_source_earns_full_marks(name):
    assignment = ASSIGNMENTS[name]
    result = grade_source(assignment, "reference", _reference_source(assignment))
    assert failed_cases(result) == {}
    assert (result.status, result.score) == (GRADED, assignment.max_score)


@pytest.mark.parametrize("name", GRADED_HERE)
def test_completed_notebook_sample_earns_full_marks(name):
    assignment = ASSIGNMENTS[name]
    result = grade_for_assignment(assignment, SOLUTIONS_DIR / name / "samples" / "ada.ipynb", SandboxSettings())
    assert failed_cases(result) == {}
    assert (result.status, result.score) == (GRADED, assignment.max_score)


@pytest.mark.parametrize("name", GRADED_HERE)
def test_stub_notebook_earns_zero_with_not_implemented_feedback(name):
    assignment = ASSIGNMENTS[name]
    result = grade_for_assignment(assignment, assignment.student_notebook, SandboxSettings())
    assert result.status == GRADED
    assert result.score == 0
    assert all("NotImplementedError" in r.reason for r in result.case_results)


@pytest.mark.parametrize(("name", "mistake_name"), _mistake_params())
def test_mistake_loses_points_only_on_the_function_it_breaks(name, mistake_name):
    assignment = ASSIGNMENTS[name]
    mistake = next(m for m in assignment.mistakes if m.name == mistake_name)
    result = grade_source(assignment, mistake.name, mistake.submission_source(assignment.reference))
    full = assignment.question_points()
    got = result.question_scores(assignment.questions)
    assert result.status == GRADED
    assert got[mistake.question] < full[mistake.question], f"{mistake.name} was not caught"
    others = {q: got[q] for q in assignment.questions if q != mistake.question}
    assert others == {q: full[q] for q in others}, f"{mistake.name} cost points elsewhere"


@pytest.mark.parametrize("name", ALL)
def test_every_question_has_public_and_hidden_cases(name):
    assignment = ASSIGNMENTS[name]
    for question in assignment.questions:
        cases = [c for c in assignment.cases if c.question == question]
        assert any(c.public for c in cases), question
        assert any(not c.public for c in cases), question


@pytest.mark.parametrize("name", ALL)
def test_stub_notebook_matches_reference_signatures_and_only_raises(name):
    assignment = ASSIGNMENTS[name]
    stubs = stub_functions(assignment)
    assert set(stubs) == set(assignment.questions)
    for question, node in stubs.items():
        body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        assert len(body) == 1 and isinstance(body[0], ast.Raise), f"{question} stub does more than raise"
        assert "NotImplementedError" in ast.unparse(body[0]) and question in ast.unparse(body[0])
        assert ast.get_docstring(node), f"{question} stub has no docstring"
        namespace: dict = {}
        exec(compile(ast.Module([node], []), "<stub>", "exec"), namespace)
        stub_signature = inspect.signature(namespace[question])
        assert str(stub_signature) == str(inspect.signature(getattr(assignment.reference, question))), question


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """built(name) -> the assignment's build, once per module."""
    cache = {}

    def build(name):
        if name not in cache:
            cache[name] = build_assignment(ASSIGNMENTS[name], tmp_path_factory.mktemp(f"build_{name}"))
        return cache[name]

    return build


@pytest.mark.parametrize("name", GRADED_HERE)
def test_build_writes_student_and_autograder_folders(built, name):
    assert_build_layout(ASSIGNMENTS[name], built(name))


@pytest.mark.parametrize("name", GRADED_HERE)
def test_nothing_hidden_reaches_the_student_folder(built, name):
    assert_student_folder_is_clean(ASSIGNMENTS[name], built(name).student_dir)


@pytest.mark.parametrize("name", ALL)
def test_student_assignment_folder_in_repo_has_no_hidden_files(name):
    files = {p.name for p in (ASSIGNMENTS_DIR / name).rglob("*")}
    assert not files & {"reference.py", "spec.py", "mistakes.py", "checks.py", "oracles.py", "probes.py"}


# --- a1_softmax's own (a1 has no test file of its own) ---------------------------------------

A1 = ASSIGNMENTS["a1_softmax"]


def test_a1_max_score():
    assert A1.max_score == 48


# The case that separates each mistake from the right answer: if a case is weakened,
# the mistake it exists for slips through and this table says which.
SEPARATING_CASE = {
    "unstable_softmax": "softmax/scores_1e3",
    "global_max_softmax": "softmax/row_wise_max",
    "softmax_ignores_axis": "softmax/axis_0",
    "softmax_in_place": "softmax/input_unchanged",
    "softmax_integer_output": "softmax/integer_input",
    "log_of_softmax": "log_softmax/underflowing_softmax",
    "unstable_log_softmax": "log_softmax/scores_1e4",
    "naive_sigmoid": "sigmoid/no_overflow_warning",
    "one_minus_sigmoid": "sigmoid/tiny_probabilities",
    "argmax_over_samples": "predict_multiclass/tall_batch",
    "ties_to_last_index": "predict_multiclass/ties",
    "threshold_greater_equal": "predict_multilabel/exactly_at_threshold",
    "boolean_labels": "predict_multilabel/integer_dtype",
    "ignores_threshold": "predict_multilabel/custom_threshold",
}


def test_every_a1_mistake_has_a_separating_case():
    assert set(SEPARATING_CASE) == {m.name for m in A1.mistakes}
    for mistake in A1.mistakes:
        result = grade_source(A1, mistake.name, mistake.submission_source(A1.reference))
        failed = failed_cases(result)
        assert SEPARATING_CASE[mistake.name] in failed, (mistake.name, sorted(failed))


def test_leak_detector_catches_reference_code_and_hidden_data(tmp_path):
    leaky = tmp_path / "student"
    leaky.mkdir()
    (leaky / "helpers.py").write_text((SOLUTIONS_DIR / "a1_softmax" / "reference.py").read_text()
                                      .replace('"""', "#"))
    hidden_case = next(c for c in A1.cases if not c.public and c.name == "random_batch")
    (leaky / "data.txt").write_text(repr(hidden_case.args[0].tolist()))
    leaks = find_leaks(A1, leaky)
    assert any("reference code" in line for line in leaks)
    assert any("data of hidden case" in line for line in leaks)
