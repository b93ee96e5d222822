"""The kit's invariants, asserted once for every assignment.

How assignments are found: ``assignment_names()`` is ``available_assignments()``, which lists
every folder of ``solutions/`` holding a ``spec.py`` (it reads ``SOLUTIONS_DIR`` when called).
Every test here is parametrised over that list, so adding an assignment takes only
    solutions/<name>/spec.py, reference.py, mistakes.py (and checks/probes/oracles if it uses them)
    assignments/<name>/<name>.ipynb              the stub notebook students receive
    solutions/<name>/samples/                    the sample class; the first file in sorted order
                                                 (ada.ipynb, amara.ipynb) is the completed notebook
and NO test file: it is then checked for
- reference full marks; completed sample full marks; stub notebook zero, each case failing with
  NotImplementedError;
- each mistake loses points on the function it breaks and only there;
- every question has public and hidden cases; the stubs have the reference's signatures, a
  docstring and a body that only raises; the notebook creates ``otter.Notebook("<name>.ipynb")``,
  has one ``grader.check`` cell per question and ends with ``grader.export(``;
- the build writes both folders; nothing hidden reaches the built student folder or
  ``assignments/<name>/``; the built otter public tests pass for the reference and fail for stubs.
``test_a_new_assignment_folder_is_picked_up_and_checked`` proves it with a throwaway one-question
assignment. ``tests/test_<name>.py`` holds only what is that assignment's own (the case that
separates each mistake, lecture numbers, statistics, its samples' designed scores).

Cases a grade takes seconds for (``LONG_CASES``: a5's real finetune) are left out of the
stub, sample and mistake grades; the reference is graded with every case. Every grade here
belongs to the default run (CI)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import os
import textwrap

import nbformat
import pytest
from invariant_helpers import (
    assert_build_layout,
    assert_student_folder_is_clean,
    failed_cases,
    grade_source,
    grade_sources_ahead,
    stub_functions,
)

import autograder.course.assignment as assignment_module
import autograder.publish.build as build_module
from autograder.course.assignment import available_assignments, load_assignment
from autograder.grading.grade import GRADED, grade_for_assignment
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.publish.build import build_assignment, find_leaks
from autograder.sandbox import SandboxSettings

# Case names whose grade takes seconds (a real finetune), by assignment.
LONG_CASES = {"a5_finetune": {"short_finetune"}}
# Files of the grader's copy that the repo's student folder never holds (the build adds
# probes.py to the built student folder only, for public cases that use probes).
HIDDEN_IN_REPO = {"reference.py", "spec.py", "mistakes.py", "checks.py", "oracles.py", "probes.py"}


def assignment_names() -> list[str]:
    """Every assignment of the kit: the folders of solutions/ with a spec.py."""
    return available_assignments()


def mistake_params(names, assignments) -> list:
    return [pytest.param(name, m.name, id=f"{name}-{m.name}") for name in names for m in assignments[name].mistakes]


ALL = tuple(assignment_names())
ASSIGNMENTS = {name: load_assignment(name) for name in ALL}


def quick(assignment):
    """The assignment without its multi-second cases (itself when it has none)."""
    long = LONG_CASES.get(assignment.name, set())
    if not long:
        return assignment
    return dataclasses.replace(assignment, cases=tuple(c for c in assignment.cases if c.name not in long))


def completed_sample(assignment):
    return sorted((assignment.hidden_dir / "samples").iterdir())[0]


# --- the invariants, one function each (the throwaway assignment below runs them all) --------

def assert_reference_earns_full_marks(assignment):
    result = grade_source(assignment, "reference", (assignment.hidden_dir / "reference.py").read_text())
    assert failed_cases(result) == {}
    assert (result.status, result.score) == (GRADED, assignment.max_score)


def assert_completed_sample_earns_full_marks(assignment):
    graded = quick(assignment)
    result = grade_for_assignment(graded, completed_sample(assignment), SandboxSettings())
    assert failed_cases(result) == {}
    assert (result.status, result.score) == (GRADED, graded.max_score)


def assert_stub_earns_zero_with_not_implemented_feedback(assignment):
    result = grade_for_assignment(quick(assignment), assignment.student_notebook, SandboxSettings())
    assert result.status == GRADED
    assert result.score == 0
    assert result.case_results and all("NotImplementedError" in r.reason for r in result.case_results)


def assert_mistake_loses_points_only_on_its_function(assignment, mistake):
    graded = quick(assignment)
    result = grade_source(graded, mistake.name, mistake.submission_source(assignment.reference))
    full = graded.question_points()
    got = result.question_scores(graded.questions)
    assert result.status == GRADED
    assert got[mistake.question] < full[mistake.question], f"{mistake.name} was not caught"
    others = {q: got[q] for q in graded.questions if q != mistake.question}
    assert others == {q: full[q] for q in others}, f"{mistake.name} cost points elsewhere"


def assert_every_question_has_public_and_hidden_cases(assignment):
    for question in assignment.questions:
        cases = [c for c in assignment.cases if c.question == question]
        assert any(c.public for c in cases), question
        assert any(not c.public for c in cases), question


def assert_stubs_match_reference_signatures_and_only_raise(assignment):
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


def assert_notebook_checks_every_question_and_exports(assignment):
    sources = [c.source for c in nbformat.read(assignment.student_notebook, as_version=4).cells
               if c.cell_type == "code"]
    assert f'grader = otter.Notebook("{assignment.name}.ipynb")' in sources[0]
    for question in assignment.questions:
        assert sum(s.strip() == f'grader.check("{question}")' for s in sources) == 1, question
    assert sources[-1].startswith("grader.export(")


def assert_no_hidden_file_in_the_repos_student_folder(assignment):
    files = {p.name for p in assignment.student_notebook.parent.rglob("*")}
    assert not files & HIDDEN_IN_REPO


def _otter_results(test_file, namespace) -> list[bool]:
    from otter.test_files import OKTestFile

    test = OKTestFile.from_file(str(test_file))
    test.run(namespace)
    return [r.passed for r in test.test_case_results]


def assert_otter_public_tests_pass_for_the_reference_and_fail_for_stubs(assignment, student_dir):
    """Run in the built student folder, as a student's notebook runs them (no mounts: probes
    read the notebook's own data/)."""
    def stub(*args, **kwargs):
        raise NotImplementedError("stub")

    reference = {name: value for name, value in vars(assignment.reference).items() if not name.startswith("__")}
    here = os.getcwd()
    os.chdir(student_dir)
    try:
        for question in assignment.questions:
            test_file = student_dir / "tests" / f"{question}.py"
            passed = _otter_results(test_file, dict(reference))
            assert passed and all(passed), question
            assert not any(_otter_results(test_file, dict(reference, **{question: stub}))), question
    finally:
        os.chdir(here)


# --- parametrised over every assignment ------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_reference_source_earns_full_marks(name):
    assert_reference_earns_full_marks(ASSIGNMENTS[name])


@pytest.mark.parametrize("name", ALL)
def test_completed_notebook_sample_earns_full_marks(name):
    assert_completed_sample_earns_full_marks(ASSIGNMENTS[name])


@pytest.mark.parametrize("name", ALL)
def test_stub_notebook_earns_zero_with_not_implemented_feedback(name):
    assert_stub_earns_zero_with_not_implemented_feedback(ASSIGNMENTS[name])


@pytest.fixture(scope="module")
def mistakes_graded_ahead():
    """Every assignment's mistakes graded two at a time before the first of the tests below
    asks for one (each test still grades its own when run alone)."""
    graded = {name: quick(assignment) for name, assignment in ASSIGNMENTS.items()}
    grade_sources_ahead([(graded[name], m.name, m.submission_source(assignment.reference))
                         for name, assignment in ASSIGNMENTS.items() for m in assignment.mistakes])


@pytest.mark.parametrize(("name", "mistake_name"), mistake_params(ALL, ASSIGNMENTS))
def test_mistake_loses_points_only_on_the_function_it_breaks(name, mistake_name, mistakes_graded_ahead):
    assignment = ASSIGNMENTS[name]
    mistake = next(m for m in assignment.mistakes if m.name == mistake_name)
    assert_mistake_loses_points_only_on_its_function(assignment, mistake)


@pytest.mark.parametrize("name", ALL)
def test_every_question_has_public_and_hidden_cases(name):
    assert_every_question_has_public_and_hidden_cases(ASSIGNMENTS[name])


@pytest.mark.parametrize("name", ALL)
def test_stub_notebook_matches_reference_signatures_and_only_raises(name):
    assert_stubs_match_reference_signatures_and_only_raise(ASSIGNMENTS[name])


@pytest.mark.parametrize("name", ALL)
def test_stub_notebook_checks_every_question_and_exports(name):
    assert_notebook_checks_every_question_and_exports(ASSIGNMENTS[name])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """built(name) -> the assignment's build, once per module."""
    cache = {}

    def build(name):
        if name not in cache:
            cache[name] = build_assignment(ASSIGNMENTS[name], tmp_path_factory.mktemp(f"build_{name}"))
        return cache[name]

    return build


@pytest.mark.parametrize("name", ALL)
def test_build_writes_student_and_autograder_folders(built, name):
    assert_build_layout(ASSIGNMENTS[name], built(name))


@pytest.mark.parametrize("name", ALL)
def test_nothing_hidden_reaches_the_student_folder(built, name):
    assert_student_folder_is_clean(ASSIGNMENTS[name], built(name).student_dir)


@pytest.mark.parametrize("name", ALL)
def test_otter_public_tests_pass_for_the_reference_and_fail_for_stubs(built, name):
    assert_otter_public_tests_pass_for_the_reference_and_fail_for_stubs(ASSIGNMENTS[name], built(name).student_dir)


@pytest.mark.parametrize("name", ALL)
def test_student_assignment_folder_in_repo_has_no_hidden_files(name):
    assert_no_hidden_file_in_the_repos_student_folder(ASSIGNMENTS[name])


def test_the_parametrisation_lists_every_assignment_folder():
    folders = sorted(p.name for p in SOLUTIONS_DIR.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    assert list(ALL) == folders
    assert {p.values[0] for p in mistake_params(ALL, ASSIGNMENTS)} == {n for n in ALL if ASSIGNMENTS[n].mistakes}


def test_leak_detector_catches_reference_code_and_hidden_data(tmp_path):
    """The clean-folder invariant can fail: reference code and a hidden case's data are found."""
    a1 = ASSIGNMENTS["a1_softmax"]
    leaky = tmp_path / "student"
    leaky.mkdir()
    (leaky / "helpers.py").write_text((SOLUTIONS_DIR / "a1_softmax" / "reference.py").read_text()
                                      .replace('"""', "#"))
    hidden_case = next(c for c in a1.cases if not c.public and c.name == "random_batch")
    (leaky / "data.txt").write_text(repr(hidden_case.args[0].tolist()))
    leaks = find_leaks(a1, leaky)
    assert any("reference code" in line for line in leaks)
    assert any("data of hidden case" in line for line in leaks)


# --- a new assignment needs no test file: a throwaway one, checked by every invariant ---------

TOY_SPEC = '''
import numpy as np

from autograder.course.cases import Case

NAME = "toy_double"
TITLE = "toy_double: a throwaway assignment"
QUESTIONS = ("double",)


def make_cases():
    return [
        Case("double", "small", "doubles a small vector", (np.array([1.0, 2.0]),), public=True),
        Case("double", "negative", "doubles negative numbers", (np.array([-3.5, 0.25, -7.0]),)),
    ]
'''
TOY_REFERENCE = '''
import numpy as np


def double(x):
    """Twice x, elementwise."""
    return 2 * np.asarray(x, dtype=float)
'''
TOY_MISTAKES = '''
import numpy as np

from autograder.course.mistakes import Mistake


def double_squares(x):
    return np.asarray(x, dtype=float) ** 2


MISTAKES = [Mistake("squares_instead", "double", "squares instead of doubling", double_squares)]
'''


def _toy_notebook(body: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('import otter\ngrader = otter.Notebook("toy_double.ipynb")'),
                nbformat.v4.new_code_cell("import numpy as np"),
                nbformat.v4.new_code_cell(f'def double(x):\n    """Twice x, elementwise."""\n{body}'),
                nbformat.v4.new_code_cell('grader.check("double")'),
                nbformat.v4.new_code_cell("grader.export(pdf=False, force_save=True)")]
    return nb


def test_a_new_assignment_folder_is_picked_up_and_checked(tmp_path, monkeypatch):
    """Only a spec, a reference, mistakes, a notebook and a sample: discovery lists it, the
    parametrisation gives it its mistake, and every invariant above holds for it."""
    hidden = tmp_path / "solutions" / "toy_double"
    (hidden / "samples").mkdir(parents=True)
    for file, text in (("spec.py", TOY_SPEC), ("reference.py", TOY_REFERENCE), ("mistakes.py", TOY_MISTAKES)):
        (hidden / file).write_text(textwrap.dedent(text).lstrip())
    (tmp_path / "solutions").chmod(0o700)  # the sandbox refuses readable solutions when run as root
    student = tmp_path / "assignments" / "toy_double"
    student.mkdir(parents=True)
    nbformat.write(_toy_notebook('    raise NotImplementedError("toy_double task \'double\': implement double")'),
                   student / "toy_double.ipynb")
    nbformat.write(_toy_notebook("    return 2 * np.asarray(x, dtype=float)"), hidden / "samples" / "ada.ipynb")
    monkeypatch.setattr(assignment_module, "SOLUTIONS_DIR", tmp_path / "solutions")
    for module in (assignment_module, build_module):  # build.py imported the name
        monkeypatch.setattr(module, "ASSIGNMENTS_DIR", tmp_path / "assignments")
    monkeypatch.setenv("AUTOGRADER_NO_EXPECTED_CACHE", "1")

    names = assignment_names()
    assert names == ["toy_double"]
    toy = {"toy_double": load_assignment("toy_double")}
    assert [p.id for p in mistake_params(names, toy)] == ["toy_double-squares_instead"]
    assignment = toy["toy_double"]
    assert assignment.student_notebook == student / "toy_double.ipynb"
    assert_reference_earns_full_marks(assignment)
    assert_completed_sample_earns_full_marks(assignment)
    assert_stub_earns_zero_with_not_implemented_feedback(assignment)
    assert_mistake_loses_points_only_on_its_function(assignment, assignment.mistakes[0])
    assert_every_question_has_public_and_hidden_cases(assignment)
    assert_stubs_match_reference_signatures_and_only_raise(assignment)
    assert_notebook_checks_every_question_and_exports(assignment)
    build = build_assignment(assignment, tmp_path / "build")
    assert_build_layout(assignment, build)
    assert_student_folder_is_clean(assignment, build.student_dir)
    assert_otter_public_tests_pass_for_the_reference_and_fail_for_stubs(assignment, build.student_dir)
    assert_no_hidden_file_in_the_repos_student_folder(assignment)
