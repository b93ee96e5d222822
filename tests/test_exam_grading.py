"""Answer-sheet grading, partial credit, mistake matching, regrade; instructor template files; CLI."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.exam import bank, custom, variants
from autograder.exam.grading import MultiPolicy, grade, mark, regrade
from autograder.exam.model import Solution
from autograder.exam.seeding import variant_seed

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "exam"
QUESTIONS = "cross_entropy_batch,multilabel_decision,log_softmax_large,output_gradient"


@pytest.fixture(scope="module")
def exam_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("graded")
    assert main(["exam", "build", "--roster", str(EXAMPLES / "roster.csv"), "--secret-file",
                 str(EXAMPLES / "secret.example.txt"), "--exam-id", "t1", "--out", str(out / "build"),
                 "--questions", QUESTIONS, "--no-pdf"]) == 0
    return out


def manifest_of(exam_dir):
    return variants.read_manifest(exam_dir / "build" / "manifest.json")


def write_responses(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "question", "answer"])
        writer.writerows(rows)


def answer_for(q):
    if q["kind"] == "numeric":
        return repr(q["key"])
    return ";".join("ABCDEFGH"[i] for i in q["key"])


def test_key_answers_earn_full_marks_and_mistakes_are_named(exam_dir, tmp_path):
    manifest = manifest_of(exam_dir)
    first, second = manifest["variants"][0], manifest["variants"][1]
    rows = [(first["student_id"], q["qid"], answer_for(q)) for q in first["questions"]]
    ce = next(q for q in second["questions"] if q["qid"] == "cross_entropy_batch")
    mistake = next(d for d in ce["distractors"] if d["mistake"] == "ce_sum_not_mean")
    rows.append((second["student_id"], "1", f"{mistake['value']:.4f}"))  # by number, rounded as on paper
    responses = tmp_path / "responses.csv"
    write_responses(responses, rows)
    assert main(["exam", "grade", "--manifest", str(exam_dir / "build" / "manifest.json"),
                 "--responses", str(responses), "--out", str(tmp_path / "g")]) == 0
    with open(tmp_path / "g" / "grades.csv") as handle:
        grades = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert float(grades[first["student_id"]]["score"]) == 4 == float(grades[first["student_id"]]["max_score"])
    assert float(grades[second["student_id"]]["score"]) == 0
    with open(tmp_path / "g" / "details.csv") as handle:
        details = [r for r in csv.DictReader(handle) if r["student_id"] == second["student_id"]]
    ce_row = next(r for r in details if r["question"] == "cross_entropy_batch")
    assert ce_row["status"] == "wrong" and ce_row["mistake"] == "ce_sum_not_mean"
    assert {r["status"] for r in details if r["question"] != "cross_entropy_batch"} == {"blank"}


def test_answers_within_tolerance_pass_and_outside_fail():
    entry = {"qid": "q", "kind": "numeric", "points": 2.0, "key": 1.0, "tolerance": 0.011, "unit_exponent": 0,
             "rtol": 0.01, "atol": 0.001, "distractors": [], "options": []}
    assert mark(entry, "s", "1.01", MultiPolicy.ALL_OR_NOTHING).points == 2.0
    assert mark(entry, "s", "1.02", MultiPolicy.ALL_OR_NOTHING).points == 0.0
    assert mark(entry, "s", "abc", MultiPolicy.ALL_OR_NOTHING).status == "invalid"


def test_multi_answer_policies():
    options = [{"correct": c, "mistake": None} for c in (True, True, False, False)]
    entry = {"qid": "q", "kind": "multi", "points": 4.0, "options": options, "key": [0, 1]}
    cases = {"AB": (4, 4, 4), "A": (0, 2, 3), "ABC": (0, 2, 3), "AC": (0, 0, 2), "CD": (0, 0, 0)}
    for answer, expected in cases.items():
        got = tuple(mark(entry, "s", answer, p).points for p in
                    (MultiPolicy.ALL_OR_NOTHING, MultiPolicy.RIGHT_MINUS_WRONG, MultiPolicy.PER_OPTION))
        assert got == expected, answer
    assert mark(entry, "s", "A, B", MultiPolicy.ALL_OR_NOTHING).points == 4
    assert mark(entry, "s", "AZ", MultiPolicy.ALL_OR_NOTHING).status == "invalid"


class FixedCrossEntropy(bank.CrossEntropyBatch):
    """A 'fixed' template (v2) whose key is doubled: the regrade must notice every change."""

    version = 2

    def solve(self, p):
        solution = super().solve(p)
        return Solution(2 * solution.value, solution.distractors)


def test_regrade_after_a_template_fix_reports_score_changes(exam_dir, tmp_path, monkeypatch):
    manifest = manifest_of(exam_dir)
    rows = [(v["student_id"], q["qid"], answer_for(q)) for v in manifest["variants"] for q in v["questions"]]
    responses = tmp_path / "r.csv"
    write_responses(responses, rows)
    fixed = {**bank.built_in(), "cross_entropy_batch": FixedCrossEntropy()}
    monkeypatch.setattr(bank, "built_in", lambda: dict(fixed))
    changes, notes = regrade(manifest_path=exam_dir / "build" / "manifest.json", responses_path=responses,
                             out=tmp_path / "re")
    assert notes and "cross_entropy_batch" in notes[0]
    assert len(changes) == len(manifest["variants"])
    assert all(c.delta == -1 and c.questions == ["cross_entropy_batch"] for c in changes)
    new = json.loads((tmp_path / "re" / "manifest.json").read_text())
    for old_v, new_v in zip(manifest["variants"], new["variants"], strict=True):
        old_q, new_q = old_v["questions"][0], new_v["questions"][0]
        assert new_q["params"] == old_q["params"]  # what the student saw is kept
        assert new_q["key"] == pytest.approx(2 * old_q["key"])
    with open(tmp_path / "re" / "changes.csv") as handle:
        assert [r["delta"] for r in csv.DictReader(handle)] == ["-1"] * len(changes)


def test_regrade_without_changes_reports_none(exam_dir, tmp_path):
    manifest = manifest_of(exam_dir)
    rows = [(v["student_id"], q["qid"], answer_for(q)) for v in manifest["variants"] for q in v["questions"]]
    write_responses(tmp_path / "r.csv", rows)
    changes, notes = regrade(manifest_path=exam_dir / "build" / "manifest.json", responses_path=tmp_path / "r.csv",
                             out=tmp_path / "re")
    assert changes == [] and notes == []
    assert grade(manifest, [(2, rows[0][0], rows[0][1], rows[0][2])]).score(rows[0][0]) == 1


def test_seeds_in_the_manifest_are_the_keyed_hash(exam_dir):
    manifest = manifest_of(exam_dir)
    secret = (EXAMPLES / "secret.example.txt").read_bytes().strip()
    v = manifest["variants"][0]
    q = v["questions"][0]
    assert q["seed"] == variant_seed(secret, "t1", v["student_id"], q["template"], q["version"])


# --- instructor template files ------------------------------------------------------------

def test_example_templates_load():
    loaded = custom.load_folder(EXAMPLES / "templates")
    assert {t.id for t in loaded} == {"ce_two_samples", "softmax_row_choice"}


def _template_error(tmp_path, name, change):
    data = json.loads((EXAMPLES / "templates" / "softmax_choice.json").read_text())
    change(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    with pytest.raises(custom.TemplateFileError) as info:
        custom.load_file(path)
    return info.value


@pytest.mark.parametrize("change, field", [
    (lambda d: d.pop("id"), "id"),
    (lambda d: d.update(colour="red"), "colour"),
    (lambda d: d.update(kind="essay"), "kind"),
    (lambda d: d["params"]["Z"].update(distribution="poisson"), "params.Z.distribution"),
    (lambda d: d.update(prompt="What is {W}?"), "prompt"),
    (lambda d: d["answer"].update(function="softmax_plus"), "answer.function"),
    (lambda d: d["answer"].update(mistakes=["no_such_mistake"]), "answer.mistakes"),
    (lambda d: d["answer"].update(mistakes=["naive_sigmoid"]), "answer.mistakes"),
    (lambda d: d["answer"].update(args=["Q"]), "answer.args"),
])
def test_template_file_errors_name_file_and_field(tmp_path, change, field):
    error = _template_error(tmp_path, "bad.json", change)
    assert error.field == field and "bad.json" in str(error) and f"'{field}'" in str(error)


def test_instructor_template_may_not_shadow_a_built_in(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    data = json.loads((EXAMPLES / "templates" / "softmax_choice.json").read_text())
    data["id"] = "softmax_axis"
    (folder / "x.json").write_text(json.dumps(data))
    with pytest.raises(custom.TemplateFileError, match="built-in"):
        variants.available_templates(folder)


def test_cli_reports_template_errors_in_one_line(tmp_path, capsys):
    folder = tmp_path / "t"
    shutil.copytree(EXAMPLES / "templates", folder)
    (folder / "broken.toml").write_text('id = "x"\n')
    code = main(["exam", "list", "--templates", str(folder)])
    assert code == 2
    assert "broken.toml: field 'version': missing" in capsys.readouterr().err
