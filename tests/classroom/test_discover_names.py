"""Submission names as real machines deliver them: bytes that are not UTF-8, the same name
in two Unicode normalisations, names a TA's shell or spreadsheet would trip on."""

from __future__ import annotations

import csv
import io
import json
import os
import unicodedata
import zipfile
from pathlib import Path

import pytest

from autograder.classroom.discover import list_class
from autograder.cli import main
from autograder.grading.submission import InvalidSubmission, load
from autograder.kit_folders import SOLUTIONS_DIR

SAMPLES = SOLUTIONS_DIR / "a1_softmax" / "samples"
REFERENCE = (SOLUTIONS_DIR / "a1_softmax" / "reference.py").read_bytes()


def write_named(folder: Path, name: bytes, data: bytes) -> None:
    """A file whose name is exactly these bytes (os.fsencode keeps non-UTF-8 ones)."""
    with open(os.path.join(os.fsencode(folder), name), "wb") as f:
        f.write(data)


def gradebook_ids(out: Path) -> list[str]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        return [row[0] for row in list(csv.reader(f))[1:]]


def test_a_name_that_is_not_utf8_gets_a_readable_id_and_a_row(tmp_path, capsys):
    """A latin-1 name (a Windows copy, an old zip unpacked by a tool that kept the bytes) once
    made every later write fail on the undecodable character and lost the whole class."""
    classdir = tmp_path / "class"
    classdir.mkdir()
    write_named(classdir, b"Jos\xe9.py", REFERENCE)
    write_named(classdir, b"ada.py", REFERENCE)
    listing = list_class(classdir, tmp_path / "work")
    ids = sorted(f.student for f in listing.found)
    for sid in ids:
        sid.encode("utf-8")  # every id is text any file or terminal can hold
    assert ids == ["Jos\\xe9", "ada"]

    out = tmp_path / "out"
    assert main(["grade", "a1_softmax", str(classdir), "--out", str(out), "--jobs", "1"]) == 0
    assert gradebook_ids(out) == ["Jos\\xe9", "ada"]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [s["status"] for s in results["submissions"]] == ["graded", "graded"]


def test_one_name_in_two_normalisations_is_one_id_and_the_clash_is_named(tmp_path):
    """macOS writes names decomposed (NFD), Linux and Windows keep what they were given
    (usually NFC): the same student must not show up as two look-alike rows without a word."""
    classdir = tmp_path / "class"
    classdir.mkdir()
    write_named(classdir, unicodedata.normalize("NFC", "Zoë.py").encode(), REFERENCE)
    write_named(classdir, unicodedata.normalize("NFD", "Zoë.py").encode(), REFERENCE)
    listing = list_class(classdir, tmp_path / "work")
    ids = sorted(f.student for f in listing.found)
    assert len(ids) == 2 and len(set(ids)) == 2
    assert all(unicodedata.is_normalized("NFC", sid) for sid in ids)
    assert any("would share the id 'Zoë'" in note for note in listing.notes)


def _zip(members) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_an_export_zip_compressed_once_more_is_read_and_deeper_nesting_is_named(tmp_path):
    """macOS "Compress" on the downloaded export gives a zip holding only the export zip."""
    export = _zip([("a1_softmax.ipynb", (SAMPLES / "ada.ipynb").read_bytes()), (".OTTER_LOG", b"pickle")])
    (tmp_path / "ada.zip").write_bytes(_zip([("a1_export.zip", export), ("__MACOSX/._a1_export.zip", b"")]))
    code = load(tmp_path / "ada.zip")
    assert code.origin == "ada.zip:a1_export.zip:a1_softmax.ipynb" and code.cells
    (tmp_path / "deep.zip").write_bytes(_zip([("outer.zip", _zip([("a1_export.zip", export)]))]))
    with pytest.raises(InvalidSubmission, match=r"holds no notebook .* \(only a1_export\.zip, zips inside a zip\)"):
        load(tmp_path / "deep.zip")


def test_a_students_files_with_names_as_long_as_the_disk_allows_are_gathered(tmp_path):
    """Canvas names one student's uploads <name>_<id>_<attachment>_<file>; gathering them
    prefixed each with a number, and a 255-byte name crashed the class with ENAMETOOLONG."""
    classdir = tmp_path / "class"
    classdir.mkdir()
    (classdir / "lovelaceada_1001_5001_a1_softmax.ipynb").write_bytes((SAMPLES / "ada.ipynb").read_bytes())
    long_name = "lovelaceada_1001_5002_" + "n" * (255 - 22 - 3) + ".py"
    (classdir / long_name).write_text("x = 1\n")
    listing = list_class(classdir, tmp_path / "work")
    assert [f.student for f in listing.found] == ["lovelaceada_1001"] and listing.notes == []
    assert load(listing.found[0].path).origin.endswith(".ipynb")  # the notebook is chosen


def test_ids_that_differ_only_in_case_or_a_browsers_copy_number_are_pointed_out(tmp_path):
    """"Ada.ipynb" and "ada.py", or "ben.ipynb" and "ben (1).ipynb" (a browser's second
    download): two rows, both graded, but most likely one student twice: the TA is told."""
    classdir = tmp_path / "class"
    classdir.mkdir()
    for name in ("Ada.ipynb", "ada.py", "ben.ipynb", "ben (1).ipynb", "cleo.py"):
        write_named(classdir, name.encode(), REFERENCE)
    listing = list_class(classdir, tmp_path / "work")
    assert sorted(f.student for f in listing.found) == ["Ada", "ada", "ben", "ben (1)", "cleo"]
    notes = " | ".join(listing.notes)
    assert "'Ada', 'ada'" in notes and "'ben', 'ben (1)'" in notes and "cleo" not in notes


def test_a_missing_submission_is_named_as_missing_not_as_a_wrong_file_type(tmp_path, capsys):
    """`autograder check a1 notebok.ipynb` (a typo) answered "unsupported file type" with exit 0."""
    with pytest.raises(InvalidSubmission, match="gone.py: no such file"):
        load(tmp_path / "gone.py")
    assert main(["check", "a1_softmax", str(tmp_path / "notebok")]) == 2
    assert "no such submission file or folder" in capsys.readouterr().err


def test_control_and_direction_characters_in_names_are_shown_escaped(tmp_path):
    """A newline split a gradebook row over two lines; an ANSI escape in a file name ran in the
    TA's terminal when the notes were printed; U+202E showed a name reversed."""
    classdir = tmp_path / "class"
    classdir.mkdir()
    for name in ("new\nline.py", "\x1b[2Jclear.py", "bob\u202eyp.py"):
        write_named(classdir, name.encode(), REFERENCE)
    ids = sorted(f.student for f in list_class(classdir, tmp_path / "work").found)
    assert ids == ["\\x1b[2Jclear", "bob\\u202eyp", "new\\nline"]
    out = tmp_path / "out"
    assert main(["grade", "a1_softmax", str(classdir), "--out", str(out), "--jobs", "1"]) == 0
    assert len((out / "gradebook.csv").read_text(encoding="utf-8").splitlines()) == 4


def test_a_notebook_saved_under_a_py_name_is_graded_as_the_notebook(tmp_path):
    """Renamed by hand or by a browser: run as Python, the notebook's JSON raised NameError
    (null) and complete work scored 0 as if it were wrong."""
    (tmp_path / "ada.py").write_bytes((SAMPLES / "ada.ipynb").read_bytes())
    code = load(tmp_path / "ada.py")
    assert len(code.cells) > 1 and any("saved under a .py name" in note for note in code.notes)
    (tmp_path / "eve.ipynb").write_bytes(REFERENCE)
    with pytest.raises(InvalidSubmission, match="looks like Python code: submit it as a .py file"):
        load(tmp_path / "eve.ipynb")
