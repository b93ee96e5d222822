"""Discovering a class: every entry of the folder or zip a TA hands the kit, as submissions.

A class arrives as a folder or a zip as LMS exports deliver it (``list_class``):
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

Each submission found is then read by ``autograder.grading.submission`` (``load``,
``snapshot``): this module decides who handed in what, never what the code says.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..grading.lms_names import owner_of, readable_name
from ..grading.submission import (
    FoundSubmission,
    InvalidSubmission,
    check_zip_member,
    is_directory,
    is_hidden_name,
    snapshot,
)
from ..machine.faults import MACHINE_ERRNOS

# A whole class in one zip (unpacked to disk once; each student's own zip is still read
# with the per-submission limits above).
MAX_CLASS_ZIP_MEMBERS = 20000
MAX_CLASS_ZIP_UNCOMPRESSED = 4 * 1024 * 1024 * 1024




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
    return sorted(p for p in path.iterdir() if not is_hidden_name(p.name))




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
    elif not is_directory(path):
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
        if not (len(entries) == 1 and is_directory(entries[0]) and not owner_of(entries[0]).lms):
            break
        inner, _ = class_entries(entries[0])
        if len(inner) == 1 and is_directory(inner[0]):
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
            check_zip_member(path.name, info)
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
