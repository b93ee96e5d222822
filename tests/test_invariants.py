"""The assignment's invariants: reference full marks, stubs zero, each mistake loses
points on the function it breaks and only there, nothing hidden reaches students."""

from __future__ import annotations

import ast
import inspect

import pytest
from invariant_helpers import assert_build_layout, assert_student_folder_is_clean, stub_functions

from autograder.assignment import ASSIGNMENTS_DIR, SOLUTIONS_DIR, available_assignments, load_assignment
from autograder.build import build_assignment, find_leaks
from autograder.grade import GRADED, grade_for_assignment
from autograder.sandbox import SandboxSettings

A1 = load_assignment("a1_softmax")


def test_reference_source_earns_full_marks(a1, write_py, reference_source):
    result = grade_for_assignment(a1, write_py("reference", reference_source), SandboxSettings())
    failed = [(r.case.case_id, r.reason) for r in result.case_results if not r.passed]
    assert failed == []
    assert result.status == GRADED
    assert result.score == a1.max_score == 48


def test_completed_notebook_sample_earns_full_marks(a1):
    result = grade_for_assignment(a1, SOLUTIONS_DIR / "a1_softmax" / "samples" / "ada.ipynb", SandboxSettings())
    assert (result.status, result.score) == (GRADED, a1.max_score)


def test_stub_notebook_earns_zero_with_not_implemented_feedback(a1):
    result = grade_for_assignment(a1, a1.student_notebook, SandboxSettings())
    assert result.status == GRADED
    assert result.score == 0
    assert all("NotImplementedError" in r.reason for r in result.case_results)


@pytest.mark.parametrize("mistake", A1.mistakes, ids=lambda m: m.name)
def test_mistake_loses_points_only_on_the_function_it_breaks(a1, write_py, mistake):
    path = write_py(mistake.name, mistake.submission_source(a1.reference))
    result = grade_for_assignment(a1, path, SandboxSettings())
    full = a1.question_points()
    got = result.question_scores(a1.questions)
    assert result.status == GRADED
    assert got[mistake.question] < full[mistake.question], f"{mistake.name} was not caught"
    others = {q: got[q] for q in a1.questions if q != mistake.question}
    assert others == {q: full[q] for q in others}, f"{mistake.name} cost points elsewhere"


def test_every_question_has_public_and_hidden_cases(a1):
    for question in a1.questions:
        cases = [c for c in a1.cases if c.question == question]
        assert any(c.public for c in cases), question
        assert any(not c.public for c in cases), question


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


def test_every_mistake_has_a_separating_case(a1, write_py):
    assert set(SEPARATING_CASE) == {m.name for m in a1.mistakes}
    for mistake in a1.mistakes:
        path = write_py(mistake.name, mistake.submission_source(a1.reference))
        result = grade_for_assignment(a1, path, SandboxSettings())
        failed = {r.case.case_id for r in result.case_results if not r.passed}
        assert SEPARATING_CASE[mistake.name] in failed, (mistake.name, sorted(failed))


@pytest.mark.parametrize("name", available_assignments())
def test_stub_notebook_matches_reference_signatures_and_only_raises(name):
    assignment = load_assignment(name)
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
    return build_assignment(A1, tmp_path_factory.mktemp("build"))


def test_build_writes_student_and_autograder_folders(built):
    assert_build_layout(A1, built)


def test_nothing_hidden_reaches_the_student_folder(built):
    assert_student_folder_is_clean(A1, built.student_dir)


def test_leak_detector_catches_reference_code_and_hidden_data(built, tmp_path):
    leaky = tmp_path / "student"
    leaky.mkdir()
    (leaky / "helpers.py").write_text((SOLUTIONS_DIR / "a1_softmax" / "reference.py").read_text()
                                      .replace('"""', "#"))
    hidden_case = next(c for c in A1.cases if not c.public and c.name == "random_batch")
    (leaky / "data.txt").write_text(repr(hidden_case.args[0].tolist()))
    leaks = find_leaks(A1, leaky)
    assert any("reference code" in line for line in leaks)
    assert any("data of hidden case" in line for line in leaks)


def test_student_assignment_folder_in_repo_has_no_hidden_files():
    files = {p.name for p in (ASSIGNMENTS_DIR / "a1_softmax").rglob("*")}
    assert not files & {"reference.py", "spec.py", "mistakes.py"}
