"""Every CSV cell a spreadsheet would run as a formula is written as text (OWASP)."""

import csv
import io

import pytest

from autograder.grading.grade import SubmissionResult
from autograder.outputs import csvsafe
from autograder.outputs.gradebook import gradebook_text


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\",\"y\")", "@SUM(A1:A9)", "+1+2", "-2+3",
                                  "\tcmd", "\rcmd", "=1"])
def test_formula_cells_become_text(text):
    assert csvsafe.safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["-2", "+1.5", "-0.25", "1e-3", "alice", "", 3, -1.5, None])
def test_numbers_and_plain_text_are_unchanged(value):
    assert csvsafe.safe_cell(value) == value


def test_gradebook_neutralises_a_formula_submission_name():
    rows = gradebook_text([SubmissionResult("=HYPERLINK(\"http://evil\")", "x", "graded")], ["f"], 1.0)
    parsed = list(csv.reader(io.StringIO(rows)))
    assert parsed[1][0] == "'=HYPERLINK(\"http://evil\")"
    assert parsed[1][2:] == ["0", "1", "0"]


def test_dict_writer_neutralises_values():
    buffer = io.StringIO()
    writer = csvsafe.dict_writer(buffer, ["a", "b"], lineterminator="\n")
    writer.writeheader()
    writer.writerow({"a": "@x", "b": "-1"})
    assert buffer.getvalue() == "a,b\n'@x,-1\n"
