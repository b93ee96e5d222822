"""Submissions that end the run, stall, exhaust memory or fork: the grader stays in control,
in bounded time, and charges only the functions that misbehave.

Part of the cohort of bad submissions (a1_softmax), each graded for real (sandbox
included) with its exact outcome: every test writes its submission into ``tmp_path`` and
asserts the status, the score and, where a student needs one, the message. Tight limits
keep the stuck ones to a few seconds. The numbered sections follow the cohort's list;
the other two parts are tests/classroom/test_cohort_cheating.py and test_cohort_broken_files.py."""

from __future__ import annotations

import os
import re
import time
import uuid

import pytest
from cohort_helpers import (
    FULL_MARKS,
    QUESTIONS,
    REFERENCE_SOURCE,
    STUBS,
    TIGHT,
    bubblewrap_or_skip,
    cohort_assignment,
    grade,
    processes_of_uid,
    reasons,
    sandbox_uid,
    wait_until_no_processes,
    write,
)

from autograder.grading.grade import CRASHED, GRADED, MEMORY, RERUN_BUDGET, TIMEOUT
from autograder.sandbox import IsolationUnavailable, SandboxSettings, resolve_isolation
from autograder.sandbox.isolation import running_as_root


@pytest.fixture(scope="module")
def assignment():
    return cohort_assignment()


# 3 -------------------------------------------------------------------------------------

def test_sys_exit_at_import_is_contained_and_scores_zero(assignment, tmp_path):
    path = write(tmp_path, "sysexit.py", "import sys\nsys.exit(0)\n" + REFERENCE_SOURCE)
    result = grade(assignment, path)  # returning at all: SystemExit did not escape into the grader
    assert result.status == GRADED
    assert result.score == 0
    assert any("SystemExit" in m for m in result.messages), result.messages
    assert all("is not defined" in r for r in reasons(result))


def test_os_exit_at_import_is_reported_as_crashed(assignment, tmp_path):
    path = write(tmp_path, "osexit.py", "import os\nos._exit(0)\n" + REFERENCE_SOURCE)
    result = grade(assignment, path)
    assert result.status == CRASHED
    assert result.score == 0
    assert any("ended the grading process early" in m for m in result.messages), result.messages


# 4 -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_infinite_loop_at_import_times_out(assignment, tmp_path):
    result = grade(assignment, write(tmp_path, "loop.py", "while True:\n    pass\n" + REFERENCE_SOURCE))
    assert result.status == TIMEOUT
    assert result.score == 0
    assert any("time limit" in m for m in result.messages), result.messages


def test_infinite_loop_inside_softmax_costs_only_softmax(assignment, tmp_path):
    source = REFERENCE_SOURCE + "\n\ndef softmax(z, axis=-1):\n    while True:\n        pass\n"
    started = time.monotonic()
    result = grade(assignment, write(tmp_path, "loop_in_softmax.py", source))
    elapsed = time.monotonic() - started
    assert result.status in (GRADED, TIMEOUT)
    full = assignment.question_points()
    scores = result.question_scores(assignment.questions)
    assert scores["softmax"] == 0
    assert all(scores[q] == full[q] for q in QUESTIONS if q != "softmax"), scores
    assert result.score == FULL_MARKS - full["softmax"]
    softmax_reasons = reasons(result, "softmax")
    assert len(softmax_reasons) == len([c for c in assignment.cases if c.question == "softmax"])
    assert "time limit" in softmax_reasons[0]
    assert all(any(words in r for words in ("time limit", "did not return in time", "stopped the run"))
               for r in softmax_reasons)
    # One stalled call, not one per softmax case.
    assert elapsed < 3 * TIGHT.call_seconds + 2, elapsed


# 5 -------------------------------------------------------------------------------------

SLEEPERS = {
    "plain": "import time\ntime.sleep(10**6)\n",
    # The load alarm is SIGALRM: with it ignored only the wall-clock limit is left.
    "alarm_ignored": "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\ntime.sleep(10**6)\n",
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(SLEEPERS))
def test_sleeping_forever_at_import_times_out_in_bounded_time(assignment, tmp_path, variant):
    path = write(tmp_path, f"sleep_{variant}.py", SLEEPERS[variant] + REFERENCE_SOURCE)
    started = time.monotonic()
    result = grade(assignment, path)
    elapsed = time.monotonic() - started
    assert result.status == TIMEOUT
    assert result.score == 0
    assert elapsed < 15, elapsed
    assert elapsed < TIGHT.wall_seconds + 3, elapsed


# 6 -------------------------------------------------------------------------------------

MEMORY_BOMBS = {
    "one_huge_bytearray": "x = bytearray(20 * 1024**3)\n",
    "growing_list": "x = []\nwhile True:\n    x.append(bytearray(10**6))\n",
}


@pytest.mark.parametrize("variant", [
    "one_huge_bytearray",
    pytest.param("growing_list", marks=pytest.mark.slow),  # about 2 s to fill 1 GiB
])
def test_memory_bomb_is_reported_as_memory(assignment, tmp_path, variant):
    path = write(tmp_path, f"memory_{variant}.py", MEMORY_BOMBS[variant] + REFERENCE_SOURCE)
    result = grade(assignment, path)
    assert result.status == MEMORY
    assert result.score == 0
    assert any("out of memory" in m for m in result.messages), result.messages


# 7 -------------------------------------------------------------------------------------

FORK_LOOP = """
import ctypes, os, time
libc = ctypes.CDLL(None)
children = 0
for _ in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        libc.prctl(15, b"TAG", 0, 0, 0)  # PR_SET_NAME: the test finds these by name
        time.sleep(60)
        os._exit(0)
    children += 1
time.sleep(0.5)
tagged = 0
for entry in os.listdir("/proc"):
    try:
        tagged += entry.isdigit() and open("/proc/%s/comm" % entry).read().strip() == "TAG"
    except OSError:
        pass
raise RuntimeError("fork bomb: uid %d, %d children, %d tagged" % (os.getuid(), children, tagged))
"""

FORK_REPORT = re.compile(r"fork bomb: uid (\d+), (\d+) children, (\d+) tagged")
UID_REPORT = re.compile(r"runs as uid (\d+)")
FORK_WORKER = 7  # its own sandbox uid, so a grader running elsewhere on this machine cannot interfere


def processes_named(name: str) -> list[str]:
    found = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and open(f"{entry.path}/comm").read().strip() == name:
                found.append(entry.name)
        except OSError:
            pass
    return found


@pytest.mark.parametrize("isolation", ["bubblewrap", "none"])
def test_fork_bomb_finishes_and_leaves_no_process_behind(assignment, tmp_path, isolation):
    if isolation == "bubblewrap":
        bubblewrap_or_skip()
    uid = sandbox_uid(FORK_WORKER)
    if running_as_root():
        assert processes_of_uid(uid) == [], "processes of the sandbox uid left over from before this test"
    if isolation == "none":
        try:
            resolve_isolation(SandboxSettings(isolation="none"))
        except IsolationUnavailable as exc:
            pytest.skip(f"the unisolated fallback refuses to run here: {exc}")
        # Only run a fork bomb unisolated where the fallback really is unprivileged.
        probe = grade(assignment, write(tmp_path, "whoami.py",
                                        "import os\nraise RuntimeError('runs as uid %d' % os.getuid())\n"),
                      isolation="none", worker=FORK_WORKER, public_only=True)
        seen = [int(m.group(1)) for m in map(UID_REPORT.search, probe.messages) if m]
        if not seen:
            pytest.skip(f"the unisolated fallback does not run code here ({probe.status}: {probe.messages})")
        if running_as_root() and seen[0] != uid:
            pytest.skip(f"the unisolated fallback runs submissions as uid {seen[0]}, not the sandbox uid "
                        f"{uid} (it cannot read the Python installation?): no fork bomb as that uid")
    tag = "ag" + uuid.uuid4().hex[:12]  # a process name is at most 15 bytes
    path = write(tmp_path, "forkbomb.py", STUBS + FORK_LOOP.replace("TAG", tag))
    started = time.monotonic()
    result = grade(assignment, path, isolation=isolation, worker=FORK_WORKER, public_only=True)
    elapsed = time.monotonic() - started
    assert elapsed < TIGHT.wall_seconds, elapsed
    assert result.status == GRADED
    assert result.score == 0
    # The bomb really went off, within the process limit, as the sandbox uid.
    report = [m.groups() for m in map(FORK_REPORT.search, result.messages) if m]
    assert len(report) == 1, result.messages
    ran_as, children, tagged = map(int, report[0])
    assert 10 <= children < TIGHT.processes, children
    assert tagged >= 10, (children, tagged)
    if running_as_root():
        assert ran_as == uid
    deadline = time.monotonic() + 3
    while processes_named(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_named(tag) == [], "children of the fork bomb survived grading"
    if not running_as_root():
        pytest.skip("the sandbox uid check needs root (only then does the runner switch uid)")
    left = wait_until_no_processes(uid)
    assert left == [], f"processes of uid {uid} survived grading: {left}"


# Beyond the list: the CPU limit, a loop that swallows the alarm, the rerun budget

IGNORE_ALARM_AND_SPIN = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n"


@pytest.mark.slow
def test_run_stopped_by_the_cpu_limit_is_a_timeout_under_bubblewrap(assignment, tmp_path):
    bubblewrap_or_skip()
    # The load alarm is ignored; RLIMIT_CPU (4 s) comes before the wall-clock limit (6 s).
    # bubblewrap reports the runner's death by SIGXCPU as its own exit status 128 + 24, and
    # wait4 on bwrap does not see the runner's CPU time: that must still read as a timeout.
    result = grade(assignment, write(tmp_path, "spin.py", IGNORE_ALARM_AND_SPIN + REFERENCE_SOURCE))
    assert result.score == 0
    assert result.status == TIMEOUT, result.messages


@pytest.mark.slow
def test_loop_that_swallows_the_call_timeout_costs_only_its_own_function(assignment, tmp_path):
    source = REFERENCE_SOURCE + (
        "\n\ndef softmax(z, axis=-1):\n    while True:\n        try:\n            while True:\n"
        "                pass\n        except BaseException:\n            pass\n"
    )
    result = grade(assignment, write(tmp_path, "swallow.py", source))
    assert result.status in (GRADED, TIMEOUT)
    full = assignment.question_points()
    scores = result.question_scores(assignment.questions)
    assert scores["softmax"] == 0
    assert all(scores[q] == full[q] for q in QUESTIONS if q != "softmax"), (result.status, scores)
    assert result.score == FULL_MARKS - full["softmax"]


@pytest.mark.slow
def test_stalling_in_every_function_is_cut_off_by_the_rerun_budget(assignment, tmp_path):
    stall = "    while True:\n        try:\n            while True:\n                pass\n        except BaseException:\n            pass\n"
    source = "".join(f"def {q}(*args, **kwargs):\n{stall}\n" for q in QUESTIONS)
    started = time.monotonic()
    result = grade(assignment, write(tmp_path, "stall.py", source))
    elapsed = time.monotonic() - started
    assert result.status == TIMEOUT and result.score == 0
    # Without the budget each of the five functions would cost a full run (5 x 6 s).
    assert elapsed < (RERUN_BUDGET + 1) * TIGHT.wall_seconds, elapsed
