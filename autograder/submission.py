"""Reading what students hand in, without ever running or unpickling any of it.

A submission is a notebook (``.ipynb``), a Python file (``.py``), a ``.zip`` from the
notebook's export cell (any other files in it, such as otter's ``.OTTER_LOG`` pickle,
are ignored, never opened), or a folder holding one of those. What comes out is the
list of code cells the sandbox will execute. Anything malformed raises
``InvalidSubmission`` with a message that names what was wrong.

A class arrives as a folder or a zip as LMS exports deliver it (``find_submissions``):
one file per student, a folder per student, or a class zip holding per-student files,
folders or zips. Canvas and Moodle names give the student id (``autograder.lms``);
several entries of one student (Canvas: one file per uploaded file; Moodle: one folder
per submission plugin) are gathered into one submission.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .lms import Owner, owner_of

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
    """The submission cannot be read; the message says why, in words for the student."""


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
    return name.startswith((".", "__MACOSX"))


def discover(path: Path) -> list[Path]:
    """The submissions in ``path``: itself if a file, else every visible entry in it."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no such submission file or folder: {path}")
    return sorted(p for p in path.iterdir() if not _hidden(p.name))


@dataclass(frozen=True)
class FoundSubmission:
    """One student's submission in a class.

    path:   what ``load`` reads (a file, or a folder of that student's files).
    owner:  the student id and what the LMS naming told (``autograder.lms.Owner``).
    label:  where it came from, relative to what the TA passed (for messages and results).
    """

    path: Path
    owner: Owner
    label: str

    @property
    def student(self) -> str:
        return self.owner.student


def find_submissions(path: Path, workdir: Path) -> tuple[list[FoundSubmission], list[str]]:
    """Every student's submission under ``path``, sorted by student id, and notes for the TA.

    ``path`` is one submission file, a folder of submissions, or a class zip (a zip holding
    per-student zips, or more than one notebook or Python file, or LMS-named entries).
    A class zip is unpacked under ``workdir`` after the same safety checks as any zip;
    entries of one student are gathered into a folder under ``workdir``. Two different
    entries that would get the same student id are told apart by their file names (and,
    failing that, a numbered suffix), and a note says so: nothing is overwritten.
    """
    path = Path(path)
    notes: list[str] = []
    if not path.exists():
        raise FileNotFoundError(f"no such submission file or folder: {path}")
    root_label = ""
    if path.is_file() and path.suffix.lower() == ".zip" and is_class_zip(path):
        unpacked = workdir / "unpacked"
        extract_class_zip(path, unpacked)
        root, root_label = _unwrap(unpacked), path.name
    elif path.is_file():
        return [FoundSubmission(path, owner_of(path), path.name)], notes
    else:
        root = path
    groups: dict[tuple[str, str], list[Path]] = {}
    for entry in discover(root):
        owner = owner_of(entry)
        key = (owner.lms, owner.lms_id) if owner.lms else ("", entry.name)
        groups.setdefault(key, []).append(entry)
    found = []
    for entries in groups.values():
        owner = owner_of(entries[0])
        label = "/".join(filter(None, [root_label, entries[0].relative_to(root).as_posix()]))
        if len(entries) == 1:
            found.append(FoundSubmission(entries[0], owner, label))
            continue
        folder = workdir / "gathered" / hashlib.sha256(label.encode()).hexdigest()[:16]
        _gather(entries, folder)
        names = ", ".join(e.name for e in entries[:4])
        found.append(FoundSubmission(folder, owner, label + f" (+{len(entries) - 1} more: {names})"))
    found = _distinct_ids(found, notes)
    return sorted(found, key=lambda f: f.student), notes


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
            out.append(FoundSubmission(item.path, Owner(new, owner.lms, owner.lms_id, owner.name, owner.late),
                                       item.label))
        notes.append(f"{len(items)} submissions would share the id {sid!r} "
                     f"({', '.join(sorted(i.label for i in items))}); each keeps its own row, "
                     f"named by its file name")
    return out


def _gather(entries: list[Path], folder: Path) -> None:
    """Copy one student's entries into one folder (real files: ``load`` skips symlinks)."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, entry in enumerate(sorted(entries)):
        if entry.is_symlink():
            continue
        target = folder / f"{n:02d}_{entry.name}"
        if entry.is_dir():
            shutil.copytree(entry, target, symlinks=True)
        else:
            shutil.copyfile(entry, target)


def _unwrap(root: Path) -> Path:
    """A class zip whose only entry is a plain wrapper folder ("submissions/"): look inside."""
    entries = [p for p in root.iterdir() if not _hidden(p.name)]
    if len(entries) == 1 and entries[0].is_dir() and not owner_of(entries[0]).lms:
        inner = [p for p in entries[0].iterdir() if not _hidden(p.name)]
        if len(inner) > 1 and any(p.is_dir() or p.suffix.lower() == ".zip" or owner_of(p).lms
                                  for p in inner):
            return entries[0]
    return root


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
    visible = [n for n in names if not any(_hidden(part) for part in n.split("/"))]
    code = [n for n in visible if Path(n).suffix.lower() in (".ipynb", ".py", ".zip")]
    if any(n.lower().endswith(".zip") for n in code):
        return True
    if any(owner_of(Path(n.split("/")[0])).lms for n in visible):
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
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)


def load(path: Path) -> SubmissionCode:
    if path.is_symlink():
        raise InvalidSubmission(f"{path.name} is a symbolic link; submit the file itself")
    if path.is_dir():
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
    size = path.stat().st_size
    if size > limit:
        raise InvalidSubmission(
            f"{path.name}: the {what} is {size / 2**20:.1f} MiB, more than the "
            f"{limit / 2**20:.0f} MiB allowed (clear large outputs before submitting)"
        )
    return path.read_bytes()


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
    if path.stat().st_size > MAX_ZIP_BYTES:
        raise InvalidSubmission(f"{path.name}: zip larger than {MAX_ZIP_BYTES // 2**20} MiB")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidSubmission(f"{path.name} is not a valid zip file ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ZIP_MEMBERS:
            raise InvalidSubmission(f"{path.name}: {len(infos)} files in the zip (limit {MAX_ZIP_MEMBERS})")
        total = 0
        for info in infos:
            _check_member(path.name, info)
            total += info.file_size
        if total > MAX_ZIP_UNCOMPRESSED:
            raise InvalidSubmission(f"{path.name}: unpacks to {total / 2**20:.0f} MiB (limit "
                                    f"{MAX_ZIP_UNCOMPRESSED // 2**20} MiB)")
        candidates = [i for i in infos if not i.is_dir()
                      and not any(part.startswith((".", "__MACOSX")) for part in i.filename.split("/"))
                      and Path(i.filename).suffix.lower() in (".ipynb", ".py")]
        chosen = _choose(candidates, key=lambda i: Path(i.filename).suffix.lower(), name=lambda i: i.filename)
        if chosen is None:
            raise InvalidSubmission(f"{path.name}: the zip holds no notebook (.ipynb) or .py file")
        try:
            data = archive.read(chosen)
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            raise InvalidSubmission(f"{path.name}: cannot read {chosen.filename} ({exc})") from None
    label = f"{path.name}:{chosen.filename}"
    if chosen.filename.lower().endswith(".ipynb"):
        return notebook_code(data, label)
    return python_code(data, label)


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


def python_code(data: bytes, origin: str) -> SubmissionCode:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidSubmission(f"{origin}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return SubmissionCode(cells=[text], module_name="submission", origin=origin)


def notebook_code(data: bytes, origin: str) -> SubmissionCode:
    try:
        notebook = nbformat.reads(data.decode("utf-8-sig"), as_version=4)
    except UnicodeDecodeError as exc:
        raise InvalidSubmission(f"{origin}: not UTF-8 text ({exc.reason})") from None
    except Exception as exc:  # noqa: BLE001 - nbformat raises many types for bad JSON
        raise InvalidSubmission(f"{origin}: not a valid Jupyter notebook ({_first_line(exc)})") from None
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

