"""Coding exam: per-student seeded hidden inputs, graded by the assignments' sandboxed grader."""

from __future__ import annotations

import csv
import inspect
import json

import nbformat
import numpy as np
import pytest
from kit_paths import EXAMPLES

from autograder.exam import coding
from autograder.exam import references as refs

EXAMPLES = EXAMPLES / "exam"
TASKS = ["softmax", "cross_entropy", "softmax_cross_entropy_grad"]


@pytest.fixture(scope="module")
def coding_exam(tmp_path_factory):
    out = tmp_path_factory.mktemp("coding")
    path = coding.build_coding_exam(roster=EXAMPLES / "roster.csv", secret_file=EXAMPLES / "secret.example.txt",
                                    exam_id="lab-exam", out=out, tasks=TASKS, draw=2)
    return out, json.loads(path.read_text())


def test_each_student_gets_a_seeded_subset_and_a_notebook(coding_exam):
    out, manifest = coding_exam
    assert len(manifest["students"]) == 4
    for s in manifest["students"]:
        assert len(s["tasks"]) == 2 and set(s["tasks"]) <= set(manifest["tasks"])
        notebook = nbformat.read(out / "notebooks" / f"{s['student_id']}.ipynb", as_version=4)
        source = "\n".join(c.source for c in notebook.cells)
        assert s["name"] in source and s["student_id"] in source
        for task in s["tasks"]:
            assert f"def {coding.TASKS[task].function}(" in source


def test_hidden_inputs_differ_between_students_and_regenerate(coding_exam):
    _, manifest = coding_exam
    a, b = manifest["students"][0], manifest["students"][1]
    common = sorted(set(a["tasks"]) & set(b["tasks"]))
    task = common[0] if common else next(iter(a["tasks"]))
    cases_a = coding.TASKS[task].make_cases(coding.generator(a["tasks"][task]))
    again = coding.TASKS[task].make_cases(coding.generator(a["tasks"][task]))
    assert all(np.array_equal(x.args[0], y.args[0]) for x, y in zip(cases_a, again, strict=True))
    if common:
        cases_b = coding.TASKS[task].make_cases(coding.generator(b["tasks"][task]))
        assert not np.array_equal(cases_a[0].args[0], cases_b[0].args[0])


def _source(functions, wrong=None):
    parts = ["import numpy as np"]
    for name in functions:
        task = next(t for t in coding.TASKS.values() if t.function == name)
        parts.append(inspect.getsource(refs.reference(task.assignment)))
    if wrong:
        parts.append(inspect.getsource(wrong.implementation))
        parts.append(f"{wrong.question} = {wrong.implementation.__name__}")
    return "\n\n".join(parts)


@pytest.mark.slow
def test_reference_scores_full_marks_and_a_mistake_loses_points(coding_exam, tmp_path):
    out, manifest = coding_exam
    submissions = tmp_path / "subs"
    submissions.mkdir()
    good, bad = manifest["students"][0], manifest["students"][1]
    functions = [coding.TASKS[t].function for t in manifest["tasks"]]
    (submissions / f"{good['student_id']}.py").write_text(_source(functions))
    bad_task = coding.TASKS[next(iter(bad["tasks"]))]
    wrong = {"softmax": ("a1_softmax", "softmax_ignores_axis"), "cross_entropy": ("a2_losses", "ce_sum_not_mean"),
             "softmax_cross_entropy_grad": ("a4_backprop", "grad_missing_mean")}[bad_task.function]
    (submissions / f"{bad['student_id']}.py").write_text(_source(functions, refs.mistake(*wrong)))
    gradebook = coding.grade_coding_exam(manifest_path=out / "coding_manifest.json", submissions=submissions,
                                         out=tmp_path / "grades")
    with open(gradebook) as handle:
        rows = {r["submission"]: r for r in csv.DictReader(handle)}
    assert rows[good["student_id"]]["status"] == "graded"
    assert float(rows[good["student_id"]]["score"]) == float(rows[good["student_id"]]["max_score"]) > 0
    assert float(rows[bad["student_id"]]["score"]) < float(rows[bad["student_id"]]["max_score"])
    assert float(rows[bad["student_id"]][bad_task.function]) < sum(
        1 for _ in bad_task.make_cases(coding.generator(bad["tasks"][bad_task.id])))


@pytest.mark.parametrize("task_id", sorted(coding.TASKS))
def test_variant_cases_come_from_the_spec_and_follow_the_seed(task_id):
    """One builder per random case: a variant case grades what the homework case of the same
    name grades, with its tolerances and flags; the seed alone decides the inputs."""
    task = coding.TASKS[task_id]
    fixed = {c.name: c for c in refs.spec(task.assignment).make_cases() if c.question == task.function}
    seed_a, seed_b = "1" * 64, "2" * 64
    cases = task.make_cases(coding.generator(seed_a))
    again = task.make_cases(coding.generator(seed_a))
    other = task.make_cases(coding.generator(seed_b))
    assert cases and all(c.question == task.function for c in cases)
    assert len({c.case_id for c in cases}) == len(cases)
    for case, same, different in zip(cases, again, other, strict=True):
        assert all(np.array_equal(x, y) for x, y in zip(case.args, same.args, strict=True))
        assert not all(np.array_equal(x, y) for x, y in zip(case.args, different.args, strict=True))
        if case.name in fixed:
            homework = fixed[case.name]
            assert (case.rtol, case.atol, case.no_warnings, case.integer_dtype, case.inputs_unchanged) == (
                homework.rtol, homework.atol, homework.no_warnings, homework.integer_dtype,
                homework.inputs_unchanged)
