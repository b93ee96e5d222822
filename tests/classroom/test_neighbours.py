"""Hostile neighbours in one class, graded with ``grade_batch(..., jobs=2)``.

Correct a1 submissions (copies of the reference) share a batch with submissions that
attack the machine rather than the grade: a setsid'd CPU hog whose children spin, a fork
fan-out holding more memory in total than the memory limit (each process under it), a fork
bomb up to the process limit, a planter of a kernel-keyring key and a dropper of files in
/tmp and /dev/shm, each followed (later in the class) by a reader in another submission.

Shown: the correct neighbours' gradebook rows and feedback are byte-identical to a quiet run
of the same correct submissions alone; every submission has exactly one row; the readers
see nothing the planters left. A submission reports a yes/no through its ``sigmoid``
verdicts: right when its claim ``OK`` holds (a reader: "I saw nothing"; a planter: "I
planted it"), wrong otherwise; the batch keeps no outputs and feedback never shows a
submission's own strings, so the verdicts are the channel. (Here seccomp refuses the
keyring calls, so the key planter's own claim fails; the reader is kept for a sandbox where
they are allowed. The file dropper succeeds, in its box's private /tmp and /dev/shm.)
"""

from __future__ import annotations

import csv
import os
import shutil

import pytest

from autograder.classroom.batch import grade_batch
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.sandbox import Limits, SandboxSettings
from autograder.sandbox.cgroups import find_hierarchy
from autograder.sandbox.launch import resolve_isolation
from autograder.sandbox.limits import MiB

REFERENCE = (SOLUTIONS_DIR / "a1_softmax" / "reference.py").read_text()
# Tight, so that every hostile submission reaches its limits quickly.
LIMITS = Limits(cpu_seconds=8, wall_seconds=8, load_seconds=4, call_seconds=2,
                memory_bytes=512 * MiB, processes=16)
CORRECT = ("c_ok0", "c_ok1", "c_ok2")
KEY = "ag_neighbour_secret"
DROPS = ("/tmp/ag_neighbour_drop", "/dev/shm/ag_neighbour_drop")

# What a submission tells the test: its sigmoid is right exactly when OK is true.
REPORT = '''

_right_sigmoid = sigmoid


def sigmoid(z):
    return _right_sigmoid(z) if OK else 1.0 - _right_sigmoid(z) + 0.25
'''

KEYRING = f'''
import ctypes as _ctypes
import platform as _platform

_libc = _ctypes.CDLL(None, use_errno=True)
_ADD_KEY, _REQUEST_KEY = (248, 249) if _platform.machine() == "x86_64" else (217, 218)
# The keyrings a key could outlive its process in: user, user-session, session.
_KEYRINGS = (-4, -5, -3)
_TYPE, _NAME = b"user", b"{KEY}"
'''

PLANT_KEY = KEYRING + '''
OK = False  # "I planted the key"
for _ring in _KEYRINGS:
    if _libc.syscall(_ADD_KEY, _TYPE, _NAME, b"left by a neighbour", 19, _ring) > 0:
        OK = True
'''

READ_KEY = KEYRING + f'''
OK = _libc.syscall(_REQUEST_KEY, _TYPE, _NAME, None, 0) <= 0  # "I saw no key"
try:
    with open("/proc/keys") as _keys:
        if "{KEY}" in _keys.read():
            OK = False
except OSError:
    pass
'''

DROP_FILES = f'''
OK = False  # "I dropped a file"
for _path in {DROPS!r}:
    try:
        with open(_path, "w") as _f:
            _f.write("left by a neighbour")
        OK = True
    except OSError:
        pass
'''

READ_FILES = f'''
import os as _os

OK = not any(_os.path.exists(_path) for _path in {DROPS!r})  # "I saw no file"
'''

# Every process a hostile submission leaves behind names itself, so that the test can look
# for survivors on this machine after the batch.
SURVIVOR = "ag_neighbour"
NAME_ME = f'''
import ctypes as _ctypes


def _name_me():
    _ctypes.CDLL(None).prctl(15, b"{SURVIVOR}", 0, 0, 0)  # PR_SET_NAME


def _named():
    try:
        with open("/proc/self/comm") as _comm:
            return _comm.read().strip() == "{SURVIVOR}"
    except OSError:
        return False
'''

CPU_HOG = NAME_ME + '''
import os as _os

if _os.fork() == 0:  # a new session, out of the runner's process group, whose children spin
    _os.setsid()
    for _ in range(2):
        if _os.fork() == 0:
            break
    _name_me()
    while True:
        pass
_name_me()
OK = _named()  # "naming works here", so the search for survivors can find them
'''

MEMORY_FAN_OUT = NAME_ME + '''
import os as _os
import select as _select
import time as _time

# 4 x 160 MiB: each process under the 512 MiB limit, together over it. The parent goes on
# once every child holds its share (or is gone: the pipe then reads empty).
_ready, _held_up = _os.pipe()
for _ in range(4):
    if _os.fork() == 0:
        _name_me()
        _os.close(_ready)
        _held = bytearray(160 * 1024 * 1024)
        for _i in range(0, len(_held), 4096):
            _held[_i] = 1  # touch every page, so the memory is really used
        _os.write(_held_up, b"x")
        _time.sleep(30)
        _os._exit(0)
_os.close(_held_up)
_count, _deadline = 0, _time.monotonic() + 1.5
while _count < 4 and _select.select([_ready], [], [], max(0.0, _deadline - _time.monotonic()))[0]:
    if not _os.read(_ready, 1):
        break
    _count += 1
OK = True  # no claim
'''

FORK_BOMB = NAME_ME + '''
import os as _os
import time as _time

for _ in range(200):  # until the process limit says no
    try:
        _pid = _os.fork()
    except OSError:
        break
    if _pid == 0:
        _name_me()
        _time.sleep(30)
        _os._exit(0)
OK = True  # no claim
'''

# Sorted by name, so planters and hogs start before the correct ones and the readers last.
HOSTILE = {
    "a_plant_key": PLANT_KEY,
    "a_drop_files": DROP_FILES,
    "b_cpu_hog": CPU_HOG,
    "b_memory_fan_out": MEMORY_FAN_OUT,
    "b_fork_bomb": FORK_BOMB,
    "z_read_key": READ_KEY,
    "z_read_files": READ_FILES,
}


def _confined_or_skip():
    if os.geteuid() != 0:
        pytest.skip("hostile neighbours need the leased uids and cgroups of a root grader")
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    isolated, warning = resolve_isolation(SandboxSettings(limits=LIMITS))
    if not isolated:
        pytest.skip(f"bubblewrap does not work here: {warning}")
    hierarchy, why = find_hierarchy()
    if hierarchy is None:
        pytest.skip(f"no cgroup hierarchy: {why}")


def _write_class(folder, hostile):
    folder.mkdir()
    for name in CORRECT:
        (folder / f"{name}.py").write_text(REFERENCE)
    for name, attack in hostile.items():
        (folder / f"{name}.py").write_text("import numpy as np\n" + attack + "\n" + REFERENCE + REPORT)
    return folder


def _gradebook_lines(out):
    """{submission: its raw gradebook line}, and how many lines each submission has."""
    lines = (out / "gradebook.csv").read_text().splitlines()[1:]
    names = [row[0] for row in csv.reader(lines)]
    return dict(zip(names, lines, strict=True)), names


@pytest.fixture(scope="module")
def runs(tmp_path_factory, request):
    _confined_or_skip()
    from autograder.course.assignment import load_assignment

    a1 = load_assignment("a1_softmax")
    settings = SandboxSettings(limits=LIMITS)
    folder = tmp_path_factory.mktemp("neighbours")
    quiet = grade_batch(a1, _write_class(folder / "quiet", {}), folder / "quiet_out", settings, jobs=2)
    busy = grade_batch(a1, _write_class(folder / "busy", HOSTILE), folder / "busy_out", settings, jobs=2)
    return quiet, busy


def _claims(batch, name):
    """Whether submission ``name``'s claim OK held: every sigmoid case passed (None: some
    passed, some failed, which no claim explains)."""
    result = next(r for r in batch.results if r.submission == name)
    passed = {r.passed for r in result.case_results if r.case.question == "sigmoid"}
    return passed.pop() if len(passed) == 1 else None


def test_every_submission_has_exactly_one_row(runs):
    _, busy = runs
    _, names = _gradebook_lines(busy.out_dir)
    assert sorted(names) == sorted([*CORRECT, *HOSTILE])
    assert not busy.grader_errors, busy.grader_errors


def test_correct_neighbours_rows_equal_a_quiet_run(runs):
    quiet, busy = runs
    quiet_lines, _ = _gradebook_lines(quiet.out_dir)
    busy_lines, _ = _gradebook_lines(busy.out_dir)
    for name in CORRECT:
        assert busy_lines[name] == quiet_lines[name], name
        assert (busy.feedback_dir / f"{name}.txt").read_bytes() == (quiet.feedback_dir / f"{name}.txt").read_bytes()
    scores = {r.submission: r.score for r in quiet.results}
    assert all(scores[name] == quiet.results[0].score > 0 for name in CORRECT), scores


@pytest.mark.parametrize("reader", ["z_read_key", "z_read_files"])
def test_readers_do_not_see_what_planters_left(runs, reader):
    _, busy = runs
    planter = {"z_read_key": "a_plant_key", "z_read_files": "a_drop_files"}[reader]
    assert _claims(busy, reader) is True, (reader, "planted" if _claims(busy, planter) else "not planted")


def test_planted_traces_are_gone_from_the_grader_machine(runs):
    """Nothing of the droppers' files is left on the grader's own /tmp or /dev/shm."""
    assert not any(os.path.exists(path) for path in DROPS)


def test_no_hostile_process_outlives_the_batch(runs):
    """The hog's spinning session, the memory holders and the bomb's sleepers all named
    themselves; none of them may still run on this machine once the batch returned."""
    _, busy = runs
    assert _claims(busy, "b_cpu_hog") is True, "a process cannot name itself in the sandbox"
    survivors = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/comm") as comm:
                if comm.read().strip() == SURVIVOR:
                    survivors.append(entry)
        except OSError:
            continue  # not a process, or gone meanwhile
    assert not survivors, survivors
