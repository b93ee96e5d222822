"""The package keeps to its layers (``autograder/layers.py``): a module imports only from its own
part or from a layer below it, so the layout is the architecture (issue 15) and no layer can
reach up. Imports inside functions count as well (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import autograder
from autograder.layers import LEVEL, part_of

PACKAGE = Path(autograder.__file__).resolve().parent
def _is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported autograder module, line) for every import in the file, lazy ones included;
    ``from X import name`` counts as importing ``X.name`` when that is a module."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.split(".")[:-1]  # a module's package; for __init__.py, the package itself
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            source = ".".join(part for part in (base, node.module or "") if part)
            for alias in node.names:
                child = f"{source}.{alias.name}"
                found.append((child if _is_module(child) else source, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
    return [(name, line) for name, line in found if name.split(".")[0] == "autograder"]


def _edges():
    for path in sorted(PACKAGE.rglob("*.py")):
        own = part_of(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for target, line in _imports(path):
            yield path.relative_to(PACKAGE.parent).as_posix(), line, own, part_of(target)


def test_every_part_of_the_package_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").is_file())}
    assert parts <= set(LEVEL), f"give these a layer in autograder/layers.py: {sorted(parts - set(LEVEL))}"


def test_no_module_imports_from_a_layer_above_it():
    upward = [f"{file}:{line}: {own} imports {target}" for file, line, own, target in _edges()
              if own != target and LEVEL[target] > LEVEL[own]]
    assert upward == []


def test_parts_of_one_layer_do_not_import_each_other():
    sideways = [f"{file}:{line}: {own} imports {target}" for file, line, own, target in _edges()
                if own != target and LEVEL[target] == LEVEL[own] and LEVEL[own] > 0]
    assert sideways == []


def test_the_check_sees_imports(tmp_path):
    """The parser finds relative, absolute and lazy imports (so the tests above can fail)."""
    folder = tmp_path / "autograder" / "grading"
    folder.mkdir(parents=True)
    probe = folder / "probe.py"
    (folder / "pipeline.py").write_text("")
    (tmp_path / "autograder" / "classroom").mkdir()
    (tmp_path / "autograder" / "classroom" / "batch.py").write_text("")
    probe.write_text("from ..classroom import batch\nimport autograder.cli\n"
                     "def f():\n    from .pipeline import Grading\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "autograder"
    try:
        assert _imports(probe) == [("autograder.classroom.batch", 1), ("autograder.cli", 2),
                                   ("autograder.grading.pipeline", 4)]
    finally:
        PACKAGE = saved
