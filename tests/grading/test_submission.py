"""Reading submissions: notebooks, Python files, export zips and folders."""

from __future__ import annotations

import zipfile

import nbformat
import pytest

from autograder.classroom.discover import discover
from autograder.grading.submission import InvalidSubmission, load, strip_magics, student_id


def notebook(*sources: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# title")] + [nbformat.v4.new_code_cell(s) for s in sources]
    return nbformat.writes(nb)


def test_magics_become_no_ops_keeping_indentation():
    code, removed = strip_magics("%matplotlib inline\nif True:\n    !pip install x\n    y = 1\n")
    assert code == ("pass  # IPython line removed by the grader\nif True:\n"
                    "    pass  # IPython line removed by the grader\n    y = 1\n")
    assert removed == ["%matplotlib inline", "!pip install x"]
    compile(code, "<cell>", "exec")


def test_non_python_cell_magic_removes_the_whole_cell():
    code, removed = strip_magics("%%bash\necho hi\n")
    assert "echo" not in code and removed == ["%%bash"]
    compile(code, "<cell>", "exec")


def test_python_cell_magic_keeps_its_body():
    code, removed = strip_magics("%%time\ndef f():\n    return 1\n%who\n")
    namespace: dict = {}
    exec(compile(code, "<cell>", "exec"), namespace)
    assert namespace["f"]() == 1
    assert removed == ["%%time", "%who"]


def test_notebook_code_cells_only(tmp_path):
    path = tmp_path / "ann.ipynb"
    path.write_text(notebook("import numpy as np", "%load_ext autoreload\ndef f():\n    return 1"))
    code = load(path)
    assert code.module_name == "submission"  # so `if __name__ == "__main__":` cells are skipped
    assert code.cells[0] == "import numpy as np"
    assert "def f" in code.cells[1] and "%load_ext" not in code.cells[1]
    assert code.notes and "magic" in code.notes[0]


def test_python_file_is_one_cell(tmp_path):
    path = tmp_path / "bob.py"
    path.write_text("x = 1\n")
    code = load(path)
    assert code.cells == ["x = 1\n"] and code.module_name == "submission"


def test_zip_picks_the_notebook_and_ignores_other_files(tmp_path):
    path = tmp_path / "cat.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a1_softmax.ipynb", notebook("x = 1"))
        zf.writestr(".OTTER_LOG", b"\x80\x04not really a pickle")
        zf.writestr("__MACOSX/._a1_softmax.ipynb", b"junk")
    assert load(path).cells == ["x = 1"]


@pytest.mark.parametrize("member, message", [
    ("../evil.ipynb", "'..'"),
    ("/tmp/evil.ipynb", "absolute path"),
    ("C:/evil.ipynb", "absolute path"),
])
def test_unsafe_zip_paths_are_rejected(tmp_path, member, message):
    path = tmp_path / "dan.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok.ipynb", notebook("x = 1"))
        zf.writestr(member, notebook("x = 2"))
    with pytest.raises(InvalidSubmission, match=message):
        load(path)


def test_zip_with_symlink_is_rejected(tmp_path):
    path = tmp_path / "eve.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("link.ipynb")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(InvalidSubmission, match="symbolic link"):
        load(path)


def test_folder_submission_uses_folder_name_and_its_notebook(tmp_path):
    folder = tmp_path / "dora"
    folder.mkdir()
    (folder / "work.ipynb").write_text(notebook("x = 3"))
    (folder / "notes.txt").write_text("hi")
    assert student_id(folder) == "dora"
    assert load(folder).cells == ["x = 3"]


def test_two_notebooks_in_one_folder_is_an_error_naming_both(tmp_path):
    folder = tmp_path / "finn"
    folder.mkdir()
    for name in ("a.ipynb", "b.ipynb"):
        (folder / name).write_text(notebook("x = 1"))
    with pytest.raises(InvalidSubmission, match=r"a\.ipynb, b\.ipynb"):
        load(folder)


@pytest.mark.parametrize("name, content, message", [
    ("gus.txt", "hello", "unsupported file type .txt"),
    ("hal.ipynb", "{not json", "not a valid Jupyter notebook"),
    ("ida.ipynb", '{"cells": 5}', "not a valid Jupyter notebook"),
    ("jon.zip", "not a zip", "not a valid zip"),
])
def test_unreadable_submissions_name_the_problem(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidSubmission, match=message):
        load(path)


def test_non_utf8_python_is_rejected(tmp_path):
    path = tmp_path / "kim.py"
    path.write_bytes(b"x = '\xff\xfe'\n")
    with pytest.raises(InvalidSubmission, match="not UTF-8"):
        load(path)


def test_discover_lists_every_visible_entry(tmp_path):
    for name in ("b.py", "a.ipynb", ".hidden.py", "c.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "dee").mkdir()
    assert [p.name for p in discover(tmp_path)] == ["a.ipynb", "b.py", "c.txt", "dee"]


# --- Python's own source decoding (PEP 263) -------------------------------------------------

def test_a_latin1_file_with_a_coding_line_is_read_as_python_reads_it(tmp_path):
    path = tmp_path / "lea.py"
    path.write_bytes(b"# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n")
    code = load(path)
    namespace: dict = {}
    exec(compile(code.cells[0], "lea.py", "exec"), namespace)
    assert namespace["name"] == "café"


def test_a_utf8_bom_is_dropped(tmp_path):
    path = tmp_path / "bo.py"
    path.write_bytes(b"\xef\xbb\xbfx = '\xc3\xa9'\n")
    assert load(path).cells == ["x = 'é'\n"]


@pytest.mark.parametrize("data, message", [
    (b"# coding: no-such-codec\nx = 1\n", "cannot be decoded as no-such-codec"),
    (b"# coding: ascii\nx = '\xe9'\n", "cannot be decoded as ascii"),
])
def test_a_coding_line_that_does_not_fit_is_named(tmp_path, data, message):
    path = tmp_path / "kai.py"
    path.write_bytes(data)
    with pytest.raises(InvalidSubmission, match=message):
        load(path)


# --- Entries read without blocking, and the grader's own copy --------------------------------

def test_special_entries_are_refused_without_being_opened(tmp_path, monkeypatch):
    import os

    from autograder.grading import submission as submissions

    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "link.py").symlink_to(tmp_path / "pipe.py")
    opened = []
    monkeypatch.setattr(submissions, "_open_no_follow", lambda path: opened.append(path))
    for name, words in (("pipe.py", "named pipe"), ("link.py", "symbolic link")):
        with pytest.raises(InvalidSubmission, match=words):
            submissions.snapshot(tmp_path / name, None)
        with pytest.raises(InvalidSubmission, match=words):
            load(tmp_path / name)
    assert opened == []


def test_the_copy_holds_exactly_the_bytes_that_were_hashed(tmp_path):
    from autograder.grading.submission import content_hash, snapshot

    path = tmp_path / "ann.py"
    path.write_text("x = 1\n")
    copy = snapshot(path, tmp_path / "copy")
    path.write_text("x = 2\n")  # the student's file changes after the copy
    assert copy.path.read_text() == "x = 1\n" and copy.path.name == "ann.py"
    assert copy.content != content_hash(path)
    assert snapshot(copy.path, None).content == copy.content


def test_a_class_counts_dotfiles_and_lists_the_metadata_it_skips(tmp_path):
    from autograder.classroom.discover import list_class

    for name in (".bob.py", "__MACOSX_carol.py", "ann.py", ".DS_Store", "._ann.py", "Thumbs.db"):
        (tmp_path / name).write_text("x = 1\n")
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / ".ipynb_checkpoints").mkdir()
    listing = list_class(tmp_path, tmp_path / "work")
    assert [f.student for f in listing.found] == [".bob", "__MACOSX_carol", "ann"]
    assert listing.skipped == [".DS_Store", "._ann.py", ".ipynb_checkpoints", "Thumbs.db", "__MACOSX"]


def test_a_folder_is_copied_as_the_one_file_load_chooses(tmp_path):
    from autograder.grading.submission import MAX_ZIP_BYTES, snapshot

    folder = tmp_path / "dora"
    folder.mkdir()
    (folder / "work.ipynb").write_text(notebook("x = 3"))
    with open(folder / "photos.zip", "wb") as f:  # too large to read, and never the one graded
        f.truncate(MAX_ZIP_BYTES + 1)
    copy = snapshot(folder, tmp_path / "copy")
    assert [p.name for p in copy.path.iterdir()] == ["work.ipynb"]
    assert load(copy.path).cells == load(folder).cells == ["x = 3"]
    (folder / "notes.ipynb").write_text(notebook("x = 4"))
    with pytest.raises(InvalidSubmission, match=r"notes\.ipynb, work\.ipynb"):
        snapshot(folder, None)
