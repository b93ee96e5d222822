"""The otter-grader autograder zip: otter's own ``otter run`` scores honest work as we do."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.grading.grade import grade_for_assignment
from autograder.kit_folders import ASSIGNMENTS_DIR, SOLUTIONS_DIR
from autograder.publish.build import build_assignment, find_leaks
from autograder.publish.otter_export import otter_tests
from autograder.sandbox import SandboxSettings

pytest.importorskip("otter", reason="otter-grader is not installed (the kit's notebook extra)")

SAMPLES = SOLUTIONS_DIR / "a1_softmax" / "samples"
OTTER = Path(sys.executable).with_name("otter")


@pytest.fixture(scope="module")
def built(tmp_path_factory, a1):
    return build_assignment(a1, tmp_path_factory.mktemp("build"))


def _run_tests_in_process(tmp_path, a1, namespace) -> dict[str, list[bool]]:
    from otter.test_files import OKTestFile

    results = {}
    for name, text in otter_tests(a1).items():
        path = tmp_path / name
        path.write_text(text)
        test = OKTestFile.from_file(str(path))
        test.run(dict(namespace))
        results[name.removesuffix(".py")] = [r.passed for r in test.test_case_results]
    return results


def test_zip_is_otter_format_with_every_case(built, a1):
    with zipfile.ZipFile(built.otter_zip) as zf:
        names = set(zf.namelist())
        config = json.loads(zf.read("otter_config.json"))
        tests = {q: zf.read(f"tests/{q}.py").decode() for q in a1.questions}
    assert {"otter_config.json", "environment.yml", "setup.sh", "run_autograder", "run_otter.py"} <= names
    assert config["lang"] == "python"
    for question in a1.questions:
        spec = {}
        exec(tests[question], spec)  # our own generated file
        cases = spec["test"]["suites"][0]["cases"]
        mine = [c for c in a1.cases if c.question == question]
        assert [c["hidden"] for c in cases] == [not c.public for c in mine]
        assert [c["points"] for c in cases] == [c.points for c in mine]


def test_hidden_otter_tests_stay_out_of_the_student_folder(built, a1, tmp_path):
    student = built.student_dir
    assert not list(student.rglob("*.zip"))
    assert find_leaks(a1, student) == []
    # The generated files really are hidden material: the leak check would catch them.
    copy = tmp_path / "student"
    shutil.copytree(student, copy)
    (copy / "tests" / "softmax.py").write_text(otter_tests(a1)["softmax.py"])
    assert any("hidden case" in leak for leak in find_leaks(a1, copy))


def test_reference_passes_and_each_mistake_fails_only_its_question(a1, tmp_path):
    reference = {name: getattr(a1.reference, name) for name in a1.questions}
    assert all(all(r) for r in _run_tests_in_process(tmp_path, a1, reference).values())
    for mistake in a1.mistakes:
        env = dict(reference, **{mistake.question: mistake.implementation})
        results = _run_tests_in_process(tmp_path, a1, env)
        assert not all(results[mistake.question]), mistake.name
        assert all(all(r) for q, r in results.items() if q != mistake.question), mistake.name


def _otter_run(zip_path: Path, submission: Path, out: Path) -> dict[str, float]:
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([str(OTTER), "run", "-a", str(zip_path), "-o", str(out), "--no-logo", str(submission)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    return {t["name"]: t["score"] for t in results["tests"] if t.get("max_score") is not None}


@pytest.mark.slow
@pytest.mark.otter
def test_otter_run_scores_honest_submissions_like_the_kit(built, a1, tmp_path):
    mistake = next(m for m in a1.mistakes if m.name == "log_of_softmax")
    wrong = tmp_path / "log_of_softmax.py"
    wrong.write_text(mistake.submission_source(a1.reference))
    submissions = [SAMPLES / "ada.ipynb", SAMPLES / "ben.ipynb", wrong,
                   ASSIGNMENTS_DIR / "a1_softmax" / "a1_softmax.ipynb"]
    seen = set()
    for n, path in enumerate(submissions):
        ours = grade_for_assignment(a1, path, SandboxSettings())
        theirs = _otter_run(built.otter_zip, path, tmp_path / f"out{n}")
        assert theirs == ours.question_scores(a1.questions), path.name
        seen.add(ours.score)
    assert a1.max_score in seen and 0 in seen and len(seen) >= 3  # full, zero and partial marks


@pytest.mark.parametrize("name", ["a2_losses", "a4_backprop"])
def test_other_plain_assignments_export_to_otter_with_the_same_verdicts(name, tmp_path):
    """Assignments whose cases are plain calls (oracles included: their expected values are
    written into the tests) export to otter, and otter's doctests agree with our grader:
    the reference passes everything, each mistake fails its own question and only it."""
    from autograder.course.assignment import load_assignment
    from autograder.publish.otter_export import unsupported_cases

    assignment = load_assignment(name)
    assert unsupported_cases(assignment) == []
    reference = {q: getattr(assignment.reference, q) for q in assignment.questions}
    assert all(all(r) for r in _run_tests_in_process(tmp_path, assignment, reference).values())
    for mistake in assignment.mistakes:
        env = dict(reference, **{mistake.question: mistake.implementation})
        results = _run_tests_in_process(tmp_path, assignment, env)
        assert not all(results[mistake.question]), mistake.name
        assert all(all(r) for q, r in results.items() if q != mistake.question), mistake.name
