"""Set-up on stock machines: ``kit`` checks the interpreter first and picks the lock it can
install; the locks and ``pyproject.toml`` agree on the Pythons they promise.

What these tests cannot do offline is ask PyPI; the installability of each lock on its
Pythons was checked with pip's resolver (see the locks' headers), and the metadata of every
pinned package installed here is checked against the oldest Python its lock serves.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from kit_paths import KIT
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

# lock -> the oldest Python it serves (kit picks by major.minor)
LOCKS = {"requirements.lock": "3.11.0", "requirements-py310.lock": "3.10.0"}


def fake_python(tmp_path: Path, version: tuple[int, int, int]) -> Path:
    """An interpreter that says it is ``version`` (the real one underneath)."""
    script = tmp_path / f"python{'.'.join(map(str, version))}"
    patch = f"import sys; sys.version_info = ({version[0]}, {version[1]}, {version[2]}, 'final', 0)"
    script.write_text(f'#!/bin/sh\n[ "$1" = -c ] || exit 3\nexec "{sys.executable}" -c "{patch}; exec(sys.argv[1])" "$2"\n')
    script.chmod(0o755)
    return script


def kit(*args: str, python: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(KIT / "kit"), *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": str(python)})


@pytest.mark.parametrize("version, lock", [
    ((3, 10, 12), "requirements-py310.lock"),  # Ubuntu 22.04, Gradescope's image
    ((3, 11, 2), "requirements.lock"),         # Debian 12's /usr/bin/python3
    ((3, 13, 0), "requirements.lock"),
])
def test_kit_picks_the_lock_for_the_interpreter(tmp_path, version, lock):
    done = kit("lock", python=fake_python(tmp_path, version))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == lock


def test_kit_refuses_a_python_that_is_too_old_and_says_what_it_needs(tmp_path):
    done = kit("setup", python=fake_python(tmp_path, (3, 9, 18)))
    assert done.returncode == 1
    assert "the kit needs Python 3.10 or newer" in done.stderr and "is 3.9.18" in done.stderr
    assert not (tmp_path / ".venv").exists()


def test_kit_names_a_missing_interpreter(tmp_path):
    done = kit("setup", python=tmp_path / "no-such-python")
    assert done.returncode == 1 and "set PYTHON=/path/to/python3" in done.stderr


def read_lock(name: str) -> dict[str, str]:
    pins = {}
    for line in (KIT / name).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)", line.strip())
        assert match, f"{name}: not an exact pin: {line!r}"
        key = canonicalize_name(match[1])
        assert key not in pins, f"{name}: {match[1]} pinned twice"
        pins[key] = match[2]
    return pins


def test_pyproject_promises_exactly_the_pythons_the_locks_serve():
    text = (KIT / "pyproject.toml").read_text()
    (requires,) = re.findall(r'^requires-python = "([^"]+)"', text, flags=re.M)
    oldest = min(LOCKS.values(), key=lambda v: tuple(map(int, v.split("."))))
    spec = SpecifierSet(requires)
    assert spec.contains(oldest) and not spec.contains("3.9.18")
    kit_text = (KIT / "kit").read_text()
    assert "sys.version_info < (3, 10)" in kit_text and "sys.version_info >= (3, 11)" in kit_text


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_direct_dependency_is_pinned_in_each_lock(lock):
    text = (KIT / "pyproject.toml").read_text()
    names = set(re.findall(r'"([A-Za-z0-9_.-]+)(?:[<>=!~][^"]*)?"', text.split("[project.optional-dependencies]")[1]
                           .split("[project.scripts]")[0]))
    names |= {"numpy", "nbformat", "packaging"}
    pins = read_lock(lock)
    assert {canonicalize_name(n) for n in names} <= set(pins)


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_pinned_packages_installed_here_admit_the_oldest_python_of_their_lock(lock):
    """Catches a pin like soupsieve 4.1.2 (Requires-Python >= 3.11.5) in a lock for 3.11."""
    oldest = LOCKS[lock]
    checked, refused = 0, []
    for name, version in read_lock(lock).items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if dist.version != version:
            continue  # not what this lock installs: nothing to learn from its metadata
        checked += 1
        requires = dist.metadata.get("Requires-Python")
        if requires and not SpecifierSet(requires).contains(oldest, prereleases=True):
            refused.append(f"{name}=={version} needs Python {requires}")
    assert not refused, f"{lock} cannot install on Python {oldest}: {refused}"
    if checked == 0:
        pytest.skip(f"none of {lock}'s exact versions is installed in this environment")


def test_the_locks_do_not_pin_the_same_package_differently_without_need():
    """The 3.10 lock is the main lock capped for 3.10: never newer than it."""
    from packaging.version import Version

    main, old = read_lock("requirements.lock"), read_lock("requirements-py310.lock")
    newer = [n for n in set(main) & set(old) if Version(old[n]) > Version(main[n])]
    assert not newer
    assert all(Requirement(f"{n}=={v}") for n, v in old.items())
