"""The attacks of test_cheats.py, graded through the other two ways a submission is graded:
the coding exam (``autograder.exam.coding.grade_coding_exam``) and Gradescope
(``autograder.publish.gradescope.run_gradescope``, on a /autograder root laid out in a temporary
folder and run in this process).

Each cheat is a1's ``unstable_softmax`` mistake plus one attack (the attack sources are
imported from test_cheats.py, never copied); its honest twin is the same mistake with no
attack. On both paths the grader decides from raw data, so a cheat earns no more than its
twin. The twin is checked to be graded and wrong, so the comparison can fail.
"""

from __future__ import annotations

import csv
import json
import shutil
import textwrap

import pytest
from test_cheats import ATTACKS, FORGE, _mistake_source

from autograder.course.assignment import load_assignment
from autograder.exam import coding
from autograder.publish.gradescope import CONFIG_NAME, run_gradescope

# The cheapest attacks that reach every part of the trust boundary: the results fd, the
# protocol's record order, trace hooks and a thread that keeps patching.
PATH_ATTACKS = ("forged_stream", "duplicate_records", "settrace", "background_thread")
TASK = "a1_softmax.softmax"
SEED = "5eed" * 16  # every student the same hidden inputs, so twin and cheat meet the same cases


@pytest.fixture(scope="module")
def sources():
    """{submission name: source}: the twin and one cheat per attack, all on softmax."""
    twin = _mistake_source(load_assignment("a1_softmax"), "unstable_softmax")
    cheats = {attack: twin + "\n" + FORGE + textwrap.dedent(ATTACKS[attack]).replace("{function}", "softmax")
              for attack in PATH_ATTACKS}
    return {"twin": twin, **cheats}


@pytest.fixture(scope="module")
def exam_rows(tmp_path_factory, sources):
    """{submission: gradebook row} of one coding exam (softmax only) graded with every source."""
    folder = tmp_path_factory.mktemp("coding_cheats")
    submissions = folder / "submissions"
    submissions.mkdir()
    students = []
    for name, source in sources.items():
        (submissions / f"{name}.py").write_text(source)
        students.append({"student_id": name, "name": name, "tasks": {TASK: SEED}})
    manifest = {"format": coding.CODING_FORMAT, "exam_id": "cheats", "title": "cheats", "tasks": [TASK],
                "draw": None, "students": students}
    manifest_path = folder / "coding_manifest.json"
    manifest_path.write_text(json.dumps(manifest))
    gradebook = coding.grade_coding_exam(manifest_path=manifest_path, submissions=submissions,
                                         out=folder / "grades")
    with open(gradebook, newline="") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


def test_exam_twin_is_graded_and_wrong(exam_rows):
    twin = exam_rows["twin"]
    assert twin["status"] == "graded", twin
    assert 0 <= float(twin["score"]) < float(twin["max_score"]), twin


@pytest.mark.parametrize("attack", PATH_ATTACKS)
def test_exam_cheat_earns_no_more_than_its_twin(exam_rows, attack):
    cheat, twin = exam_rows[attack], exam_rows["twin"]
    assert cheat["status"] in ("graded", "tampered"), cheat
    assert float(cheat["score"]) <= float(twin["score"]), (cheat, twin)


def _gradescope(folder, name, source):
    """results.json of ``source`` graded by run_gradescope on a fresh root under ``folder``."""
    a1 = load_assignment("a1_softmax")
    root = folder / name / "autograder"
    shutil.copytree(a1.hidden_dir, root / "source" / "hidden")
    (root / "source" / CONFIG_NAME).write_text(json.dumps({"hidden": "hidden", "options": {}}))
    (root / "submission").mkdir(parents=True)
    (root / "submission" / "softmax.py").write_text(source)
    return run_gradescope(root)


@pytest.fixture(scope="module")
def gradescope_results(tmp_path_factory, sources):
    folder = tmp_path_factory.mktemp("gradescope_cheats")
    return {name: _gradescope(folder, name, source) for name, source in sources.items()}


def test_gradescope_twin_is_graded_and_wrong(gradescope_results):
    twin = gradescope_results["twin"]
    max_score = load_assignment("a1_softmax").max_score
    assert "score" in twin and 0 <= twin["score"] < max_score, twin.get("output")
    assert twin["tests"], twin.get("output")  # graded case by case, not an error result


@pytest.mark.parametrize("attack", PATH_ATTACKS)
def test_gradescope_cheat_earns_no_more_than_its_twin(gradescope_results, attack):
    cheat, twin = gradescope_results[attack], gradescope_results["twin"]
    assert cheat["score"] <= twin["score"], (attack, cheat.get("output"))
