"""A box's inputs (the submission's code, the calls, the hidden arguments) are readable by that
box's uid alone, not by every uid on the machine.

The grader writes them to a temporary folder and the sandbox reads them: bound read-only
under bubblewrap, hard-linked into the box's private 0700 copy in the fallback. The folder
and its files used to be 0755 / 0644, for any uid to read: in the fallback on a kernel without
Landlock, a submission graded next to another found the neighbour's folder in the shared
temporary directory, ran the neighbour's code cells and was graded on the neighbour's
functions (and any local user could read the hidden inputs while a class was graded).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from autograder.course.assignment import load_assignment
from autograder.grading.grade import grade_submission
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.sandbox import Limits, SandboxSettings, isolation, landlock

# Stubs that, as they load, look for another box's inputs beside their own (the temporary
# directory above their private copy) and run that submission's cells in their own namespace.
BORROWER = '''
import glob as _glob
import json as _json
import os as _os
import sys as _sys
import time as _time


def softmax(z, axis=-1):
    raise NotImplementedError


def _borrow(seconds=4.0):
    own = _sys.argv[_sys.argv.index("--in") + 1]
    shared = _os.path.dirname(_os.path.dirname(_os.path.abspath(own)))
    with open(_os.path.join(own, "code.json")) as f:
        mine = _json.load(f)["cells"]
    deadline = _time.time() + seconds
    while _time.time() < deadline:
        for path in _glob.glob(_os.path.join(shared, "*", "code.json")) + _glob.glob(
                _os.path.join(shared, "*", "*", "code.json")):
            try:
                with open(path) as f:
                    cells = _json.load(f)["cells"]
            except (OSError, ValueError):
                continue
            if cells != mine:
                for cell in cells:
                    exec(cell, globals())
                return
        _time.sleep(0.05)


_borrow()
'''

# The neighbour: correct, and slow to load, so that its inputs are there while the other runs.
SLOW_NEIGHBOUR = "import time\ntime.sleep(3)\n"

LIMITS = Limits(cpu_seconds=10, wall_seconds=20, load_seconds=8, call_seconds=5)


@pytest.fixture
def fallback_without_landlock(tmp_path, monkeypatch):
    """The root fallback as on a kernel without Landlock, on a Python the sandbox uid can read
    (after tmp_path: pytest places it under the TMPDIR of its first use)."""
    if os.geteuid() != 0:
        pytest.skip("boxes have uids of their own only where a root grader leases them")
    layout = isolation.PythonLayout.current()
    if not isolation.sandbox_uid_can_run(layout, isolation.sandbox_uid(0)):
        system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
        layout = isolation.PythonLayout(prefix=Path("/usr"), executable=system, site_dirs=layout.site_dirs)
        if not system.exists() or not isolation.sandbox_uid_can_run(layout, isolation.sandbox_uid(0)):
            pytest.skip("no Python installation the sandbox uid can read")
        monkeypatch.setattr(isolation.PythonLayout, "current", staticmethod(lambda: layout))
    monkeypatch.setattr(landlock, "build_ruleset", lambda **kwargs: None)
    # A temporary directory of this test's own, open to every uid as /tmp is: the borrower
    # finds only this test's boxes there, not those of other graders on the machine.
    shared = Path(tempfile.mkdtemp(prefix="ag-test-shared-", dir="/tmp"))
    shared.chmod(0o1777)
    monkeypatch.setenv("TMPDIR", str(shared))
    monkeypatch.setattr(tempfile, "tempdir", None)
    yield
    shutil.rmtree(shared, ignore_errors=True)


def test_a_box_cannot_run_its_neighbour_s_code(fallback_without_landlock, tmp_path):
    a1 = load_assignment("a1_softmax")
    cases = tuple(c for c in a1.cases if c.question == "softmax")
    reference = (SOLUTIONS_DIR / "a1_softmax" / "reference.py").read_text()
    neighbour, borrower = tmp_path / "neighbour.py", tmp_path / "borrower.py"
    neighbour.write_text(SLOW_NEIGHBOUR + reference)
    borrower.write_text(BORROWER)
    settings = SandboxSettings(isolation="none", limits=LIMITS)
    results = {}

    def grade(name, path, worker):
        results[name] = grade_submission(path, cases=cases, expected=a1.expected, settings=settings,
                                         worker=worker)

    beside = threading.Thread(target=grade, args=("neighbour", neighbour, 21))
    beside.start()
    grade("borrower", borrower, 22)
    beside.join()
    assert "NO landlock" in results["borrower"].isolation, results["borrower"].isolation
    assert results["neighbour"].score == sum(c.points for c in cases), results["neighbour"].messages
    assert results["borrower"].score == 0, [r.reason for r in results["borrower"].case_results]


def test_the_inputs_folder_is_not_open_to_every_uid(tmp_path, monkeypatch):
    """Whatever the isolation: other uids may neither list the folder nor read its files."""
    from autograder.sandbox import confinement

    seen = {}
    real = confinement.Confinement._set_up

    def spy(self):
        real(self)
        seen["modes"] = {p.name: stat.S_IMODE(os.stat(p).st_mode) for p in [self.inputs, *self.inputs.iterdir()]}

    monkeypatch.setattr(confinement.Confinement, "_set_up", spy)
    a1 = load_assignment("a1_softmax")
    path = tmp_path / "reference.py"
    path.write_text((SOLUTIONS_DIR / "a1_softmax" / "reference.py").read_text())
    cases = tuple(c for c in a1.cases if c.question == "sigmoid")
    result = grade_submission(path, cases=cases, expected=a1.expected,
                              settings=SandboxSettings().with_default_limits(a1.limits))
    assert result.score == sum(c.points for c in cases), result.messages
    assert seen["modes"] and all(mode & 0o007 == 0 for mode in seen["modes"].values()), seen["modes"]
