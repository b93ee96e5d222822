"""Resuming a batch: each graded submission is cached the moment it is done.

    DIR/cache/<student>-<hash>.json   one file per student id, written atomically
                                      (temporary file + os.replace), holding the result,
                                      the hash of the submission's content and the
                                      fingerprint of the tests it was graded against.

An entry is reused only while both hashes still match: a student who resubmits, or a
change to the hidden tests, the limits, the kit's grading code or the kit version,
makes it stale and the submission is graded again. Killing the grader at any moment
leaves only complete entries (a half-written temporary file is never read).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from pathlib import Path

from . import __version__
from .assignment import Assignment
from .cases import Case
from .evaluate import CaseResult
from .grade import SubmissionResult
from .sandbox import SandboxSettings

CACHE_FORMAT = 1
# The kit's own code that decides a grade (not the code that formats outputs, which is
# re-run from the cache every time).
GRADING_SOURCES = (
    "assignment.py", "cases.py", "diagnose.py", "evaluate.py", "grade.py", "harness.py", "inputs.py",
    "mistakes.py", "redact.py", "submission.py", "tolerances.py", "sandbox",
)
_PACKAGE = Path(__file__).resolve().parent


def _update_with_file(digest, path: Path) -> None:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)


def content_hash(path: Path) -> str:
    """SHA-256 of a submission: a file's bytes, or a folder's relative names and bytes."""
    digest = hashlib.sha256()
    path = Path(path)
    if path.is_dir():
        for item in sorted(path.rglob("*")):
            rel = item.relative_to(path).as_posix().encode()
            if item.is_symlink():
                digest.update(b"L" + rel + b"\0" + os.readlink(item).encode() + b"\0")
            elif item.is_file():
                digest.update(b"F" + rel + b"\0" + str(item.stat().st_size).encode() + b"\0")
                _update_with_file(digest, item)
    else:
        digest.update(b"F\0")
        _update_with_file(digest, path)
    return digest.hexdigest()


def _tree_files(root: Path, skip: tuple[str, ...] = ()) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file()
                  and not any(part in skip or part.startswith(".") or part == "__pycache__"
                              for part in p.relative_to(root).parts)
                  and p.suffix != ".pyc")


def tests_fingerprint(assignment: Assignment, settings: SandboxSettings, public_only: bool) -> str:
    """SHA-256 over what a grade depends on besides the submission.

    The assignment's hidden material (every file in its folder but ``samples/``), the
    folders it mounts for its probes (code by content, data by name and size), the kit
    version and its grading code, the limits and isolation mode, and public-only.
    """
    digest = hashlib.sha256()
    digest.update(f"kit {__version__}\nlimits {settings.resolved_limits()!r}\nisolation {settings.isolation}\n"
                  f"public_only {public_only}\n".encode())
    hidden = Path(assignment.hidden_dir)
    for path in _tree_files(hidden, skip=("samples",)):
        digest.update(b"hidden " + path.relative_to(hidden).as_posix().encode() + b"\0")
        _update_with_file(digest, path)
    for name, folder in assignment.mounts:
        root = Path(folder)
        for path in _tree_files(root):
            rel = path.relative_to(root).as_posix()
            digest.update(f"mount {name} {rel} {path.stat().st_size}\0".encode())
            if path.suffix == ".py":
                _update_with_file(digest, path)
    for name in GRADING_SOURCES:
        for path in _tree_files(_PACKAGE / name):
            digest.update(b"kit " + path.relative_to(_PACKAGE).as_posix().encode() + b"\0")
            _update_with_file(digest, path)
    return digest.hexdigest()


def result_to_json(result: SubmissionResult) -> dict:
    return {
        "submission": result.submission,
        "path": result.path,
        "status": result.status,
        "isolated": result.isolated,
        "seconds": round(result.seconds, 3),
        "messages": list(result.messages),
        "cases": [{"case": c.case.case_id, "passed": c.passed, "reason": c.reason}
                  for c in result.case_results],
    }


def result_from_json(data: dict, cases: tuple[Case, ...]) -> SubmissionResult:
    """The inverse of ``result_to_json``; KeyError when the cases no longer line up."""
    by_id = {c["case"]: c for c in data["cases"]}
    if set(by_id) != {case.case_id for case in cases}:
        raise KeyError("cached cases differ from the assignment's")
    return SubmissionResult(
        submission=data["submission"], path=data["path"], status=data["status"],
        case_results=[CaseResult(case, bool(by_id[case.case_id]["passed"]),
                                 str(by_id[case.case_id]["reason"])) for case in cases],
        messages=[str(m) for m in data["messages"]],
        isolated=bool(data["isolated"]),
        seconds=float(data["seconds"]),
    )


class ResultCache:
    """One JSON file per student id under ``directory``."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path_for(self, student: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", student)[:80]
        return self.directory / f"{safe}-{hashlib.sha256(student.encode()).hexdigest()[:12]}.json"

    def load(self, student: str, content: str, fingerprint: str) -> dict | None:
        """The cached entry when it was made from this content and these tests, else None."""
        try:
            entry = json.loads(self.path_for(student).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("format") != CACHE_FORMAT:
            return None
        if (entry.get("student"), entry.get("content"), entry.get("fingerprint")) != (
            student, content, fingerprint
        ):
            return None
        return entry

    def store(self, entry: dict) -> Path:
        """Write ``entry`` (with student, content and fingerprint keys) atomically."""
        entry = {"format": CACHE_FORMAT, **entry}
        path = self.path_for(entry["student"])
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "w") as f:
            json.dump(entry, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path
