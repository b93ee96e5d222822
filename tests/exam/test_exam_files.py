"""Exam rosters and answer sheets as spreadsheets and scanners really write them: ';' from
European Excel, Windows-1252, a student typed twice in another case, ids in another case or
Unicode form on the answer sheet. Read as meant, or refused naming the file and line."""

from __future__ import annotations

import unicodedata

import pytest
from kit_paths import EXAMPLES

from autograder.cli import main
from autograder.exam.grading import ResponsesError, grade, read_responses
from autograder.exam.variants import RosterError, read_exam_roster

NUMERIC = {"qid": "q", "kind": "numeric", "points": 1.0, "key": 0.5, "tolerance": 0.006, "unit_exponent": 0,
           "rtol": 0.01, "atol": 0.001, "options": [], "distractors": []}


def manifest(*ids):
    return {"templates": [{"id": "q"}],
            "variants": [{"student_id": s, "name": s, "form": None, "questions": [dict(NUMERIC)]} for s in ids]}


def test_a_semicolon_roster_with_a_bom_and_blank_rows_is_read(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_bytes("Student_ID;Name;email\r\n\r\ns1;Chloé Dupont;c@x\r\n;;\r\ns2;Ben;b@x\r\n".encode("utf-8-sig"))
    assert [(s.student_id, s.name) for s in read_exam_roster(path)] == [("s1", "Chloé Dupont"), ("s2", "Ben")]


def test_one_student_typed_twice_in_another_case_is_refused(tmp_path):
    """Two variants for one person, and an answer sheet that would match neither."""
    path = tmp_path / "roster.csv"
    path.write_text("student_id,name\ns1001,Ada\nS1001,Ada L.\n")
    with pytest.raises(RosterError, match=r"roster\.csv:3: duplicate student_id 'S1001' \(line 2 has 's1001'\)"):
        read_exam_roster(path)


def test_a_windows_1252_roster_is_one_clear_line_naming_the_file(tmp_path, capsys):
    path = tmp_path / "roster.csv"
    path.write_bytes("student_id,name\ns1,Chloé\n".encode("cp1252"))
    code = main(["exam", "build", "--roster", str(path), "--secret-file", str(EXAMPLES / "exam" / "secret.example.txt"),
                 "--exam-id", "t", "--out", str(tmp_path / "out"), "--no-pdf"])
    assert code == 2
    err = capsys.readouterr().err
    assert "roster.csv line 2" in err and "not UTF-8" in err and "CSV UTF-8" in err


def test_an_answer_sheet_with_semicolons_reads_and_one_without_the_columns_names_them(tmp_path):
    path = tmp_path / "answers.csv"
    path.write_text("student_id;question;answer\ns1;1;0,5\ns1;2;A,C\n")
    assert read_responses(path) == [(2, "s1", "1", "0,5"), (3, "s1", "2", "A,C")]
    path.write_text("id,q,a\ns1,1,0.5\n")
    with pytest.raises(ResponsesError, match=r"student_id, question, answer \(found: id, q, a\)"):
        read_responses(path)


def test_answer_sheet_ids_in_another_case_or_unicode_form_reach_their_student():
    nfc, nfd = unicodedata.normalize("NFC", "zoë"), unicodedata.normalize("NFD", "zoë")
    grades = grade(manifest("s1001", nfc), [(2, "S1001", "q", "0.5"), (3, nfd, "q", "0.5")])
    assert grades.score("s1001") == 1 and grades.score(nfc) == 1
    assert not grades.warnings


def test_every_student_gets_an_exam_pdf_even_when_ids_clean_to_one_file_name(tmp_path):
    """"Zoë" and "Zoé" both clean to "Zo": one student's exam used to replace the other's."""
    from pdftext import pages_text

    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\nZoë,Zoë Adams\nZoé,Zoé Brun\nzo,Zo Chen\n", encoding="utf-8")
    out = tmp_path / "exam"
    assert main(["exam", "build", "--roster", str(roster), "--secret-file",
                 str(EXAMPLES / "exam" / "secret.example.txt"), "--exam-id", "t", "--out", str(out),
                 "--questions", "cross_entropy_batch"]) == 0
    pdfs = sorted((out / "pdf").glob("*.pdf"))
    assert len(pdfs) == 3
    names = {next(n for n in ("Zoë Adams", "Zoé Brun", "Zo Chen") if n in pages_text(p.read_bytes())[0])
             for p in pdfs}
    assert len(names) == 3


def test_an_id_whose_leading_zeros_excel_dropped_reaches_its_student_unless_ambiguous():
    grades = grade(manifest("00123", "s9"), [(2, "123", "q", "0.5")])
    assert grades.score("00123") == 1 and not grades.warnings
    grades = grade(manifest("0123", "00123"), [(2, "123", "q", "0.5")])
    assert grades.score("0123") == 0 and grades.score("00123") == 0
    assert any("'123' is not in the manifest" in w for w in grades.warnings)


@pytest.mark.parametrize("content", ['{"format": "dl-autograder-exam", "vari', "[1, 2]"])
def test_a_damaged_manifest_is_named(tmp_path, content):
    from autograder.exam.variants import read_manifest

    path = tmp_path / "manifest.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"manifest\.json is not an exam manifest"):
        read_manifest(path)


def test_a_rebuild_for_a_smaller_roster_leaves_no_exam_of_a_student_who_left(tmp_path):
    """pdf/ is what a TA uploads to Gradescope's bulk upload: an old build's exam stayed in it."""
    roster = tmp_path / "roster.csv"
    out = tmp_path / "exam"
    args = ["exam", "build", "--roster", str(roster), "--secret-file", str(EXAMPLES / "exam" / "secret.example.txt"),
            "--exam-id", "t", "--out", str(out), "--questions", "cross_entropy_batch"]
    roster.write_text("student_id,name\ns1,Ada\ns2,Ben\n")
    assert main(args) == 0
    (out / "pdf" / "seating.pdf").write_bytes(b"%PDF")  # the instructor's own file stays
    roster.write_text("student_id,name\ns1,Ada\n")
    assert main(args) == 0
    assert sorted(p.name for p in (out / "pdf").glob("*.pdf")) == ["s1.pdf", "seating.pdf"]
