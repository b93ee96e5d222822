"""The reference's expected outputs, cached across batches under the tests' fingerprint:
reused while nothing they depend on changes, recomputed when anything does, and never
trusted when the file is damaged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autograder.course import expected_cache
from autograder.course.assignment import load_assignment


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_CACHE", str(tmp_path))
    monkeypatch.delenv("AUTOGRADER_NO_EXPECTED_CACHE", raising=False)
    return tmp_path / "expected"


def _counting(values):
    calls = []

    def compute():
        calls.append(1)
        return values

    return compute, calls


VALUES = {"q/a": (np.arange(3.0),), "q/b": (np.int64(4), np.array([1, 2], dtype=np.uint8))}


def test_computed_once_then_read_back_equal(cache):
    compute, calls = _counting(VALUES)
    first = expected_cache.cached("demo", "k" * 64, list(VALUES), compute)
    again = expected_cache.cached("demo", "k" * 64, list(VALUES), compute)
    assert len(calls) == 1 and first is VALUES
    assert list(again) == list(VALUES)
    assert all(np.array_equal(a, b) and a.dtype == b.dtype
               for cid in VALUES for a, b in zip(again[cid], VALUES[cid], strict=True))


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "other_cases"])
def test_a_damaged_cache_is_recomputed_and_replaced(cache, damage):
    compute, calls = _counting(VALUES)
    expected_cache.cached("demo", "d" * 64, list(VALUES), compute)
    (path,) = cache.glob("demo-*.npz")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:-10] + bytes([data[-10] ^ 1]) + data[-9:])
    elif damage == "garbage":
        path.write_bytes(b"not a cache")
    ids = list(VALUES) if damage != "other_cases" else ["q/a"]
    result = expected_cache.cached("demo", "d" * 64, ids, compute)
    assert len(calls) == 2 and result is VALUES
    assert expected_cache.load(path, ids) is not None  # rewritten, readable again


def test_no_fingerprint_means_no_cache(cache):
    compute, calls = _counting(VALUES)
    expected_cache.cached("demo", None, list(VALUES), compute)
    expected_cache.cached("demo", None, list(VALUES), compute)
    assert len(calls) == 2 and not cache.exists()


def test_fingerprint_follows_sources_cases_and_data(tmp_path):
    a1 = load_assignment("a1_softmax")
    mounts = ((("data", str(tmp_path)),))
    (tmp_path / "x.bin").write_bytes(b"12")
    base = expected_cache.fingerprint(a1.name, (a1.reference,), a1.cases, mounts)
    assert base == expected_cache.fingerprint(a1.name, (a1.reference,), a1.cases, mounts)
    assert base != expected_cache.fingerprint(a1.name, (a1.reference,), a1.cases[1:], mounts)
    (tmp_path / "x.bin").write_bytes(b"123")
    assert base != expected_cache.fingerprint(a1.name, (a1.reference,), a1.cases, mounts)
    module = type(a1.reference)("no_file")
    assert expected_cache.fingerprint(a1.name, (module,), a1.cases, ()) is None


def test_assignment_expected_uses_the_cache(cache):
    a1 = load_assignment("a1_softmax")
    fresh = a1.expected
    assert len(list(cache.glob("a1_softmax-*.npz"))) == 1
    reloaded = load_assignment("a1_softmax").expected
    assert all(np.array_equal(x, y, equal_nan=True) for cid in fresh
               for x, y in zip(fresh[cid], reloaded[cid], strict=True))


def _copy_of_the_kit_folders(tmp_path):
    import shutil

    package = Path(expected_cache.__file__).resolve().parents[1]
    copy = tmp_path / "autograder"
    for folder in expected_cache.EXPECTED_DEPENDS_ON:
        shutil.copytree(package / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_adding_editing_or_renaming_a_file_in_the_kit_folders_changes_the_key(tmp_path):
    """The key hashes whole folders, not a list of file names that a new module escapes."""
    a1 = load_assignment("a1_softmax")
    copy = _copy_of_the_kit_folders(tmp_path)

    def key():
        return expected_cache.fingerprint(a1.name, (a1.reference, a1.probes, a1.oracles), a1.cases,
                                          a1.mounts, package=copy)

    before = key()
    assert key() == before  # deterministic
    (copy / "course" / "__pycache__").mkdir()
    (copy / "course" / "__pycache__" / "calling.cpython-311.pyc").write_bytes(b"\0" * 8)
    assert key() == before  # bytecode is not code that changed
    (copy / "course" / "split_out_of_calling.py").write_text("def normalise(x):\n    return x\n")
    added = key()
    assert added != before
    (copy / "course" / "split_out_of_calling.py").rename(copy / "course" / "renamed.py")
    renamed = key()
    assert renamed not in (before, added)
    cases = copy / "course" / "cases.py"
    cases.write_text(cases.read_text() + "\n# edited\n")
    assert key() not in (before, added, renamed)


def test_the_code_that_computes_expected_values_lives_in_the_hashed_folders():
    """reference_outputs and the calling rules it uses: a move out of the hashed folders
    would let an edit there keep stale expected values."""
    import inspect

    from autograder.course import assignment, calling

    package = Path(expected_cache.__file__).resolve().parents[1]
    hashed = [package / folder for folder in expected_cache.EXPECTED_DEPENDS_ON]
    for code in (assignment.reference_outputs, calling):
        source = Path(inspect.getsourcefile(code)).resolve()
        assert any(folder in source.parents for folder in hashed), source
