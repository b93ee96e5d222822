"""Modules an assignment shares between its students and its grader: ``shared_with_grader/``.

An assignment may have a package ``shared_with_grader/`` beside its notebook
(``assignments/<a>/shared_with_grader/__init__.py`` ...): helpers that students import from
the notebook (``from shared_with_grader.flowers import find_flowers``) and that the grader's
probes and checks import too (a5: the pretrained backbones and the flower photos), so both
sides build the same models from the same files. The course layer finds it by that name; a
spec never declares it.

- In the sandbox it is a read-only view holding only the package's ``.py`` files
  (``sandbox_view``, mounted as ``MOUNT``), and the runner puts the view on ``sys.path``
  before the submission's cells run (``ProbesAndChecks.import_paths``), as Jupyter has the
  notebook's folder there: ``import shared_with_grader`` works in both places.
- In the grader it is imported from the grader's own copy under a private package name
  (``load_grader_package``), never through ``sys.path``: two assignments' packages, or a
  copy the tests import, never meet in ``sys.modules``. ``probes.py`` and ``checks.py``
  find that name in their ``SHARED_PACKAGE``; a spec uses ``grader_module``.

Why a package rather than a folder of top-level modules put on ``sys.path``: each import
says where the module comes from (and that the grader uses it); it takes one name in
``sys.modules`` instead of one per module (no clash with a pip package or a student's file
called ``flowers``); and its modules import each other relatively (``from .backbones import
...``), which is what lets the grader load them under a name of its own.

Where it is: on the student side of the hidden material (``student_side``):
``assignments/<a>/`` for the kit's ``solutions/<a>/``, else the ``student/`` folder beside
the hidden one (``DIR/<a>/autograder/`` after ``autograder build``, ``hidden/`` in the
Gradescope zip). The grader reads its copy there, never the student's submission.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .data_views import materialise

FOLDER = "shared_with_grader"
MOUNT = "shared_with_grader"  # the sandbox mount's name (its view holds FOLDER/*.py)
_GRADER_PREFIX = "_autograder_shared_"


def student_side(hidden_dir: Path) -> Path:
    """The folder of what students receive, for the hidden material in ``hidden_dir``."""
    hidden_dir = Path(hidden_dir).resolve()
    if hidden_dir.parent.name == "solutions":
        return hidden_dir.parent.parent / "assignments" / hidden_dir.name
    return hidden_dir.parent / "student"


def find_shared_folder(hidden_dir: Path) -> Path | None:
    """The assignment's ``shared_with_grader/`` folder, or None when it has none."""
    folder = student_side(hidden_dir) / FOLDER
    return folder if folder.is_dir() else None


def module_files(folder: Path) -> list[tuple[str, Path]]:
    """(path inside the view, file) for every ``.py`` file of the package, sub-packages too."""
    folder = Path(folder)
    return sorted((f"{FOLDER}/{path.relative_to(folder).as_posix()}", path)
                  for path in folder.rglob("*.py") if "__pycache__" not in path.parts)


def sandbox_view(folder: Path, label: str) -> Path:
    """A read-only, content-addressed copy of the package's ``.py`` files (no data, no
    caches), laid out so that the view's root is the folder to put on ``sys.path``."""
    return materialise(f"{label}-shared", module_files(folder))


def grader_package_name(folder: Path) -> str:
    """The private name the grader imports ``folder`` under (one per folder)."""
    return _GRADER_PREFIX + "".join(c if c.isalnum() else "_" for c in str(Path(folder).resolve()))


def load_grader_package(folder: Path) -> ModuleType:
    """Import the grader's copy of the package afresh (its earlier modules forgotten), under
    ``grader_package_name(folder)``; its sub-modules are imported when first asked for."""
    folder = Path(folder).resolve()
    name = grader_package_name(folder)
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package  # before running it, as the import system does
    spec.loader.exec_module(package)
    return package


def grader_module(hidden_dir: Path, module: str) -> ModuleType:
    """``module`` of the shared package of the hidden material in ``hidden_dir`` (a spec
    passes its own folder), from the grader's copy."""
    folder = find_shared_folder(hidden_dir)
    if folder is None:
        raise FileNotFoundError(f"no {FOLDER}/ folder for the hidden material in {hidden_dir} "
                                f"(looked in {student_side(hidden_dir)})")
    name = grader_package_name(folder)
    if name not in sys.modules:
        load_grader_package(folder)
    return importlib.import_module(f"{name}.{module}")
