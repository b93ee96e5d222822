"""Faults a TA's machine adds that the other fault tests do not cover: output folders on
file systems that fold case (a macOS or Windows share, a USB stick), ..."""

from __future__ import annotations

from autograder.outputs.feedback import feedback_names


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

    from autograder.kit_folders import SOLUTIONS_DIR

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


def test_an_empty_path_is_refused_not_taken_as_the_current_folder(tmp_path, capsys, monkeypatch):
    """`autograder grade a1 "$SUBS" --out "$OUT"` with a variable unset: "" was the current
    folder, so the kit graded (or wrote into) wherever the TA stood."""
    import pytest

    from autograder.cli import main
    from autograder.kit_folders import SOLUTIONS_DIR

    monkeypatch.chdir(tmp_path)
    ada = str(SOLUTIONS_DIR / "a1_softmax" / "samples" / "ada.ipynb")
    for argv in (["grade", "a1_softmax", "", "--out", str(tmp_path / "out")],
                 ["grade", "a1_softmax", ada, "--out", " "]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2 and "empty path" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_earlier_runs_output_given_as_submissions_is_refused(tmp_path, capsys):
    """SUBMISSIONS and --out swapped: the cache, feedback and report became invalid rows."""
    from autograder.cli import main
    from autograder.kit_folders import SOLUTIONS_DIR

    out = tmp_path / "out"
    assert main(["grade", "a1_softmax", str(SOLUTIONS_DIR / "a1_softmax" / "samples" / "ada.ipynb"),
                 "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["grade", "a1_softmax", str(out), "--out", str(tmp_path / "other")]) == 2
    assert "output folder of an earlier" in capsys.readouterr().err
    assert not (tmp_path / "other" / "gradebook.csv").exists()


def test_an_out_that_is_a_file_is_named_as_a_file(tmp_path, capsys):
    """It was reported as missing ("was it removed while grading?"), which it was not."""
    from autograder.cli import main
    from autograder.kit_folders import SOLUTIONS_DIR

    ada = str(SOLUTIONS_DIR / "a1_softmax" / "samples" / "ada.ipynb")
    (tmp_path / "notes.txt").write_text("a TA's notes\n")
    for out in (tmp_path / "notes.txt", tmp_path / "notes.txt" / "a1"):
        assert main(["grade", "a1_softmax", ada, "--out", str(out)]) != 0
        assert f"{tmp_path / 'notes.txt'} is a file, not a folder" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "a TA's notes\n"


def test_pdfs_for_manual_grading_of_submissions_no_longer_there_are_removed(tmp_path, monkeypatch):
    """`autograder pdf` again after a submission was withdrawn left its old PDF for upload."""
    from autograder.classroom import notebook_pdf
    from autograder.kit_folders import SOLUTIONS_DIR

    monkeypatch.setattr(notebook_pdf, "find_browser", lambda: "chromium")
    monkeypatch.setattr(notebook_pdf, "html_to_pdf", lambda page, target, browser: target.write_bytes(b"%PDF"))
    classdir = tmp_path / "class"
    classdir.mkdir()
    for name in ("ada.ipynb", "ben.ipynb"):
        (classdir / name).write_bytes((SOLUTIONS_DIR / "a1_softmax" / "samples" / name).read_bytes())
    out = tmp_path / "pdf"
    notebook_pdf.render_submissions(classdir, out)
    (classdir / "ben.ipynb").unlink()
    notebook_pdf.render_submissions(classdir, out)
    (out / "notes.pdf").write_bytes(b"%PDF")  # the TA's own file in that folder stays
    notebook_pdf.render_submissions(classdir, out)
    assert sorted(p.name for p in out.iterdir()) == ["ada.pdf", "manifest.csv", "notes.pdf"]
