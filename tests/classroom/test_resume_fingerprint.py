"""The cache fingerprint covers the kit's whole package: no list of files to keep in sync."""

import shutil
from pathlib import Path

import autograder
from autograder.classroom import resume
from autograder.sandbox import SandboxSettings

PACKAGE = Path(autograder.__file__).resolve().parent


def _copy_package(tmp_path: Path) -> Path:
    copy = tmp_path / "autograder"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_adding_a_module_to_the_package_changes_the_fingerprint(tmp_path):
    copy = _copy_package(tmp_path)
    before = resume.kit_fingerprint(copy)
    assert resume.kit_fingerprint(copy) == before  # deterministic
    (copy / "grading_step_split_out.py").write_text("def judge():\n    return 1\n")
    assert resume.kit_fingerprint(copy) != before


def test_editing_or_moving_any_file_of_the_package_changes_the_fingerprint(tmp_path):
    copy = _copy_package(tmp_path)
    before = resume.kit_fingerprint(copy)
    report = copy / "outputs" / "report.py"  # not a grading module: still part of the fingerprint
    report.write_text(report.read_text() + "\n# changed\n")
    edited = resume.kit_fingerprint(copy)
    assert edited != before
    (copy / "sandbox" / "limits.py").rename(copy / "limits.py")
    assert resume.kit_fingerprint(copy) not in (before, edited)


def test_bytecode_caches_do_not_change_the_fingerprint(tmp_path):
    copy = _copy_package(tmp_path)
    before = resume.kit_fingerprint(copy)
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "batch.cpython-311.pyc").write_bytes(b"\0" * 16)
    assert resume.kit_fingerprint(copy) == before


def test_the_tests_fingerprint_follows_the_package(a1, tmp_path, monkeypatch):
    settings = SandboxSettings()
    before = resume.tests_fingerprint(a1, settings, False)
    copy = _copy_package(tmp_path)
    monkeypatch.setattr(resume, "_PACKAGE", copy)
    assert resume.tests_fingerprint(a1, settings, False) == before
    (copy / "new_module.py").write_text("X = 1\n")
    assert resume.tests_fingerprint(a1, settings, False) != before
