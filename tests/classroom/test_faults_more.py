"""Faults a TA's machine adds that the other fault tests do not cover: output folders on
file systems that fold case (a macOS or Windows share, a USB stick), ..."""

from __future__ import annotations

from autograder.classroom.batch import feedback_names


def test_feedback_names_differ_even_where_the_file_system_ignores_case():
    """"Ada.py" and "ada.py" are two students on Linux; on a case-folding share their
    feedback files "Ada.txt" and "ada.txt" would be one file, the second overwriting the first."""
    names = feedback_names(["Ada", "ada", "ADA", "ben"])
    assert len({n.casefold() for n in names.values()}) == 4
    assert names["ben"] == "ben.txt" and names["ADA"] == "ADA.txt"
