"""Reading what students hand in, without ever running or unpickling any of it.

A submission is a notebook (``.ipynb``), a Python file (``.py``), a ``.zip`` from the
notebook's export cell (any other files in it, such as otter's ``.OTTER_LOG`` pickle,
are ignored, never opened), or a folder holding one of those. What comes out is the
list of code cells the sandbox will execute. Anything malformed raises
``InvalidSubmission`` with a message that names what was wrong.

A class is listed into such submissions by ``autograder.classroom.discover``.

The grader grades its own copy (``snapshot``): each file is read once, through a
non-blocking, no-follow open of a regular file, into a private folder, and the content hash
is taken of exactly those bytes, so what is graded and what is cached under a hash agree
even if the student's file changes meanwhile.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .lms_names import Owner, readable_name

SUPPORTED_SUFFIXES = (".ipynb", ".py", ".zip")
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_PYTHON_BYTES = 2 * 1024 * 1024
MAX_ZIP_BYTES = 50 * 1024 * 1024
MAX_ZIP_MEMBERS = 200
MAX_ZIP_UNCOMPRESSED = 100 * 1024 * 1024
MAGIC_LINE = re.compile(r"^(\s*)[%!]")
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})


class InvalidSubmission(ValueError):
    """The submission cannot be read; the message says why, in words for the student.

    Messages name files, so they pass through ``readable_name``: a name that is not UTF-8
    must not make the feedback or the gradebook that carry the message unwritable.
    """

    def __init__(self, message: str) -> None:
        super().__init__(readable_name(message))


@dataclass
class SubmissionCode:
    cells: list[str]
    # Never "__main__" in grading: a notebook's `if __name__ == "__main__":` cells (long
    # experiments, plots) run in the student's Jupyter and are skipped when graded.
    module_name: str
    origin: str  # the file the code came from, for messages
    notes: list[str] = field(default_factory=list)


def student_id(path: Path) -> str:
    """The contract: a file's stem, or a folder's name, identifies the student."""
    return path.name if path.is_dir() else path.stem


def is_hidden_name(name: str) -> bool:
    """Hidden inside one student's folder or zip: never chosen as the notebook to grade."""
    return name.startswith((".", "__MACOSX"))


@dataclass(frozen=True)
class FoundSubmission:
    """One student's submission in a class.

    path:   what ``load`` reads (a file, or a folder of that student's files).
    owner:  the student id and what the LMS naming told (``autograder.grading.lms_names.Owner``).
    label:  where it came from, relative to what the TA passed (for messages and results).
    """

    path: Path
    owner: Owner
    label: str

    @property
    def student(self) -> str:
        return self.owner.student


def is_directory(path: Path) -> bool:
    """A real folder (a symbolic link to one is an entry of its own, and invalid)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


# Largest file a submission may hold, by suffix (anything else: the largest of these, so a
# wrong file type is still read and rejected by ``load`` with its own message).
SIZE_LIMITS = {".ipynb": MAX_NOTEBOOK_BYTES, ".py": MAX_PYTHON_BYTES, ".zip": MAX_ZIP_BYTES}
MAX_FOLDER_FILES = MAX_ZIP_MEMBERS


@dataclass(frozen=True)
class Snapshot:
    """A submission as the grader copied it.

    path:    the private copy (same file or folder name as the original); None when only hashed.
    content: SHA-256 over the copied files' relative names, sizes and bytes.
    """

    path: Path | None
    content: str


def special_file_problem(path: Path, st: os.stat_result) -> str | None:
    """Why an entry with this ``lstat`` result is not a file we may read; None for a regular file."""
    mode = st.st_mode
    name = path.name
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        broken = "" if os.path.exists(path) else "broken "
        return f"{name} is a {broken}symbolic link, not a file; submit the file itself"
    if stat.S_ISFIFO(mode):
        return f"{name} is a named pipe (FIFO), not a file"
    if stat.S_ISSOCK(mode):
        return f"{name} is a socket, not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return f"{name} is a device, not a file"
    if stat.S_ISDIR(mode):
        return f"{name} is a folder, not a file"
    return f"{name} is not a regular file"


def _open_no_follow(path: Path) -> int:
    """Open for reading without following a symbolic link or waiting for a pipe's writer."""
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC)


def _unreadable(name: str, exc: OSError) -> InvalidSubmission:
    if isinstance(exc, PermissionError):
        return InvalidSubmission(f"{name} cannot be read (permission denied): the file's permissions "
                                 "must let the grader read it")
    return InvalidSubmission(f"{name} cannot be read ({exc.strerror or exc})")


def read_regular_file(path: Path, limit: int, shown: str | None = None) -> bytes:
    """The bytes of ``path`` if it is a readable regular file of at most ``limit`` bytes.

    ``lstat`` first, so a pipe, device or link is never opened; then a no-follow,
    non-blocking open and ``fstat`` of what was opened, so an entry swapped for one meanwhile
    is refused too. Raises ``InvalidSubmission`` naming the problem.
    """
    name = shown or path.name
    try:
        problem = special_file_problem(Path(name), os.lstat(path))
    except OSError as exc:
        raise _unreadable(name, exc) from None
    if problem:
        raise InvalidSubmission(problem)
    try:
        fd = _open_no_follow(path)
    except OSError as exc:
        raise _unreadable(name, exc) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        problem = special_file_problem(Path(name), st)
        if problem:
            raise InvalidSubmission(problem)
        if st.st_size > limit:
            raise _too_large(name, st.st_size, limit)
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise _unreadable(name, exc) from None
    if len(data) > limit:
        raise _too_large(name, len(data), limit)
    return data


def _too_large(name: str, size: int, limit: int) -> InvalidSubmission:
    return InvalidSubmission(f"{name}: the file is {size / 2**20:.1f} MiB, more than the "
                             f"{limit / 2**20:.0f} MiB allowed (clear large outputs before submitting)")


def _size_limit(name: str) -> int:
    return SIZE_LIMITS.get(Path(name).suffix.lower(), max(SIZE_LIMITS.values()))


def _folder_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """(relative name, path) of the files ``load`` could choose in a student's folder.

    Walks without following links; hidden and metadata parts are pruned; links, pipes and
    devices inside are passed over (``load`` never picks them).
    """
    count = 0

    def refuse(exc: OSError):
        raise _unreadable(f"{folder.name}/{Path(exc.filename or '').name}", exc)

    for top, dirs, files in os.walk(folder, onerror=refuse, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not is_hidden_name(d))
        for name in sorted(files):
            path = Path(top) / name
            if is_hidden_name(name) or path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue
            except OSError as exc:
                raise _unreadable(name, exc) from None
            count += 1
            if count > MAX_FOLDER_FILES:
                raise InvalidSubmission(f"folder {folder.name} holds more than {MAX_FOLDER_FILES} "
                                        ".ipynb, .py or .zip files")
            yield path.relative_to(folder).as_posix(), path


def snapshot(source: Path, dest: Path | None, *, name: str | None = None) -> Snapshot:
    """Read the submission at ``source`` once; copy it to ``dest/<name>`` and hash the copy.

    ``source`` is a file or a student's folder (of which only the file ``load`` chooses is copied).
    With ``dest`` None nothing is written: the hash alone (what ``content_hash`` gives).
    Raises ``InvalidSubmission`` for links, pipes, devices, sockets, unreadable or oversized
    files and folders named like a file, without opening anything that is not a regular file.
    """
    source = Path(source)
    name = name or source.name
    try:
        st = os.lstat(source)
    except OSError as exc:
        raise _unreadable(source.name, exc) from None
    digest = hashlib.sha256()
    target = dest / name if dest is not None else None
    if stat.S_ISDIR(st.st_mode):
        if source.suffix.lower() in SUPPORTED_SUFFIXES:
            raise InvalidSubmission(f"{source.name} is a folder, not a {source.suffix.lower()} file")
        # Only the file ``load`` would choose is read and copied (others cannot change the grade).
        chosen = _choose(list(_folder_files(source)), key=lambda f: Path(f[0]).suffix.lower(),
                         name=lambda f: f[0])
        if chosen is None:
            raise InvalidSubmission(f"folder {source.name} holds no .ipynb, .py or .zip file")
        rel, path = chosen
        data = read_regular_file(path, _size_limit(rel), shown=f"{source.name}/{rel}")
        _add(digest, rel, data)
        if target is not None:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).write_bytes(data)
    else:
        data = read_regular_file(source, _size_limit(source.name))
        _add(digest, "", data)
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return Snapshot(target, digest.hexdigest())


def _add(digest, rel: str, data: bytes) -> None:
    digest.update(b"F" + rel.encode("utf-8", "surrogateescape") + b"\0" + str(len(data)).encode() + b"\0")
    digest.update(data)


def content_hash(source: Path) -> str:
    """SHA-256 of a submission as ``snapshot`` would copy it (``InvalidSubmission`` if it cannot)."""
    return snapshot(source, None).content


def load(path: Path) -> SubmissionCode:
    if not os.path.lexists(path):  # gone since the class was listed
        raise InvalidSubmission(f"{path.name}: no such file (was it removed while grading?)")
    if path.is_symlink():
        raise InvalidSubmission(f"{path.name} is a symbolic link; submit the file itself")
    if is_directory(path):
        return _load_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".ipynb":
        return notebook_code(_read_capped(path, MAX_NOTEBOOK_BYTES, "notebook"), path.name)
    if suffix == ".py":
        return python_code(_read_capped(path, MAX_PYTHON_BYTES, "Python file"), path.name)
    if suffix == ".zip":
        return _load_zip(path)
    raise InvalidSubmission(
        f"{path.name}: unsupported file type {suffix or '(none)'}; "
        f"submit a notebook (.ipynb), a Python file (.py) or the export .zip"
    )


def _read_capped(path: Path, limit: int, what: str) -> bytes:
    try:
        size = os.lstat(path).st_size
    except OSError as exc:
        raise _unreadable(path.name, exc) from None
    if size > limit:
        raise InvalidSubmission(
            f"{path.name}: the {what} is {size / 2**20:.1f} MiB, more than the "
            f"{limit / 2**20:.0f} MiB allowed (clear large outputs before submitting)"
        )
    return read_regular_file(path, limit)


def _load_folder(folder: Path) -> SubmissionCode:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
             and p.suffix.lower() in SUPPORTED_SUFFIXES
             and not any(part.startswith((".", "__MACOSX")) for part in p.relative_to(folder).parts)]
    chosen = _choose(files, key=lambda p: p.suffix.lower(), name=lambda p: str(p.relative_to(folder)))
    if chosen is None:
        raise InvalidSubmission(f"folder {folder.name} holds no .ipynb, .py or .zip file")
    return load(chosen)


def _choose(items, *, key, name):
    """The one notebook, else the one zip, else the one Python file."""
    for suffix in (".ipynb", ".zip", ".py"):
        matches = [item for item in items if key(item) == suffix]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            listing = ", ".join(sorted(name(m) for m in matches)[:5])
            raise InvalidSubmission(f"found {len(matches)} {suffix} files ({listing}); submit exactly one")
    return None


def _load_zip(path: Path) -> SubmissionCode:
    if os.lstat(path).st_size > MAX_ZIP_BYTES:
        raise InvalidSubmission(f"{path.name}: zip larger than {MAX_ZIP_BYTES // 2**20} MiB")
    return _zip_code(read_regular_file(path, MAX_ZIP_BYTES), path.name)


# A zip holding only the export zip (a student who compressed the downloaded export once
# more) is looked into; deeper nesting is refused.
MAX_ZIP_DEPTH = 1


def _zip_code(data: bytes, name: str, depth: int = 0) -> SubmissionCode:
    """The code in the zip ``data`` (called ``name`` in messages), after the safety checks."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidSubmission(f"{name} is not a valid zip file ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise InvalidSubmission(f"{name}: {len(infos)} files in the zip (limit {MAX_ZIP_MEMBERS})")
        total = 0
        for info in infos:
            check_zip_member(name, info)
            total += info.file_size
        if total > MAX_ZIP_UNCOMPRESSED:
            raise InvalidSubmission(f"{name}: unpacks to {total / 2**20:.0f} MiB (limit "
                                    f"{MAX_ZIP_UNCOMPRESSED // 2**20} MiB)")
        visible = [i for i in infos if not i.is_dir()
                   and not any(part.startswith((".", "__MACOSX")) for part in i.filename.split("/"))]
        candidates = [i for i in visible if Path(i.filename).suffix.lower() in (".ipynb", ".py")]
        chosen = _choose(candidates, key=lambda i: Path(i.filename).suffix.lower(), name=lambda i: i.filename)
        if chosen is None:
            inner = [i for i in visible if Path(i.filename).suffix.lower() == ".zip"]
            if len(inner) == 1 and depth < MAX_ZIP_DEPTH and inner[0].file_size <= MAX_ZIP_BYTES:
                return _zip_code(_read_member(archive, inner[0], name), f"{name}:{inner[0].filename}", depth + 1)
            found = f" (only {', '.join(i.filename for i in inner[:3])}, zips inside a zip)" if inner else ""
            raise InvalidSubmission(f"{name}: the zip holds no notebook (.ipynb) or .py file{found}")
        data = _read_member(archive, chosen, name)
    label = f"{name}:{chosen.filename}"
    if chosen.filename.lower().endswith(".ipynb"):
        return notebook_code(data, label)
    return python_code(data, label)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
        raise InvalidSubmission(f"{name}: cannot read {info.filename} ({exc})") from None


def check_zip_member(zip_name: str, info: zipfile.ZipInfo) -> None:
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise InvalidSubmission(f"{zip_name}: unsafe absolute path in the zip: {name[:80]!r}")
    if ".." in parts:
        raise InvalidSubmission(f"{zip_name}: unsafe path with '..' in the zip: {name[:80]!r}")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise InvalidSubmission(f"{zip_name}: the zip contains a symbolic link: {name[:80]!r}")
    if info.flag_bits & 0x1:
        raise InvalidSubmission(f"{zip_name}: the zip is encrypted")


# PEP 263: a comment in the first two lines naming the source encoding.
CODING_LINE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def python_code(data: bytes, origin: str) -> SubmissionCode:
    """A ``.py`` file decoded as Python itself would (PEP 263): a BOM or a ``coding:`` line in
    the first two lines names the encoding, UTF-8 otherwise. The text keeps its coding line,
    which ``compile`` ignores in a str. A notebook saved under a ``.py`` name (its JSON would
    only raise NameError as Python) is read as the notebook, with a note."""
    if _is_notebook_json(data):
        code = notebook_code(data, origin)
        code.notes.insert(0, f"{origin}: a notebook saved under a .py name; graded as the notebook")
        return code
    try:
        text = importlib.util.decode_source(data)
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        cookie = next((m.group(1).decode("ascii", "replace") for line in data.splitlines()[:2]
                       if (m := CODING_LINE.match(line))), None)
        if cookie:
            raise InvalidSubmission(f"{origin}: cannot be decoded as {cookie}, the encoding its coding "
                                    f"line names ({_first_line(exc)})") from None
        try:
            data.decode("utf-8-sig")
        except UnicodeDecodeError as utf8:
            raise InvalidSubmission(f"{origin}: not UTF-8 text ({utf8.reason} at byte {utf8.start}), and no "
                                    "coding line (PEP 263) names another encoding") from None
        raise InvalidSubmission(f"{origin}: cannot be decoded ({_first_line(exc)})") from None
    return SubmissionCode(cells=[text], module_name="submission", origin=origin)


def _is_notebook_json(data: bytes) -> bool:
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"{":
        return False
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(parsed, dict) and "nbformat" in parsed and ("cells" in parsed or "worksheets" in parsed)


def notebook_code(data: bytes, origin: str) -> SubmissionCode:
    try:
        notebook = nbformat.reads(data.decode("utf-8-sig"), as_version=4)
    except UnicodeDecodeError as exc:
        raise InvalidSubmission(f"{origin}: not UTF-8 text ({exc.reason})") from None
    except Exception as exc:  # noqa: BLE001 - nbformat raises many types for bad JSON
        hint = "" if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"") else \
            "; it looks like Python code: submit it as a .py file"
        raise InvalidSubmission(f"{origin}: not a valid Jupyter notebook ({_first_line(exc)}){hint}") from None
    cells = getattr(notebook, "cells", None)
    if not isinstance(cells, list):
        raise InvalidSubmission(f"{origin}: not a valid Jupyter notebook (no cells)")
    code, notes = [], []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        if not isinstance(source, str):
            raise InvalidSubmission(f"{origin}: a code cell's source is not text")
        cleaned, removed = strip_magics(source)
        if removed:
            notes.append(f"code cell {len(code) + 1}: IPython magic or shell line ignored ({removed[0][:60]})")
        code.append(cleaned)
    return SubmissionCode(cells=code, module_name="submission", origin=origin, notes=notes)


def strip_magics(source: str) -> tuple[str, list[str]]:
    """Turn IPython-only lines (``%magic``, ``!shell``, ``%%cell`` magics) into no-ops.

    They are not Python; in a plain interpreter they would be syntax errors, and the
    grader must not run shell commands anyway. Indentation is kept so blocks still parse.
    A cell magic whose body IPython runs as Python (``%%time``, ``%%capture``, ...) keeps
    its body, so functions defined under it still count; other cell magics (``%%bash``,
    ``%%html``, ``%%writefile``, ...) drop the whole cell.
    """
    stripped = source.lstrip()
    if stripped.startswith("%%"):
        first, _, body = stripped.partition("\n")
        name = first[2:].split(maxsplit=1)[0] if first[2:].strip() else ""
        if name not in PYTHON_CELL_MAGICS:
            return "pass  # cell magic removed by the grader\n", [first]
        kept, removed = strip_magics(body)
        return "pass  # cell magic line removed by the grader\n" + kept, [first, *removed]
    removed, lines = [], []
    for line in source.splitlines():
        match = MAGIC_LINE.match(line)
        if match:
            removed.append(line.strip())
            lines.append(f"{match.group(1)}pass  # IPython line removed by the grader")
        else:
            lines.append(line)
    if not removed:
        return source, removed
    return "\n".join(lines) + "\n", removed


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]

