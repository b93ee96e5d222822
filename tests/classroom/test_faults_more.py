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


def test_a_machine_whose_locale_is_not_utf8_grades_and_applies_the_late_policy(tmp_path):
    """LC_ALL=C without Python's UTF-8 mode (PYTHONUTF8=0), or an old ISO-8859-1 server: the
    kit's own UTF-8 files (feedback, results.json) were read back in the locale's encoding,
    so a class with a non-ASCII name stopped with a codec error (or got mojibake)."""
    import csv
    import os
    import subprocess
    import sys

    from kit_paths import KIT

    from autograder.course.assignment import SOLUTIONS_DIR

    classdir = tmp_path / "class"
    classdir.mkdir()
    (classdir / "Zoë.ipynb").write_bytes((SOLUTIONS_DIR / "a1_softmax" / "samples" / "ada.ipynb").read_bytes())
    policy = tmp_path / "policy.toml"
    policy.write_text('due = "2026-10-01T23:59:00Z"\npenalty_percent = 10\n', encoding="utf-8")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUTF8": "0", "LC_ALL": "C", "LANG": "C"}
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "a1_softmax", str(classdir), "--out",
                           str(out), "--jobs", "1", "--late-policy", str(policy)],
                          cwd=KIT, env=env, capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert done.returncode == 0, done.stderr[-2000:]
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        assert [row[:3] for row in csv.reader(f)][1:] == [["Zoë", "graded", "48"]]
    assert "Feedback for: Zoë" in (out / "feedback" / "Zo.txt").read_text(encoding="utf-8")
