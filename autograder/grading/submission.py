"""Reading what students hand in, without ever running or unpickling any of it.

A submission is a notebook (``.ipynb``), a Python file (``.py``), a ``.zip`` from the
notebook's export cell (any other files in it, such as otter's ``.OTTER_LOG`` pickle,
are ignored, never opened), or a folder holding one of those. What comes out is the
list of code cells the sandbox will execute. Anything malformed raises
``InvalidSubmission`` with a message that names what was wrong.

A class arrives as a folder or a zip as LMS exports deliver it (``find_submissions``):
one file per student, a folder per student, or a class zip holding per-student files,
folders or zips. Canvas, Moodle and Blackboard names give the student id (``autograder.grading.lms_names``;
Blackboard's attempts: the latest counts);
several entries of one student (Canvas: one file per uploaded file; Moodle: one folder
per submission plugin) are gathered into one submission. Every entry of a class gets a row:
dotfiles such as ``.bob.py`` are submissions; only what operating systems and Jupyter leave
beside files (``__MACOSX/``, ``._*``, ``.DS_Store``, ``.ipynb_checkpoints`` ...) is skipped,
and each skipped entry is listed. Entries that cannot be read as files (symbolic links,
named pipes, devices, sockets, unreadable files, folders named like files) are examined
without being opened and become ``invalid_submission`` rows naming the problem.

The grader grades its own copy (``snapshot``): each file is read once, through a
non-blocking, no-follow open of a regular file, into a private folder, and the content hash
is taken of exactly those bytes, so what is graded and what is cached under a hash agree
even if the student's file changes meanwhile.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..machine.faults import MACHINE_ERRNOS
from .lms_names import Owner, owner_of, readable_name

SUPPORTED_SUFFIXES = (".ipynb", ".py", ".zip")
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_PYTHON_BYTES = 2 * 1024 * 1024
MAX_ZIP_BYTES = 50 * 1024 * 1024
MAX_ZIP_MEMBERS = 200
MAX_ZIP_UNCOMPRESSED = 100 * 1024 * 1024
# A whole class in one zip (unpacked to disk once; each student's own zip is still read
# with the per-submission limits above).
MAX_CLASS_ZIP_MEMBERS = 20000
MAX_CLASS_ZIP_UNCOMPRESSED = 4 * 1024 * 1024 * 1024
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


def _hidden(name: str) -> bool:
    """Hidden inside one student's folder or zip: never chosen as the notebook to grade."""
    return name.startswith((".", "__MACOSX"))


# What operating systems and Jupyter leave beside a class's files: never a student's work.
# Everything else at the top of a class folder or zip is a submission (``.bob.py`` included).
METADATA_NAMES = frozenset({
    "__MACOSX", ".DS_Store", ".ipynb_checkpoints", ".Spotlight-V100", ".Trashes", ".fseventsd",
    ".TemporaryItems", "Thumbs.db", "desktop.ini",
    "submission_metadata.yml",  # Gradescope's export: who submitted what (no code)
})


def is_metadata(name: str) -> bool:
    """macOS resource forks (``._name``, ``__MACOSX/``), Finder, Windows and Jupyter files."""
    return name in METADATA_NAMES or name.startswith("._")


def class_entries(path: Path) -> tuple[list[Path], list[Path]]:
    """(entries to grade, metadata skipped) at the top of a class folder, both sorted."""
    try:
        entries = sorted(path.iterdir())
    except OSError as exc:  # the TA's own folder: a usage problem, not a student's
        raise ValueError(f"cannot list the class folder {path} ({exc.strerror or exc})") from None
    return [p for p in entries if not is_metadata(p.name)], [p for p in entries if is_metadata(p.name)]


def discover(path: Path) -> list[Path]:
    """The visible entries of ``path`` (itself if a file), as a file browser lists them.

    Used for exam answer folders; a class is listed by ``list_class``, which also counts
    dotfiles as submissions and reports what it skips.
    """
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no such submission file or folder: {path}")
    return sorted(p for p in path.iterdir() if not _hidden(p.name))


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


@dataclass
class ClassListing:
    """What ``list_class`` found: one submission per student, notes, and what it skipped."""

    found: list[FoundSubmission]
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # labels of metadata entries, not graded


def find_submissions(path: Path, workdir: Path) -> tuple[list[FoundSubmission], list[str]]:
    """``list_class`` as (submissions, notes); skipped metadata entries are among the notes."""
    listing = list_class(path, workdir)
    return listing.found, listing.notes + [f"skipped (not a submission): {s}" for s in listing.skipped]


def list_class(path: Path, workdir: Path) -> ClassListing:
    """Every student's submission under ``path``, sorted by student id, notes for the TA, and
    the metadata entries skipped.

    ``path`` is one submission file, a folder of submissions, or a class zip (a zip holding
    per-student zips, or more than one notebook or Python file, or LMS-named entries).
    A class zip is unpacked under ``workdir`` after the same safety checks as any zip;
    entries of one student are gathered into a folder under ``workdir``. Two different
    entries that would get the same student id are told apart by their file names (and,
    failing that, a numbered suffix), and a note says so: nothing is overwritten.
    Nothing is opened here but a class zip; special files are only ``lstat``-ed.
    """
    path = Path(path)
    notes: list[str] = []
    if not os.path.lexists(path):
        raise FileNotFoundError(f"no such submission file or folder: {path}")
    root_label = ""
    if _is_regular(path) and path.suffix.lower() == ".zip" and is_class_zip(path):
        unpacked = workdir / "unpacked"
        extract_class_zip(path, unpacked)
        root, root_label = _unwrap(unpacked), path.name
    elif not _is_directory(path):
        return ClassListing([FoundSubmission(path, owner_of(path), readable_name(path.name))], notes)
    else:
        root = path
    entries, metadata = class_entries(root)
    skipped = [_label(root_label, root, p) for p in metadata]
    groups: dict[tuple[str, str], list[Path]] = {}
    for entry in entries:
        owner = owner_of(entry)
        key = (owner.lms, owner.lms_id) if owner.lms else ("", entry.name)
        groups.setdefault(key, []).append(entry)
    found = []
    for entries in groups.values():
        entries = _latest_attempt(entries, notes)
        owner = owner_of(entries[0])
        label = _label(root_label, root, entries[0])
        if len(entries) == 1:
            found.append(FoundSubmission(entries[0], owner, label))
            continue
        folder = workdir / "gathered" / hashlib.sha256(label.encode()).hexdigest()[:16]
        for problem in _gather(entries, folder):
            notes.append(f"{owner.student}: left out of the submission: {problem}")
        names = ", ".join(readable_name(e.name) for e in entries[:4])
        found.append(FoundSubmission(folder, owner, label + f" (+{len(entries) - 1} more: {names})"))
    found = _distinct_ids(found, notes)
    notes.extend(_look_alike_notes([f.student for f in found]))
    return ClassListing(sorted(found, key=lambda f: f.student), notes, skipped)


# "ben (1).ipynb": how browsers name a second download of "ben.ipynb".
COPY_NUMBER = re.compile(r"^(?P<base>.+?) \(\d+\)$")


def _look_alike_notes(ids: list[str]) -> list[str]:
    """Ids that differ only in case or by a browser's copy number: each keeps its row (the
    contract: the stem is the id), and the TA is told they are most likely one student."""
    groups: dict[str, list[str]] = {}
    for sid in ids:
        match = COPY_NUMBER.match(sid)
        groups.setdefault((match["base"] if match else sid).casefold(), []).append(sid)
    return [f"ids {', '.join(repr(s) for s in sorted(group))} look like one student's: each is graded "
            "as its own row; remove the copies that do not count and grade again"
            for _, group in sorted(groups.items()) if len(group) > 1]


def _latest_attempt(entries: list[Path], notes: list[str]) -> list[Path]:
    """The entries of a student's latest attempt where the LMS names attempts (Blackboard's
    "all attempts" download); the older ones are named in a note, never graded as well."""
    attempts = {owner_of(e).attempt for e in entries}
    if len(attempts) < 2:
        return entries
    latest = max(attempts)
    older = sorted(attempts - {latest})
    notes.append(f"{owner_of(entries[0]).student}: {len(older)} older attempt(s) not graded "
                 f"({', '.join(older)}); the latest, {latest}, is")
    return [e for e in entries if owner_of(e).attempt == latest]


def _label(root_label: str, root: Path, entry: Path) -> str:
    """Where ``entry`` came from, as readable text (``readable_name``), for messages and results."""
    return readable_name("/".join(filter(None, [root_label, entry.relative_to(root).as_posix()])))


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _is_directory(path: Path) -> bool:
    """A real folder (a symbolic link to one is an entry of its own, and invalid)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _distinct_ids(found: list[FoundSubmission], notes: list[str]) -> list[FoundSubmission]:
    by_id: dict[str, list[FoundSubmission]] = {}
    for item in found:
        by_id.setdefault(item.student, []).append(item)
    taken = {sid for sid, items in by_id.items() if len(items) == 1}
    out = []
    for sid, items in sorted(by_id.items()):
        if len(items) == 1:
            out.extend(items)
            continue
        for item in sorted(items, key=lambda f: f.label):
            base = Path(item.label.split(" (+")[0]).name
            new, n = base, 2
            while new in taken:
                new, n = f"{base}~{n}", n + 1
            taken.add(new)
            owner = item.owner
            out.append(FoundSubmission(item.path, dataclasses.replace(owner, student=new), item.label))
        notes.append(f"{len(items)} submissions would share the id {sid!r} "
                     f"({', '.join(sorted(i.label for i in items))}); each keeps its own row, "
                     f"named by its file name")
    return out


def _gather(entries: list[Path], folder: Path) -> list[str]:
    """Copy one student's entries into one folder; returns the entries left out and why.

    Copies are made by ``snapshot``: regular files only, read without following links or
    blocking on a pipe.
    """
    folder.mkdir(parents=True, exist_ok=True)
    problems = []
    for n, entry in enumerate(sorted(entries)):
        try:
            snapshot(entry, folder, name=f"{n:02d}_{_shortened(entry.name)}")
        except InvalidSubmission as exc:
            problems.append(str(exc))
    return problems


def _shortened(name: str, limit: int = 200) -> str:
    """``name`` cut to at most ``limit`` bytes, its suffix kept (what ``load`` chooses by), so
    that a prefix added to a name as long as the disk allows still fits on it."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= limit:
        return name
    suffix = Path(name).suffix.encode("utf-8", "surrogateescape")[:20]
    stem = raw[:limit - len(suffix)].decode("utf-8", "ignore")
    return stem + suffix.decode("utf-8", "surrogateescape")


def _unwrap(root: Path) -> Path:
    """A class zip whose only entry is a plain wrapper folder ("submissions/", Gradescope's
    "assignment_<id>_export/", or several nested): look inside."""
    for _ in range(MAX_WRAPPERS):
        entries, _ = class_entries(root)
        if not (len(entries) == 1 and _is_directory(entries[0]) and not owner_of(entries[0]).lms):
            break
        inner, _ = class_entries(entries[0])
        if len(inner) == 1 and _is_directory(inner[0]):
            root = entries[0]  # another wrapper: look further
            continue
        if len(inner) > 1 and any(p.is_dir() or p.suffix.lower() == ".zip" or owner_of(p).lms
                                  for p in inner):
            root = entries[0]
        break
    return root


MAX_WRAPPERS = 4


def _below_wrappers(names: list[str]) -> list[str]:
    """``names`` below the folders that every one of them is in ("a/b/x.py", "a/b/y.py" -> "x.py", "y.py")."""
    for _ in range(MAX_WRAPPERS):
        if not names or not all("/" in n for n in names) or len({n.split("/")[0] for n in names}) != 1:
            break
        names = [n.split("/", 1)[1] for n in names]
    return names


def is_class_zip(path: Path) -> bool:
    """A zip of submissions rather than one student's export zip.

    A student's export zip holds one notebook (plus otter's log and other files). A class
    zip holds zips, LMS-named entries, or notebooks / Python files under more than one
    top-level name. An unreadable zip counts as one (invalid) submission.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError):
        return False
    visible = [n for n in names if not any(is_metadata(part) for part in n.split("/"))]
    code = [n for n in visible if Path(n).suffix.lower() in (".ipynb", ".py", ".zip")]
    if any(n.lower().endswith(".zip") for n in code):
        return True
    if any(owner_of(Path(n.split("/")[0]), folder="/" in n).lms for n in visible):
        return True
    # One folder per student inside wrapper folders (Gradescope's export, a TA's own zip):
    # below the wrappers, code in more than one folder and none beside them. A notebook with
    # helpers in subfolders ("a1.ipynb", "utils/x.py", "tests/q1.py") stays one student's.
    inner = _below_wrappers(code)
    if all("/" in n for n in inner) and len({n.split("/")[0] for n in inner}) > 1:
        return True
    return len({n.split("/")[0] for n in code}) > 1 and sum(n.endswith(".ipynb") for n in code) != 1


def extract_class_zip(path: Path, dest: Path) -> None:
    """Unpack a class zip under ``dest`` after the per-zip safety checks (no absolute or
    ``..`` paths, no symlinks, no encryption) and class-sized limits."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidSubmission(f"{path.name} is not a valid zip file ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_CLASS_ZIP_MEMBERS:
            raise InvalidSubmission(f"{path.name}: {len(infos)} files (limit {MAX_CLASS_ZIP_MEMBERS})")
        for info in infos:
            _check_member(path.name, info)
        _check_distinct_members(path.name, infos)
        total = sum(info.file_size for info in infos)
        if total > MAX_CLASS_ZIP_UNCOMPRESSED:
            raise InvalidSubmission(f"{path.name}: unpacks to {total / 2**30:.1f} GiB (limit "
                                    f"{MAX_CLASS_ZIP_UNCOMPRESSED // 2**30} GiB)")
        dest.mkdir(parents=True, exist_ok=True)
        base = dest.resolve()
        for info in infos:
            target = (base / info.filename.replace("\\", "/")).resolve()
            if not target.is_relative_to(base):
                raise InvalidSubmission(f"{path.name}: unsafe path in the zip: {info.filename[:80]!r}")
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
            except OSError as exc:
                if exc.errno in MACHINE_ERRNOS:
                    raise  # the machine's fault (a full disk), named as such by the batch
                # The zip's fault: a name too long for this file system, one it cannot hold.
                raise InvalidSubmission(f"{path.name}: {info.filename[:80]!r} cannot be unpacked "
                                        f"({exc.strerror or exc})") from None


def _check_distinct_members(zip_name: str, infos: list[zipfile.ZipInfo]) -> None:
    """Each path once, and never both a file and a folder: unpacked, a second copy would
    silently replace the first (which one counts?) and a file where a folder must go fails."""
    files, folders = set(), set()
    for info in infos:
        name = info.filename.replace("\\", "/").rstrip("/")
        parts = name.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        if info.is_dir():
            folders.add(name)
        elif name in files:
            raise InvalidSubmission(f"{zip_name}: {name[:80]!r} is in the zip twice; which copy counts "
                                    "cannot be told: remove one and zip the class again")
        else:
            files.add(name)
    clash = sorted(files & folders)
    if clash:
        raise InvalidSubmission(f"{zip_name}: {clash[0][:80]!r} is both a file and a folder in the zip")


# --- The grader's own copy: read once, without following links or blocking ---------------

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
        dirs[:] = sorted(d for d in dirs if not _hidden(d))
        for name in sorted(files):
            path = Path(top) / name
            if _hidden(name) or path.suffix.lower() not in SUPPORTED_SUFFIXES:
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
    if _is_directory(path):
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
            _check_member(name, info)
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


def _check_member(zip_name: str, info: zipfile.ZipInfo) -> None:
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

