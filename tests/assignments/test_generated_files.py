"""Generated files stay fresh: every generator of the kit, run into a fresh folder, writes
exactly the files that are committed.

A generator is any ``solutions/<assignment>/tools/make_*.py`` (found by that pattern, so a new
one is checked without a change here). Its ``main(root)`` writes under ``root`` the files it
writes into the kit by default, at the same paths relative to the kit's root. Each runs in a
subprocess of its own: the tools put their assignment's folder on sys.path and import
``reference`` and ``mistakes`` by those bare names, which must not leak into this process.

When this fails, rerun the generator it names (``.venv/bin/python <tool>``) and commit what it
wrote, or edit the generator instead of the file it writes."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.kit_folders import KIT_ROOT, SOLUTIONS_DIR

GENERATORS = sorted(SOLUTIONS_DIR.glob("*/tools/make_*.py"))
RUN_MAIN = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("generator_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.main(sys.argv[2])
"""


def _short_diff(committed: Path, fresh: Path, lines: int = 20) -> str:
    try:
        old, new = committed.read_text().splitlines(), fresh.read_text().splitlines()
    except UnicodeDecodeError:
        return "(binary files differ)"
    diff = list(difflib.unified_diff(old, new, "committed", "regenerated", n=1, lineterm=""))
    return "\n".join(diff[:lines] + ([f"... {len(diff) - lines} more diff lines"] if len(diff) > lines else []))


def stale_files(root: Path) -> list[str]:
    """What differs between the files under ``root`` and the kit's files at the same paths:
    one entry per file, with a short diff."""
    problems = []
    for fresh in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = fresh.relative_to(root)
        committed = KIT_ROOT / rel
        if not committed.is_file():
            problems.append(f"{rel}: generated but not in the kit")
        elif committed.read_bytes() != fresh.read_bytes():
            problems.append(f"{rel}: the committed file is not what the generator writes\n"
                            f"{_short_diff(committed, fresh)}")
    return problems


def test_the_kit_has_generators():
    names = {p.relative_to(SOLUTIONS_DIR).as_posix() for p in GENERATORS}
    assert {"a5_finetune/tools/make_notebook.py", "a5_finetune/tools/make_samples.py",
            "a6_mlp/tools/make_notebooks.py"} <= names


@pytest.mark.parametrize("tool", GENERATORS, ids=lambda p: p.relative_to(SOLUTIONS_DIR).as_posix())
def test_committed_files_are_what_the_generator_writes(tool, tmp_path):
    root = tmp_path / "kit"
    run = subprocess.run([sys.executable, "-c", RUN_MAIN, str(tool), str(root)], cwd=KIT_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert root.is_dir() and any(p.is_file() for p in root.rglob("*")), f"{tool.name} wrote nothing under root"
    problems = stale_files(root)
    assert not problems, f"{tool.relative_to(KIT_ROOT)}:\n" + "\n".join(problems)


def test_a_stale_file_is_named_with_its_diff(tmp_path):
    """The comparison can fail: a changed line and a file the kit lacks are both reported."""
    rel = Path("solutions") / "a6_mlp" / "tools" / "make_notebooks.py"
    changed = tmp_path / rel
    changed.parent.mkdir(parents=True)
    changed.write_text((KIT_ROOT / rel).read_text().replace('NAME = "a6_mlp"', 'NAME = "a6_renamed"'))
    (changed.parent / "not_in_the_kit.txt").write_text("new\n")
    problems = stale_files(tmp_path)
    assert len(problems) == 2
    assert problems[0].startswith("solutions/a6_mlp/tools/make_notebooks.py: the committed file")
    assert '-NAME = "a6_mlp"' in problems[0] and '+NAME = "a6_renamed"' in problems[0]
    assert problems[1] == "solutions/a6_mlp/tools/not_in_the_kit.txt: generated but not in the kit"
