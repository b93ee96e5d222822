"""Probes, checks, oracles, data mounts and shared_with_grader modules: the assignment's own
code around student functions.

A small hidden folder (and the student folder beside it) written here exercises each one end
to end through the sandbox.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from autograder.course.assignment import AssignmentError, load_assignment
from autograder.grading.grade import GRADED, grade_for_assignment
from autograder.sandbox import SandboxSettings

SPEC = '''
import numpy as np
from autograder.course.cases import Case
from autograder.sandbox import Limits

NAME = "toy"
TITLE = "toy: probes and checks"
QUESTIONS = ("scale", "draw", "double")
LIMITS = Limits(cpu_seconds=10, wall_seconds=20, load_seconds=5, call_seconds=3)
MOUNTS = {"table": DATA_DIR}

def make_cases():
    return [
        Case("scale", "plain", "scales by two", (np.array([1.0, 2.0]),), public=True),
        Case("scale", "from_data", "scales the mounted table", ("numbers.txt",), probe="scale_file"),
        Case("scale", "twice", "calls scale and double together", (3.0,), probe="scale_then_double"),
        Case("draw", "normal", "draws from N(0, 1) with the given generator", (7,), probe="draw",
             check="looks_standard_normal"),
        Case("double", "oracle", "doubles", (np.array([0.5, 4.0]),), oracle="times_two"),
    ]
'''

REFERENCE = '''
import numpy as np

def scale(x):
    return 2.0 * np.asarray(x)

def draw(rng, n):
    return rng.standard_normal(n)

def double(x):
    return x + x
'''

PROBES = '''
import os
import numpy as np

def scale_file(fns, name):
    values = np.loadtxt(os.path.join(DATA["table"], name))
    return fns["scale"](values)

def scale_then_double(fns, value):
    return fns["double"](fns["scale"](np.array([value])))

def draw(fns, seed):
    return fns["draw"](np.random.default_rng(seed), 20000)
'''

CHECKS = '''
import numpy as np

def looks_standard_normal(case, got, expected):
    (x,) = got
    if x.shape != expected[0].shape:
        return "wrong number of draws"
    if abs(x.mean()) > 0.05 or abs(x.std() - 1.0) > 0.05:
        return "draws do not have mean 0 and standard deviation 1"
    return None
'''

ORACLES = '''
import numpy as np

def times_two(x):
    return np.multiply(x, 2.0)
'''


def write_toy(root):
    """The toy's hidden folder root/hidden, its data, and root/student/shared_with_grader (the
    student side beside the hidden one, as in a built DIR/<a>/ folder)."""
    data = root / "data"
    data.mkdir(parents=True)
    (data / "numbers.txt").write_text("1.5\n-2.0\n")
    hidden = root / "hidden"
    hidden.mkdir()
    shared = root / "student" / "shared_with_grader"
    shared.mkdir(parents=True)
    (shared / "__init__.py").write_text('"""Helpers the toy\'s notebook and its grader share."""\n')
    (shared / "toyhelpers.py").write_text("def two():\n    return 2.0\n")
    (hidden / "spec.py").write_text(f"DATA_DIR = {str(data)!r}\n" + SPEC)
    for name, text in [("reference", REFERENCE), ("probes", PROBES), ("checks", CHECKS),
                       ("oracles", ORACLES)]:
        (hidden / f"{name}.py").write_text(textwrap.dedent(text))
    for item in [data, data / "numbers.txt", root]:
        item.chmod(0o755 if item.is_dir() else 0o644)  # the sandbox uid reads the mount
    return hidden


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return load_assignment(write_toy(tmp_path_factory.mktemp("toy")))


def _grade(toy, tmp_path, source):
    path = tmp_path / "student.py"
    path.write_text(textwrap.dedent(source))
    return grade_for_assignment(toy, path, SandboxSettings())


def _failed(result):
    return {r.case.case_id: r.reason for r in result.case_results if not r.passed}


def test_expected_values_come_from_probe_oracle_and_reference(toy):
    assert np.allclose(toy.expected["scale/from_data"][0], [3.0, -4.0])
    assert np.allclose(toy.expected["scale/twice"][0], [12.0])
    assert np.allclose(toy.expected["double/oracle"][0], [1.0, 8.0])


def test_reference_passes_every_case_through_the_sandbox(toy, tmp_path):
    result = _grade(toy, tmp_path, REFERENCE)
    assert result.status == GRADED
    assert _failed(result) == {}
    assert result.score == toy.max_score == 5


def test_wrong_code_fails_the_probe_check_and_oracle_cases(toy, tmp_path):
    result = _grade(toy, tmp_path, """
        import numpy as np
        def scale(x):
            return 3.0 * np.asarray(x)
        def draw(rng, n):
            return rng.uniform(-1, 1, n)
        def double(x):
            return x * x
    """)
    failed = _failed(result)
    assert set(failed) == {"scale/plain", "scale/from_data", "scale/twice", "draw/normal", "double/oracle"}
    assert failed["draw/normal"] == "draws do not have mean 0 and standard deviation 1"


def test_a_function_the_probe_needs_but_the_submission_lacks_is_named(toy, tmp_path):
    result = _grade(toy, tmp_path, """
        import numpy as np
        def scale(x):
            return 2.0 * np.asarray(x)
        def draw(rng, n):
            return rng.standard_normal(n)
    """)
    failed = _failed(result)
    assert failed["scale/twice"] == "double is not defined in the submission"
    assert "scale/from_data" not in failed


def test_the_mount_is_read_only_in_the_sandbox(toy, tmp_path):
    result = _grade(toy, tmp_path, """
        import os
        import numpy as np
        def scale(x):
            if isinstance(x, np.ndarray) and x.shape == (2,) and x[0] == 1.5:
                folder = "/sandbox/data/table"
                if os.path.isdir(folder):
                    with open(os.path.join(folder, "numbers.txt"), "w") as f:
                        f.write("0\\n0\\n")
            return 2.0 * np.asarray(x)
        def draw(rng, n):
            return rng.standard_normal(n)
        def double(x):
            return x + x
    """)
    assert "scale/from_data" in _failed(result)  # the write raised inside the probe's call
    data_file = next(p for name, p in toy.mounts if name == "table") + "/numbers.txt"
    assert open(data_file).read() == "1.5\n-2.0\n"


def test_the_shared_modules_are_importable_from_the_submissions_cells(toy, tmp_path):
    result = _grade(toy, tmp_path, """
        import numpy as np
        from shared_with_grader.toyhelpers import two
        def scale(x):
            return two() * np.asarray(x)
        def draw(rng, n):
            return rng.standard_normal(n)
        def double(x):
            return x + x
    """)
    assert result.messages == [] and _failed(result) == {}


def test_an_unknown_probe_name_is_an_authoring_error(tmp_path):
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "spec.py").write_text(textwrap.dedent('''
        import numpy as np
        from autograder.course.cases import Case
        NAME = "bad"; TITLE = "bad"; QUESTIONS = ("f",)
        def make_cases():
            return [Case("f", "x", "x", (1.0,), probe="nope")]
    '''))
    (hidden / "reference.py").write_text("def f(x):\n    return x\n")
    (hidden / "probes.py").write_text("DATA = {}\n")
    with pytest.raises(AssignmentError, match="probe 'nope'"):
        load_assignment(hidden)


def test_changing_a_mounted_module_changes_the_tests_fingerprint(a1, tmp_path):
    """Resumed batches regrade when the code the probes import changes, not only spec.py."""
    import dataclasses

    from autograder.classroom.resume import tests_fingerprint

    support = tmp_path / "support"
    support.mkdir()
    (support / "helpers.py").write_text("SIZE = 64\n")
    (support / "photo.jpg").write_bytes(b"\xff\xd8" + b"0" * 100)
    assignment = dataclasses.replace(a1, mounts=(("support", str(support)),))
    before = tests_fingerprint(assignment, SandboxSettings(), False)
    assert tests_fingerprint(assignment, SandboxSettings(), False) == before
    (support / "helpers.py").write_text("SIZE = 32\n")
    after_code = tests_fingerprint(assignment, SandboxSettings(), False)
    (support / "photo.jpg").write_bytes(b"\xff\xd8" + b"0" * 200)
    after_data = tests_fingerprint(assignment, SandboxSettings(), False)
    assert len({before, after_code, after_data}) == 3


def _files(folder):
    from pathlib import Path

    return sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_file())


def test_the_shared_folder_is_mounted_as_its_modules_and_imported_privately_in_the_grader(tmp_path):
    """The sandbox's view holds the package's .py files only (no data, no caches) and goes on
    its sys.path; the grader imports its own copy under a private name (never as
    shared_with_grader, which is the name a student's copy would have)."""
    import importlib

    hidden = write_toy(tmp_path)
    shared = tmp_path / "student" / "shared_with_grader"
    (shared / "photo.jpg").write_bytes(b"\xff\xd8" + b"0" * 100)
    (shared / "__pycache__").mkdir()
    (shared / "__pycache__" / "toyhelpers.cpython-311.pyc").write_bytes(b"0")
    toy = load_assignment(hidden)
    assert _files(dict(toy.mounts)["shared_with_grader"]) == ["shared_with_grader/__init__.py",
                                                              "shared_with_grader/toyhelpers.py"]
    assert toy.import_paths == toy.probes_and_checks.import_paths == ("shared_with_grader",)
    package = toy.probes.SHARED_PACKAGE
    assert package == toy.checks.SHARED_PACKAGE and package != "shared_with_grader"
    assert importlib.import_module(package + ".toyhelpers").__file__ == str((shared / "toyhelpers.py").resolve())


def test_changing_a_shared_module_changes_the_tests_fingerprint(tmp_path):
    """Resumed batches regrade when a shared_with_grader module changes, though no spec names it."""
    from autograder.classroom.resume import tests_fingerprint

    hidden = write_toy(tmp_path)
    before = tests_fingerprint(load_assignment(hidden), SandboxSettings(), False)
    assert tests_fingerprint(load_assignment(hidden), SandboxSettings(), False) == before
    (tmp_path / "student" / "shared_with_grader" / "toyhelpers.py").write_text("def two():\n    return 2.5\n")
    assert tests_fingerprint(load_assignment(hidden), SandboxSettings(), False) != before


def test_a_shared_folder_must_be_a_package_and_its_mount_name_is_reserved(tmp_path):
    hidden = write_toy(tmp_path / "not_a_package")
    (tmp_path / "not_a_package" / "student" / "shared_with_grader" / "__init__.py").unlink()
    with pytest.raises(AssignmentError, match="__init__.py"):
        load_assignment(hidden)
    hidden = write_toy(tmp_path / "taken")
    spec = hidden / "spec.py"
    spec.write_text(spec.read_text().replace('{"table": DATA_DIR}', '{"shared_with_grader": DATA_DIR}'))
    with pytest.raises(AssignmentError, match="shared_with_grader"):
        load_assignment(hidden)


def test_a_built_student_folders_self_check_imports_its_shared_modules(tmp_path):
    """``autograder check`` on a student folder (no hidden material) mounts that folder's
    shared_with_grader for the sandbox, so a cell importing it runs as in Jupyter."""
    from autograder.publish.check import public_suite, run_check
    from autograder.publish.public_tests import public_cases_json

    toy = load_assignment(write_toy(tmp_path / "toy"))
    tests = tmp_path / "toy" / "student" / "tests"
    tests.mkdir()
    (tests / "public_cases.json").write_text(public_cases_json(toy.name, toy.questions, toy.public_cases,
                                                               toy.expected, toy.limits))
    suite = public_suite(tests.parent)
    assert suite.probes_and_checks.import_paths == ("shared_with_grader",)
    submission = tmp_path / "student.py"
    submission.write_text("import numpy as np\nfrom shared_with_grader.toyhelpers import two\n\n"
                          "def scale(x):\n    return two() * np.asarray(x)\n")
    result, _ = run_check(tests.parent, submission)
    assert result.status == GRADED and result.score == 1.0
