"""The kit's one home for atomic writes and safe file names (autograder/machine/files.py)."""

import os
import stat

import pytest

from autograder.machine import files


def test_write_atomic_replaces_the_whole_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "gradebook.csv"
    path.write_text("old\n")
    files.write_atomic(path, "new,row\n")
    assert path.read_text() == "new,row\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gradebook.csv"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    path.write_text("old")

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(OSError):
        files.write_atomic(path, "new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_private_files_are_the_owners_alone_and_modes_are_as_asked(tmp_path):
    private = files.write_atomic(tmp_path / "key", b"secret", private=True, durable=True)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    shown = files.write_atomic(tmp_path / "results.json", "{}", mode=0o644)
    assert stat.S_IMODE(shown.stat().st_mode) == 0o644


def test_the_temporary_name_is_never_followed_through_a_link(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    path = tmp_path / "out.txt"
    import threading
    os.symlink(target, tmp_path / f".out.txt.{os.getpid()}.{threading.get_ident()}.tmp")
    with pytest.raises(OSError):
        files.write_atomic(path, "new")
    assert target.read_text() == "keep"


@pytest.mark.parametrize("name, cleaned", [
    ("alice", "alice"), ("bob smith", "bob_smith"), ("../../etc/passwd", "etc_passwd"),
    (".hidden", "hidden"), ("", "submission"), ("...", "submission"), ("é", "submission"),
])
def test_safe_filename(name, cleaned):
    assert files.safe_filename(name) == cleaned


def test_safe_filename_fallback_and_limit():
    assert files.safe_filename("//", fallback="student") == "student"
    assert len(files.safe_filename("x" * 500, limit=80)) == 80
