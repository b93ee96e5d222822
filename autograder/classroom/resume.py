"""Resuming a batch: each graded submission is cached the moment it is done, and a cached
entry is believed only when the grader itself wrote it, for exactly this submission and plan.

    DIR/cache/<student>-<hash>.json   one file per student id, written atomically
                                      (temporary file + fsync + os.replace)
    DIR/cache/.grader-key             32 random bytes (hex), mode 0600, made on first use

An entry carries the student id, the SHA-256 of the submission's content as the grader
copied it, the fingerprint of the tests (hidden material, limits, kit code), the kit
version and the assignment's name, and an HMAC-SHA256 under the grader's key over all of
it. ``ResultCache.load`` returns an entry only when

- its signature verifies (anything written by anyone else, or edited by hand, fails),
- it is bound to this student, content, fingerprint, kit version and assignment
  (a resubmission or a change to the tests makes it stale), and
- it follows the schema: every case of the current plan exactly once, each with a boolean
  verdict and the points that verdict is worth, a score equal to their sum, a status from
  the known set (never ``grader_error``), and the right type for every field.

Anything else (truncated, foreign, forged, stale, schema-breaking, unreadable) is simply
not a result: the submission is graded again. Loading never raises. A grader error is
never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..course.assignment import Assignment
from ..course.cases import Case
from ..fingerprints import hash_tree, tree_files, update_with_file
from ..grading.grade import GRADER_ERROR
from ..grading.pipeline import GradedSubmission
from ..grading.result_data import is_string_list, result_problem
from ..grading.submission import content_hash  # noqa: F401 - the hash the cache is keyed by, re-exported
from ..machine.faults import machine_fault
from ..machine.files import safe_filename, write_atomic
from ..sandbox import SandboxSettings

CACHE_FORMAT = 2
KEY_FILE = ".grader-key"
MAX_ENTRY_BYTES = 8 * 1024 * 1024
# The kit's whole package is hashed (every file under it), not a list of its grading
# modules: a module split, renamed or added can never leave old grades in use.
_PACKAGE = Path(__file__).resolve().parents[1]  # the whole autograder package, not this folder


def tests_fingerprint(assignment: Assignment, settings: SandboxSettings, public_only: bool) -> str:
    """SHA-256 over what a grade depends on besides the submission.

    The assignment's hidden material (every file in its folder but ``samples/``), the
    folders it mounts for its probes (code by content, data by name and size), the kit
    version and every file of its package (``kit_fingerprint``), the limits and isolation
    mode, and public-only.
    """
    digest = hashlib.sha256()
    digest.update(f"kit {__version__}\nlimits {settings.resolved_limits()!r}\nisolation {settings.isolation}\n"
                  f"public_only {public_only}\n".encode())
    hidden = Path(assignment.hidden_dir)
    for path in tree_files(hidden, skip=("samples",)):
        digest.update(b"hidden " + path.relative_to(hidden).as_posix().encode() + b"\0")
        update_with_file(digest, path)
    for name, folder in assignment.mounts:
        root = Path(folder)
        for path in tree_files(root):
            rel = path.relative_to(root).as_posix()
            digest.update(f"mount {name} {rel} {path.stat().st_size}\0".encode())
            if path.suffix == ".py":
                update_with_file(digest, path)
    digest.update(kit_fingerprint().encode())
    return digest.hexdigest()


def kit_fingerprint(package: Path | None = None) -> str:
    """SHA-256 over every file of the kit's package (path and content; caches skipped).

    Output-only code (report, feedback wording) is hashed too: regrading after any change of
    the kit costs time, reusing a grade the changed kit would not give costs a student.
    """
    digest = hashlib.sha256()
    hash_tree(digest, Path(package) if package is not None else _PACKAGE, "kit")
    return digest.hexdigest()


def _owner_ok(owner) -> bool:
    return isinstance(owner, dict) and all(
        isinstance(k, str) and (v is None or isinstance(v, str | bool | int)) for k, v in owner.items())


def _mistakes_ok(mistakes) -> bool:
    return isinstance(mistakes, dict) and all(isinstance(k, str) and is_string_list(v)
                                              for k, v in mistakes.items())


# --- The grader's key -------------------------------------------------------------------

def grader_key(directory: Path) -> bytes:
    """The HMAC key in ``directory/.grader-key`` (the cache folder), made (0600) on first use.

    A key file that is not a regular file of ours, is readable or writable by others, or
    holds anything but 64 hex digits is replaced: whoever could read or write it could sign
    entries, so every entry it signed is regraded.
    """
    path = Path(directory) / KEY_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # none yet, or a symbolic link (never read through one): a new key
        return _new_key(path)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        trusted = (stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()
                   and not st.st_mode & 0o077 and st.st_size == 64)
        text = f.read(65) if trusted else b""
    if trusted and re.fullmatch(rb"[0-9a-f]{64}", text):
        return bytes.fromhex(text.decode())
    return _new_key(path)


def _new_key(path: Path) -> bytes:
    key = secrets.token_bytes(32)
    _write_private(path, key.hex().encode())
    return key


def _write_private(path: Path, data: bytes) -> None:
    """``data`` at ``path``, atomically and durably (fsync), readable by the grader's uid alone."""
    write_atomic(path, data, private=True, durable=True)


def _canonical(entry: dict) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode()


@dataclass(frozen=True)
class CacheBinding:
    """What every entry of one batch is made for: the assignment, its tests and plan, the kit."""

    assignment: str
    fingerprint: str
    cases: tuple[Case, ...]
    kit: str = __version__


class ResultCache:
    """One signed JSON file per student id under ``directory``, for one ``binding``.

    ``rejected`` counts entries present but not believed (bad signature, broken schema,
    unreadable), not the ones that are merely stale; ``problems`` says why, per student.
    """

    def __init__(self, directory: Path, key: bytes, binding: CacheBinding):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.key = key
        self.binding = binding
        self.problems: dict[str, str] = {}
        self._lock = threading.Lock()

    def path_for(self, student: str) -> Path:
        safe = safe_filename(student, fallback="student", limit=80)
        return self.directory / f"{safe}-{hashlib.sha256(student.encode()).hexdigest()[:12]}.json"

    def _sign(self, entry: dict) -> str:
        return hmac.new(self.key, _canonical(entry), hashlib.sha256).hexdigest()

    def load(self, student: str, content: str) -> dict | None:
        """The cached entry when this grader made it from this content and these tests, else None."""
        try:
            return self._load(student, content)
        except Exception as exc:  # noqa: BLE001 - a cache file is data from disk: never a crash
            self._reject(student, f"unreadable ({type(exc).__name__})")
            return None

    def _load(self, student: str, content: str) -> dict | None:
        path = self.path_for(student)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return self._reject(student, "not a regular file")
            raw = f.read(MAX_ENTRY_BYTES + 1)
        if len(raw) > MAX_ENTRY_BYTES:
            return self._reject(student, "too large")
        try:
            entry = json.loads(raw)
        except (ValueError, RecursionError):
            return self._reject(student, "not JSON (truncated?)")
        if not isinstance(entry, dict):
            return self._reject(student, "not an object")
        if entry.get("format") != CACHE_FORMAT:
            return None  # an older kit's entry: stale, not suspicious
        mac = entry.pop("mac", None)
        if not isinstance(mac, str) or not hmac.compare_digest(mac, self._sign(entry)):
            return self._reject(student, "not signed by this grader")
        b = self.binding
        if (entry.get("student"), entry.get("content"), entry.get("fingerprint"), entry.get("kit"),
                entry.get("assignment")) != (student, content, b.fingerprint, b.kit, b.assignment):
            return None  # stale: another submission, other tests or another kit
        problem = (result_problem(entry.get("result"), b.cases)
                   or (None if _owner_ok(entry.get("owner")) else "bad 'owner'")
                   or (None if _mistakes_ok(entry.get("mistakes")) else "bad 'mistakes'"))
        if problem:
            return self._reject(student, problem)
        return entry

    def _reject(self, student: str, why: str) -> None:
        with self._lock:
            self.problems[student] = why
        return None

    def store(self, entry: dict) -> Path:
        """Sign and write ``entry`` (student, content, owner, mistakes, result) atomically.

        Raises ValueError for a grader error (never cached) or a result that breaks the
        schema, and OSError when the disk refuses (no temporary file is left behind).
        """
        result = entry["result"]
        if result.get("status") == GRADER_ERROR:
            raise ValueError("a grader error is never cached")
        problem = result_problem(result, self.binding.cases)
        if problem:
            raise ValueError(f"refusing to cache a result that breaks the schema: {problem}")
        b = self.binding
        entry = {**entry, "format": CACHE_FORMAT, "fingerprint": b.fingerprint, "kit": b.kit,
                 "assignment": b.assignment}
        entry.pop("mac", None)
        signed = {**entry, "mac": self._sign(entry)}
        path = self.path_for(entry["student"])
        # Key order kept: outputs follow it.
        _write_private(path, json.dumps(signed, indent=1, allow_nan=False).encode())
        return path


def record_result(cache: ResultCache, graded: GradedSubmission, content: str | None) -> None:
    """Sign and store a cacheable result (``content`` None: nothing to store); a refusing
    disk is the machine's fault."""
    if content is None:
        return
    try:
        cache.store(graded.cache_entry(content))
    except OSError as exc:
        raise machine_fault(exc, cache.path_for(graded.result.submission)) from None
