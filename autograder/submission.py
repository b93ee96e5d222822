"""Reading what students hand in, without ever running or unpickling any of it.

A submission is a notebook (``.ipynb``), a Python file (``.py``), a ``.zip`` from the
notebook's export cell (any other files in it, such as otter's ``.OTTER_LOG`` pickle,
are ignored, never opened), or a folder holding one of those. What comes out is the
list of code cells the sandbox will execute. Anything malformed raises
``InvalidSubmission`` with a message that names what was wrong.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

SUPPORTED_SUFFIXES = (".ipynb", ".py", ".zip")
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_PYTHON_BYTES = 2 * 1024 * 1024
MAX_ZIP_BYTES = 50 * 1024 * 1024
MAX_ZIP_MEMBERS = 200
MAX_ZIP_UNCOMPRESSED = 100 * 1024 * 1024
MAGIC_LINE = re.compile(r"^(\s*)[%!]")
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})


class InvalidSubmission(ValueError):
    """The submission cannot be read; the message says why, in words for the student."""


@dataclass
class SubmissionCode:
    cells: list[str]
    module_name: str  # "__main__" for notebooks (as in Jupyter), else "submission"
    origin: str  # the file the code came from, for messages
    notes: list[str] = field(default_factory=list)


def student_id(path: Path) -> str:
    """The contract: a file's stem, or a folder's name, identifies the student."""
    return path.name if path.is_dir() else path.stem


def discover(path: Path) -> list[Path]:
    """The submissions in ``path``: itself if a file, else every visible entry in it."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no such submission file or folder: {path}")
    return sorted(p for p in path.iterdir() if not p.name.startswith((".", "__MACOSX")))


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
    return SubmissionCode(cells=code, module_name="__main__", origin=origin, notes=notes)


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

