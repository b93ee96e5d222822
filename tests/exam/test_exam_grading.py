"""Answer-sheet grading, partial credit, mistake matching, regrade; instructor template files; CLI."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from kit_paths import EXAMPLES

from autograder.cli import main
from autograder.exam import bank, custom, variants
from autograder.exam.grading import (
    MultiPolicy,
    grade,
    mark,
    parse_number,
    read_responses,
    regrade,
    write_grades,
)
from autograder.exam.model import Distractor, Solution
from autograder.exam.seeding import variant_seed

EXAMPLES = EXAMPLES / "exam"
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


# --- answer sheets as people write them ---------------------------------------------------

NUMERIC = {"qid": "q", "kind": "numeric", "points": 1.0, "key": 0.5, "tolerance": 0.006, "unit_exponent": 0,
           "rtol": 0.01, "atol": 0.001, "options": [],
           "distractors": [{"mistake": "doubles", "description": "counts every term twice", "value": 1.0}]}


@pytest.mark.parametrize("answer", ["0,5000", "0,5", "+0.5", "5e-1", " 0.5 ", ",5"])
def test_decimal_commas_and_plain_forms_are_read(answer):
    assert mark(NUMERIC, "s", answer.strip(), MultiPolicy.ALL_OR_NOTHING).status == "correct"


def test_decimal_comma_can_be_refused():
    result = mark(NUMERIC, "s", "0,5", MultiPolicy.ALL_OR_NOTHING, decimal_comma=False)
    assert result.status == "invalid" and "decimal commas are not accepted" in result.note


@pytest.mark.parametrize("answer, reason", [
    ("1_000", "underscores"), ("1 000", "spaces"), ("1,000", "ambiguous"), ("12,345", "ambiguous"),
    ("1,000.5", "not a number"), ("1/2", "not a number"), ("inf", "not a number"), ("nan", "not a number"),
    ("0x10", "not a number"), ("1e999", "not a finite number"),
])
def test_non_numbers_are_refused_with_the_reason(answer, reason):
    result = mark(NUMERIC, "s", answer, MultiPolicy.ALL_OR_NOTHING)
    assert result.status == "invalid" and result.points == 0 and reason in result.note


def test_a_zero_before_a_decimal_comma_is_never_ambiguous():
    assert parse_number("0,125") == (0.125, "")


def test_a_numeric_mistake_names_itself_and_describes_itself():
    result = mark(NUMERIC, "s", "1,0", MultiPolicy.ALL_OR_NOTHING)
    assert (result.status, result.mistake, result.mistake_description) == ("wrong", "doubles", "counts every term twice")


def test_choice_mistakes_carry_their_description():
    options = [{"text": "1", "correct": True, "mistake": None},
               {"text": "2", "correct": False, "mistake": "m1", "description": "forgets the mean"},
               {"text": "3", "correct": False, "mistake": "m2"}]
    entry = {"qid": "q", "kind": "choice", "points": 1.0, "options": options, "key": [0],
             "distractors": [{"mistake": "m2", "description": "flips the sign", "value": 3.0}]}
    assert mark(entry, "s", "B", MultiPolicy.ALL_OR_NOTHING).mistake_description == "forgets the mean"
    assert mark(entry, "s", "C", MultiPolicy.ALL_OR_NOTHING).mistake_description == "flips the sign"  # old manifest
    multi = {**entry, "kind": "multi"}
    both = mark(multi, "s", "A;B;C", MultiPolicy.ALL_OR_NOTHING)
    assert both.mistake == "m1;m2" and both.mistake_description == "forgets the mean; flips the sign"


def _class_manifest():
    entry = dict(NUMERIC)
    return {"templates": [{"id": "q"}],
            "variants": [{"student_id": s, "name": s, "form": None, "questions": [dict(entry)]} for s in ("a", "b")]}


def test_a_duplicated_row_is_reported_and_the_last_one_wins():
    responses = [(2, "a", "q", "0.9"), (3, "b", "q", "0.5"), (4, "a", "q", "0.5")]
    grades = grade(_class_manifest(), responses)
    assert grades.score("a") == 1 and grades.score("b") == 1  # the class is graded
    assert any("lines 2, 4" in w and "last one (line 4)" in w for w in grades.warnings)
    assert "line 4" in grades.marks[("a", "q")].note


def test_strict_refuses_conflicting_rows_but_grades_the_class():
    responses = [(2, "a", "q", "0.9"), (3, "b", "q", "0.5"), (4, "a", "q", "0.5")]
    grades = grade(_class_manifest(), responses, strict=True)
    assert grades.marks[("a", "q")].status == "invalid" and grades.score("a") == 0
    assert grades.score("b") == 1
    assert any("--strict" in w for w in grades.warnings)


def test_identical_duplicates_count_once():
    grades = grade(_class_manifest(), [(2, "a", "q", "0.5"), (3, "a", "q", "0.5")], strict=True)
    assert grades.score("a") == 1 and any("counted once" in w for w in grades.warnings)


def test_refused_answers_are_warned_with_their_line_and_written_to_details(tmp_path):
    grades = grade(_class_manifest(), [(7, "a", "q", "1_000")])
    assert any(w.startswith("line 7:") and "underscores" in w for w in grades.warnings)
    write_grades(grades, tmp_path)
    with open(tmp_path / "details.csv") as handle:
        row = next(r for r in csv.DictReader(handle) if r["student_id"] == "a")
    assert row["status"] == "invalid" and "underscores" in row["note"]


def test_grade_csvs_neutralise_formula_cells(tmp_path):
    manifest = _class_manifest()
    manifest["variants"][0]["name"] = "=HYPERLINK(\"http://x\")"
    grades = grade(manifest, [(2, "a", "q", "@SUM(A1)")])
    write_grades(grades, tmp_path)
    text = (tmp_path / "grades.csv").read_text() + (tmp_path / "details.csv").read_text()
    assert "'=HYPERLINK" in text and "'@SUM" in text


# --- regrade recomputes which printed option is right ---------------------------------------

class FixedLogSoftmax(bank.LogSoftmaxLarge):
    """A 'fix' whose key is the mistake that drops the normaliser: the option that stood for
    that mistake becomes the right one (same version: only the code changed)."""

    def solve(self, p):
        solution = super().solve(p)
        dropped = next(d for d in solution.distractors if d.mistake == "exam:drops_normaliser")
        others = [d for d in solution.distractors if d is not dropped]
        return Solution(dropped.value, [*others, Distractor("old_key", "the v1 key", solution.value)])


def test_regrade_moves_the_right_option_and_keeps_what_was_printed(exam_dir, tmp_path, monkeypatch):
    manifest = manifest_of(exam_dir)
    rows = [(v["student_id"], q["qid"], answer_for(q)) for v in manifest["variants"] for q in v["questions"]]
    write_responses(tmp_path / "r.csv", rows)
    fixed = {**bank.built_in(), "log_softmax_large": FixedLogSoftmax()}
    monkeypatch.setattr(bank, "built_in", lambda: dict(fixed))
    changes, notes = regrade(manifest_path=exam_dir / "build" / "manifest.json", responses_path=tmp_path / "r.csv",
                             out=tmp_path / "re")
    assert all(c.delta == -1 and c.questions == ["log_softmax_large"] for c in changes)
    assert len(changes) == len(manifest["variants"])
    new = json.loads((tmp_path / "re" / "manifest.json").read_text())
    for old_v, new_v in zip(manifest["variants"], new["variants"], strict=True):
        old_q = next(q for q in old_v["questions"] if q["qid"] == "log_softmax_large")
        new_q = next(q for q in new_v["questions"] if q["qid"] == "log_softmax_large")
        assert [o["text"] for o in new_q["options"]] == [o["text"] for o in old_q["options"]]  # as printed
        (was,) = old_q["key"]
        (now,) = new_q["key"]
        assert old_q["options"][now]["mistake"] == "exam:drops_normaliser" and now != was
        assert new_q["options"][was]["mistake"] == "old_key"
    report = json.loads((tmp_path / "re" / "regrade.json").read_text())
    (changed,) = report["changed_templates"]
    assert changed["template"] == "log_softmax_large" and changed["keys_changed"] == len(manifest["variants"])
    assert "code changed" in " ".join(changed["reasons"])


def test_regrade_of_a_select_all_question_follows_the_fixed_verdicts(exam_dir, tmp_path, monkeypatch):
    class Flipped(bank.MultilabelDecision):
        def solve(self, p):
            solution = super().solve(p)
            for option in solution.options:
                option.correct = not option.correct
            return solution

    manifest = manifest_of(exam_dir)
    rows = [(v["student_id"], q["qid"], answer_for(q)) for v in manifest["variants"] for q in v["questions"]]
    write_responses(tmp_path / "r.csv", rows)
    fixed = {**bank.built_in(), "multilabel_decision": Flipped()}
    monkeypatch.setattr(bank, "built_in", lambda: dict(fixed))
    changes, _ = regrade(manifest_path=exam_dir / "build" / "manifest.json", responses_path=tmp_path / "r.csv",
                         out=tmp_path / "re")
    assert {tuple(c.questions) for c in changes} == {("multilabel_decision",)}
    new = json.loads((tmp_path / "re" / "manifest.json").read_text())
    for old_v, new_v in zip(manifest["variants"], new["variants"], strict=True):
        old_q = next(q for q in old_v["questions"] if q["qid"] == "multilabel_decision")
        new_q = next(q for q in new_v["questions"] if q["qid"] == "multilabel_decision")
        assert [o["correct"] for o in new_q["options"]] == [not o["correct"] for o in old_q["options"]]


def test_regrade_warns_when_the_question_text_changed_and_keeps_the_printed_text(exam_dir, tmp_path, monkeypatch):
    class Reworded(bank.CrossEntropyBatch):
        def prompt(self, p):
            return ["Reworded: ", *super().prompt(p)]

    manifest = manifest_of(exam_dir)
    write_responses(tmp_path / "r.csv", [])
    fixed = {**bank.built_in(), "cross_entropy_batch": Reworded()}
    monkeypatch.setattr(bank, "built_in", lambda: dict(fixed))
    _, notes = regrade(manifest_path=exam_dir / "build" / "manifest.json", responses_path=tmp_path / "r.csv",
                       out=tmp_path / "re")
    assert any(n.startswith("cross_entropy_batch: the question text changed") for n in notes)
    new = json.loads((tmp_path / "re" / "manifest.json").read_text())
    old_texts = [q["text"] for v in manifest["variants"] for q in v["questions"]]
    assert [q["text"] for v in new["variants"] for q in v["questions"]] == old_texts


def test_example_answer_sheet_grades_as_documented(tmp_path):
    """examples/exam/responses.example.csv answers the README's build (exam id midterm):
    s1001 all right (half of it with decimal commas), s1002 named mistakes, s1003 a duplicated
    row, s1004 a refused "1_000". Regenerate it when a template's version changes."""
    assert main(["exam", "build", "--roster", str(EXAMPLES / "roster.csv"), "--secret-file",
                 str(EXAMPLES / "secret.example.txt"), "--exam-id", "midterm", "--out", str(tmp_path / "b"),
                 "--no-pdf"]) == 0
    grades = grade(variants.read_manifest(tmp_path / "b" / "manifest.json"),
                   read_responses(EXAMPLES / "responses.example.csv"))
    assert grades.score("s1001") == grades.max_score
    named = [m for (sid, _), m in grades.marks.items() if sid == "s1002" and m.mistake]
    assert len(named) >= 3 and all(m.mistake_description for m in named)
    assert grades.marks[("s1003", "softmax_axis")].status == "correct"
    assert grades.marks[("s1004", "finetune_parameters")].status == "invalid"
    assert len(grades.warnings) == 2
