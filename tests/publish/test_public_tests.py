"""The student's copy of the tests: otter's grader.check and ``autograder check``."""

from __future__ import annotations

import shutil

import nbformat
import numpy as np
import pytest

from autograder.course.assignment import reference_outputs
from autograder.grading.grade import grade_for_assignment
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.publish.build import build_assignment
from autograder.publish.check import run_check
from autograder.publish.public_tests import load_public_cases
from autograder.sandbox import SandboxSettings

SAMPLES = SOLUTIONS_DIR / "a1_softmax" / "samples"


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory, a1):
    return build_assignment(a1, tmp_path_factory.mktemp("build")).student_dir


def _otter_results(test_file, namespace):
    from otter.test_files import OKTestFile

    test = OKTestFile.from_file(str(test_file))
    test.run(namespace)
    return [r.passed for r in test.test_case_results]


def test_otter_public_tests_pass_for_the_reference(a1, student_dir):
    namespace = {name: getattr(a1.reference, name) for name in a1.questions}
    for question in a1.questions:
        results = _otter_results(student_dir / "tests" / f"{question}.py", dict(namespace))
        assert results and all(results), question


def test_otter_public_tests_catch_mistakes(a1, student_dir):
    namespace = {name: getattr(a1.reference, name) for name in a1.questions}
    by_name = {m.name: m for m in a1.mistakes}
    for name in ("unstable_softmax", "log_of_softmax"):
        mistake = by_name[name]
        env = dict(namespace, **{mistake.question: mistake.implementation})
        results = _otter_results(student_dir / "tests" / f"{mistake.question}.py", env)
        assert not all(results), f"public tests of {mistake.question} miss {name}"


def test_otter_public_tests_fail_cleanly_for_stubs(student_dir):
    def stub(*args, **kwargs):
        raise NotImplementedError("stub")

    results = _otter_results(student_dir / "tests" / "softmax.py", {"softmax": stub})
    assert results and not any(results)


def test_public_cases_json_round_trips_exactly(a1, student_dir):
    name, questions, cases, expected = load_public_cases(student_dir / "tests" / "public_cases.json")
    assert (name, questions) == (a1.name, a1.questions)
    assert [c.case_id for c in cases] == [c.case_id for c in a1.public_cases]
    for case in cases:
        for got, want in zip(expected[case.case_id], a1.expected[case.case_id], strict=True):
            assert got.dtype == want.dtype and np.array_equal(got, want)
        assert all(np.array_equal(x, y) for x, y in zip(reference_outputs(a1.reference, case),
                                                         expected[case.case_id], strict=True))


def test_check_from_a_student_folder_without_hidden_material(tmp_path, student_dir):
    alone = tmp_path / "student"
    shutil.copytree(student_dir, alone)
    result, text = run_check(alone, SAMPLES / "ada.ipynb")
    assert result.score == 8 and len(result.case_results) == 8  # the public cases only
    assert "public tests only" in text
    result, text = run_check(alone, alone / "a1_softmax.ipynb")
    assert result.score == 0
    assert "not implemented yet" in text


def test_check_reports_the_failing_property_in_words(a1):
    result, text = run_check("a1_softmax", SAMPLES / "ben.ipynb")
    assert result.score < 8
    assert "is finite for large equal scores" in text
    assert "NaN" in text


@pytest.mark.slow
@pytest.mark.otter
def test_completed_notebook_runs_in_jupyter_with_grader_check(tmp_path, student_dir, a1):
    """Execute the completed sample notebook in a real kernel inside the student folder:
    every ``grader.check`` passes and the export cell writes a zip the grader accepts."""
    from nbclient import NotebookClient

    work = tmp_path / "student"
    shutil.copytree(student_dir, work)
    # The student's completed notebook, saved where the export cell will look for it.
    shutil.copy(SAMPLES / "ada.ipynb", work / "a1_softmax.ipynb")
    notebook = nbformat.read(work / "a1_softmax.ipynb", as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(work)}}).execute()
    checks = [c for c in notebook.cells if c.cell_type == "code" and "grader.check(" in c.source]
    assert len(checks) == 5
    for cell in checks:
        text = "".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", ""))
                       for o in cell.outputs)
        assert "passed" in text and "failed" not in text.lower(), text
    zips = list(work.glob("*.zip"))
    assert len(zips) == 1
    result = grade_for_assignment(a1, zips[0], SandboxSettings())
    assert (result.status, result.score) == ("graded", a1.max_score)
