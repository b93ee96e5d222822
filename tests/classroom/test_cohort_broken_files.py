"""Submissions the grader cannot take as they are: syntax errors, missing functions, notebooks
that are not JSON or too large, unsafe zips, notebooks with IPython magics, otter exports
with a hostile log, and a batch of all of them in one gradebook.

Part of the cohort of bad submissions (a1_softmax), each graded for real (sandbox
included) with its exact outcome: every test writes its submission into ``tmp_path`` and
asserts the status, the score and, where a student needs one, the message. Tight limits
keep the stuck ones to a few seconds. The numbered sections follow the cohort's list;
the other two parts are tests/classroom/test_cohort_runaway.py and test_cohort_cheating.py."""

from __future__ import annotations

import csv
import os
import pickle
import pickletools
import uuid
import zipfile

import pytest
from cohort_helpers import (
    FULL_MARKS,
    LIAR,
    REFERENCE_SOURCE,
    TIGHT,
    cohort_assignment,
    good_notebook_bytes,
    grade,
    notebook_bytes,
    reference_cells,
    write,
    zip_bytes,
)

from autograder.classroom.batch import grade_batch
from autograder.grading.grade import CRASHED, GRADED, INVALID, MEMORY, SYNTAX_ERROR
from autograder.sandbox import SandboxSettings


@pytest.fixture(scope="module")
def assignment():
    return cohort_assignment()


# 1 -------------------------------------------------------------------------------------

def test_syntax_error_scores_zero_and_names_the_syntax_error(assignment, tmp_path):
    path = write(tmp_path, "syntax.py", "import numpy as np\n\ndef softmax(z, axis=-1:\n    return z\n")
    result = grade(assignment, path)
    assert result.status == SYNTAX_ERROR
    assert result.score == 0
    assert any("SyntaxError" in m and "line 3" in m for m in result.messages), result.messages


# 2 -------------------------------------------------------------------------------------

def test_file_without_functions_is_graded_zero_with_not_defined_feedback(assignment, tmp_path):
    result = grade(assignment, write(tmp_path, "nothing.py", "x = 1\n"))
    assert result.status == GRADED
    assert result.score == 0
    assert len(result.case_results) == len(assignment.cases)
    assert all("is not defined" in r.reason for r in result.case_results)
    assert all(r.reason.startswith(r.case.question) for r in result.case_results)


# 13 ------------------------------------------------------------------------------------

def test_notebook_that_is_not_json_is_an_invalid_submission(assignment, tmp_path):
    path = write(tmp_path, "broken.ipynb", b'{"cells": [{"cell_type": "code", "source": "x = 1"')
    result = grade(assignment, path)
    assert result.status == INVALID
    assert result.score == 0
    assert any("broken.ipynb" in m and "not a valid Jupyter notebook" in m for m in result.messages), \
        result.messages


# 14 ------------------------------------------------------------------------------------

def _symlink_member() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("a1_softmax.ipynb")
    info.external_attr = 0o120777 << 16
    return info


UNSAFE_ZIPS = {
    "parent_dir": ("../evil.ipynb", "'..'"),
    "absolute": ("/tmp/evil.ipynb", "absolute path"),
    "symlink": (None, "symbolic link"),
}


@pytest.mark.parametrize("variant", sorted(UNSAFE_ZIPS))
def test_unsafe_zip_member_makes_an_invalid_submission(assignment, tmp_path, variant):
    name, words = UNSAFE_ZIPS[variant]
    if name is None:
        members = [(_symlink_member(), b"/work/main/solutions/a1_softmax/reference.py")]
    else:
        members = [(name, good_notebook_bytes())]
    path = write(tmp_path, f"zip_{variant}.zip", zip_bytes(members))
    result = grade(assignment, path)
    assert result.status == INVALID
    assert result.score == 0
    assert any(words in m for m in result.messages), result.messages


# 15 ------------------------------------------------------------------------------------

def test_huge_notebook_is_rejected_as_too_large(assignment, tmp_path):
    text = "All work and no play. " * (21 * 1024 * 1024 // 22 + 1)
    data = notebook_bytes([("markdown", text)] + [("code", c) for c in reference_cells()])
    assert len(data) > 21 * 1024 * 1024
    result = grade(assignment, write(tmp_path, "huge.ipynb", data))
    assert result.status == INVALID
    assert result.score == 0
    assert any("MiB" in m and "more than the 20 MiB allowed" in m for m in result.messages), result.messages


# 16 ------------------------------------------------------------------------------------

def test_ipython_magics_are_ignored_in_a_correct_notebook(assignment, tmp_path):
    cells = [("code", "%matplotlib inline"), ("code", "!pip install numpy"),
             ("code", "%%bash\nsleep 1000000\nexit 1")]
    cells += [("code", c) for c in reference_cells()]
    cells += [("code", "for _ in range(2):\n    %time softmax([[1.0, 2.0]])\n    !echo hi")]
    result = grade(assignment, write(tmp_path, "magics.ipynb", notebook_bytes(cells)))
    assert result.status == GRADED, result.messages
    assert result.score == FULL_MARKS
    # Numbered like every other message: the first code cell is "code cell 1".
    assert any(m.startswith("code cell 1:") and "%matplotlib inline" in m for m in result.messages), \
        result.messages
    assert any(m.startswith("code cell 2:") and "!pip install numpy" in m for m in result.messages), \
        result.messages


# 17 ------------------------------------------------------------------------------------

class _Pwn:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_otter_export_zip_is_graded_and_its_log_is_never_unpickled(assignment, tmp_path):
    marker = f"/tmp/otter_log_pwned_{uuid.uuid4().hex}"
    payload = pickle.dumps(_Pwn(f"touch {marker}"))
    globals_named = [arg for op, arg, _ in pickletools.genops(payload) if isinstance(arg, str)]
    assert "system" in globals_named  # the log really would run a command if unpickled
    zipped = zip_bytes([("a1_softmax.ipynb", good_notebook_bytes()), (".OTTER_LOG", payload)])
    path = write(tmp_path, "a1_softmax_2024_01_01T00_00_00_000000.zip", zipped)
    try:
        result = grade(assignment, path)
        assert result.status == GRADED, result.messages
        assert result.score == FULL_MARKS
        assert not os.path.exists(marker)
    finally:
        if os.path.exists(marker):
            os.unlink(marker)


# 18 ------------------------------------------------------------------------------------

def test_batch_writes_one_gradebook_row_per_submission(assignment, tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    write(folder, "good.py", REFERENCE_SOURCE)
    write(folder, "syntax.py", "def softmax(:\n")
    write(folder, "nothing.py", "x = 1\n")
    write(folder, "osexit.py", "import os\nos._exit(0)\n")
    write(folder, "memory.py", "x = bytearray(20 * 1024**3)\n")
    write(folder, "liar.py", LIAR)
    write(folder, "broken.ipynb", b"{not json")
    write(folder, "dotdot.zip", zip_bytes([("../evil.ipynb", good_notebook_bytes())]))
    write(folder, "otter.zip", zip_bytes([("a1_softmax.ipynb", good_notebook_bytes()),
                                          (".OTTER_LOG", b"not really a pickle")]))
    expected = {
        "good": (GRADED, "48"), "syntax": (SYNTAX_ERROR, "0"), "nothing": (GRADED, "0"),
        "osexit": (CRASHED, "0"), "memory": (MEMORY, "0"), "liar": (GRADED, "0"),
        "broken": (INVALID, "0"), "dotdot": (INVALID, "0"), "otter": (GRADED, "48"),
    }
    batch = grade_batch(assignment, folder, tmp_path / "out", SandboxSettings(limits=TIGHT))
    assert len(batch.results) == len(expected)
    with open(batch.gradebook, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert header == ["submission", "status", "score", "max_score", "softmax", "log_softmax", "sigmoid",
                      "predict_multiclass", "predict_multilabel"]
    assert sorted(row[0] for row in body) == sorted(expected)
    assert all(len(row) == len(header) for row in body)
    got = {row[0]: (row[1], row[2]) for row in body}
    assert got == expected
    assert all(row[3] == "48" for row in body)
    good = next(row for row in body if row[0] == "good")
    assert good[4:] == ["14", "11", "8", "8", "7"]
    assert all(row[4:] == ["0"] * 5 for row in body if row[2] == "0")
