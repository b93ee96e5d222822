"""Hashing whole folders (autograder.fingerprints): what changes the digest and what does not."""

import hashlib

from autograder.fingerprints import hash_tree, tree_files


def _digest(root, **kwargs):
    digest = hashlib.sha256()
    hash_tree(digest, root, "t", **kwargs)
    return digest.hexdigest()


def _tree(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("A = 1\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("B = 2\n")
    return tmp_path / "pkg"


def test_files_are_listed_sorted_without_caches_or_hidden_entries(tmp_path):
    root = _tree(tmp_path)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (root / ".a.py.123.tmp").write_text("half written")
    (root / "samples").mkdir()
    (root / "samples" / "s.ipynb").write_text("{}")
    assert [p.relative_to(root).as_posix() for p in tree_files(root, skip=("samples",))] == ["a.py", "sub/b.py"]
    assert tree_files(root / "a.py") == [root / "a.py"]


def test_adding_editing_moving_a_file_changes_the_digest_caches_do_not(tmp_path):
    root = _tree(tmp_path)
    before = _digest(root)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert _digest(root) == before
    (root / "c.py").write_text("")
    added = _digest(root)
    (root / "c.py").rename(root / "sub" / "c.py")
    moved = _digest(root)
    (root / "a.py").write_text("A = 3\n")
    assert len({before, added, moved, _digest(root)}) == 4


def test_the_label_and_the_split_between_path_and_content_count(tmp_path):
    root = _tree(tmp_path)
    other = hashlib.sha256()
    hash_tree(other, root, "u")
    assert other.hexdigest() != _digest(root)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "ab").write_text("c")
    first = _digest(tmp_path / "x")
    (tmp_path / "x" / "ab").rename(tmp_path / "x" / "a")
    (tmp_path / "x" / "a").write_text("bc")
    assert _digest(tmp_path / "x") != first
