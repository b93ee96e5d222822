"""No process of a box outlives it, even without a cgroup (a root grader in a container
without bubblewrap or cgroup access: the fallback with per-process limits only).

There the box is killed by its leased uid. A sweep that lists the uid's processes and kills
each one races with a process tree that keeps forking: a chain whose every member forks and
exits at once is never where the sweep saw it, outlives the box, and holds on to the uid the
next box is leased (its process count, its CPU; on a kernel without Landlock's signal scoping,
the next box's runner itself). ``kill(-1)`` sent as the uid reaches all of its processes at
once, and a member that has been sent SIGKILL can no longer fork.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from autograder.course.assignment import load_assignment
from autograder.grading.grade import grade_submission
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.sandbox import Limits, SandboxSettings, confinement, isolation, landlock  # noqa: F401

# CHAINS sessions, each a parent that forks a child every moment and reaps it; a child that
# finds its parent gone (killed) takes its place. Whatever a sweep kills, a child forked after
# it looked carries on. Gives up by itself after SECONDS, so a failing test leaves nothing
# behind for long.
FORK_CHAIN = '''
import os as _os
import time as _time

_SECONDS = 6.0
_CHAINS = 24


def _chain(deadline):
    while _time.time() < deadline:
        parent = _os.getpid()
        try:
            child = _os.fork()
        except OSError:
            continue
        if child == 0:
            _time.sleep(0.0005)
            if _os.getppid() == parent:
                _os._exit(0)  # the parent lives: leave the chain to it
            continue  # orphaned: the parent was killed, this child is the chain now
        _os.waitpid(child, 0)
    _os._exit(0)


for _ in range(_CHAINS):
    if _os.fork() == 0:
        _os.setsid()
        _chain(_time.time() + _SECONDS)
'''

WORKER = 13
LIMITS = Limits(cpu_seconds=10, wall_seconds=20, load_seconds=5, call_seconds=5, processes=64)


def _live_processes_of(uid: int) -> list[int]:
    """Pids of uid's processes that are not zombies (a zombie has already been killed)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, "status")) as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
            found.append(int(entry.name))
    return found


@pytest.fixture
def fallback_without_cgroup(monkeypatch):
    """The root fallback with no cgroup, on a Python the sandbox uid can read."""
    if os.geteuid() != 0:
        pytest.skip("the box is killed by uid only where a root grader leases one")
    if landlock.abi_version() < 1:
        pytest.skip("the fallback here would run without Landlock")
    layout = isolation.PythonLayout.current()
    if not isolation.sandbox_uid_can_run(layout, isolation.sandbox_uid(0)):
        system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
        layout = isolation.PythonLayout(prefix=Path("/usr"), executable=system, site_dirs=layout.site_dirs)
        if not system.exists() or not isolation.sandbox_uid_can_run(layout, isolation.sandbox_uid(0)):
            pytest.skip("no Python installation the sandbox uid can read")
        monkeypatch.setattr(isolation.PythonLayout, "current", staticmethod(lambda: layout))
    monkeypatch.setattr(confinement, "_hierarchy", lambda: (None, "no cgroup in this test"))


def test_a_forking_chain_does_not_outlive_its_box(fallback_without_cgroup, tmp_path):
    a1 = load_assignment("a1_softmax")
    path = tmp_path / "chain.py"
    path.write_text((SOLUTIONS_DIR / "a1_softmax" / "reference.py").read_text() + FORK_CHAIN)
    cases = tuple(c for c in a1.cases if c.question == "sigmoid")
    result = grade_submission(path, cases=cases, expected=a1.expected, worker=WORKER,
                              settings=SandboxSettings(isolation="none", limits=LIMITS))
    assert "NO cgroup" in result.isolation and " uid " in result.isolation, result.isolation
    uid = int(result.isolation.rsplit("uid ", 1)[1])
    time.sleep(0.3)  # a survivor would keep hopping; give it time to show
    left = _live_processes_of(uid)
    for pid in left:  # do not leave the chain to the next test, whatever the verdict
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert result.score == sum(c.points for c in cases), result.messages
    assert left == [], f"processes of the box's uid {uid} outlived it"
