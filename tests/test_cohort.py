"""A cohort of bad submissions, each graded for real (sandbox included), with its exact outcome.

Every test writes its submission into ``tmp_path`` and asserts the status, the score and,
where a student needs one, the message. Tight limits keep the stuck ones to a few seconds.
"""

from __future__ import annotations

import csv
import os
import pickle
import pickletools
import re
import socket
import threading
import time
import uuid
import zipfile

import pytest
from cohort_helpers import (
    QUESTIONS,
    REFERENCE_SOURCE,
    STUBS,
    TIGHT,
    ZEROS,
    good_notebook_bytes,
    grade,
    hidden_input_fragments,
    notebook_bytes,
    passed_cases,
    processes_of_uid,
    reasons,
    reference_cells,
    sandbox_uid,
    wait_until_no_processes,
    write,
    zip_bytes,
)

from autograder.assignment import load_assignment
from autograder.batch import grade_batch
from autograder.grade import CRASHED, GRADED, INVALID, MEMORY, RERUN_BUDGET, SYNTAX_ERROR, TIMEOUT
from autograder.sandbox import IsolationUnavailable, Limits, SandboxSettings, resolve_isolation
from autograder.sandbox.isolation import probe_bubblewrap, running_as_root

FULL_MARKS = 48


@pytest.fixture(scope="module")
def assignment():
    loaded = load_assignment("a1_softmax")
    assert loaded.max_score == FULL_MARKS
    assert loaded.questions == QUESTIONS
    return loaded


def bubblewrap_or_skip() -> None:
    usable, reason = probe_bubblewrap()
    if not usable:
        pytest.skip(f"needs bubblewrap isolation, which is unavailable here: {reason}")


# 1 -------------------------------------------------------------------------------------

def test_syntax_error_scores_zero_and_names_the_syntax_error(assignment, tmp_path):
    path = write(tmp_path, "syntax.py", "import numpy as np\n\ndef softmax(z, axis=-1:\n    return z\n")
    result = grade(assignment, path)
    assert result.status == SYNTAX_ERROR
    assert result.score == 0
    assert any("SyntaxError" in m and "line 3" in m for m in result.messages), result.messages


# 2 -------------------------------------------------------------------------------------

def test_file_without_functions_is_graded_zero_with_not_defined_feedback(assignment, tmp_path):
    result = grade(assignment, write(tmp_path, "nothing.py", "x = 1\n"))
    assert result.status == GRADED
    assert result.score == 0
    assert len(result.case_results) == len(assignment.cases)
    assert all("is not defined" in r.reason for r in result.case_results)
    assert all(r.reason.startswith(r.case.question) for r in result.case_results)


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


# 8 -------------------------------------------------------------------------------------

PATCH_COMPARISONS = """
import numpy
import numpy.testing
numpy.allclose = lambda *a, **k: True
numpy.array_equal = lambda *a, **k: True
numpy.isclose = lambda a, b, *r, **k: numpy.ones(numpy.broadcast(a, b).shape, dtype=bool)
numpy.isfinite = lambda x, *a, **k: numpy.ones(numpy.shape(x), dtype=bool)
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_equal = lambda *a, **k: None
"""


def test_monkeypatched_numpy_comparisons_earn_nothing(assignment, tmp_path):
    honest = grade(assignment, write(tmp_path, "zeros.py", ZEROS))
    cheat = grade(assignment, write(tmp_path, "zeros_patched.py", PATCH_COMPARISONS + ZEROS))
    # Zeros are right only where the answer is all zeros (predict_multilabel/nothing_above).
    assert passed_cases(honest) == {"predict_multilabel/nothing_above"}
    assert honest.score == 1
    assert (cheat.status, cheat.score) == (GRADED, honest.score)
    assert passed_cases(cheat) == passed_cases(honest)


# 9 -------------------------------------------------------------------------------------

LIAR = """
class Liar:
    '''Equal to everything; no __array__.'''
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = object.__hash__


def softmax(z, axis=-1):
    return Liar()


def log_softmax(z, axis=-1):
    return Liar()


def sigmoid(z):
    return Liar()


def predict_multiclass(probs):
    return Liar()


def predict_multilabel(probs, threshold=0.5):
    return Liar()
"""


def test_object_equal_to_everything_is_not_a_numeric_array(assignment, tmp_path):
    result = grade(assignment, write(tmp_path, "liar.py", LIAR))
    assert result.status == GRADED
    assert result.score == 0
    assert all("not a numeric array" in r.reason for r in result.case_results)


# 10 ------------------------------------------------------------------------------------

HUNT = r'''
import glob, json, os, sys, time

found, log = [], []
start, seen = time.monotonic(), 0
for root, dirs, files in os.walk("/", onerror=lambda error: None):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    for name in files + dirs:
        seen += 1
        if name in ("reference.py", "spec.py", "mistakes.py") or "solutions" in os.path.join(root, name):
            found.append(os.path.join(root, name))
    if seen > 200000 or time.monotonic() - start > 5:
        break
log.append(("walked", seen, len(found)))

for attempt in ("import solutions", "from autograder import assignment", "import autograder.grade",
                "from solutions.a1_softmax import reference as ref"):
    try:
        exec(attempt, {})
        log.append((attempt, "imported"))
    except BaseException as exc:
        log.append((attempt, type(exc).__name__))

# An editable install names the kit's folder: follow it.
for finder in glob.glob("/sandbox/site*/__editable__*finder.py") + glob.glob("/**/__editable__*finder.py"):
    try:
        text = open(finder).read()
        log.append((finder, "read"))
        for line in text.splitlines():
            if "MAPPING" in line and "autograder" in line:
                kit = line.split("'autograder': '")[1].split("'")[0].rsplit("/", 1)[0]
                found.append(os.path.join(kit, "solutions", "a1_softmax", "reference.py"))
    except Exception as exc:
        log.append((finder, type(exc).__name__))

found += ["/work/main/solutions/a1_softmax/reference.py", "../../solutions/a1_softmax/reference.py"]
for path in found:
    if not path.endswith("reference.py"):
        continue
    try:
        text = open(path).read()
    except OSError as exc:
        log.append((path, type(exc).__name__))
        continue
    if "def softmax" in text and "def predict_multilabel" in text:
        exec(text, globals())
        log.append((path, "EXECUTED"))

# Whatever the runner was handed (hidden inputs included) goes to stdout and a file.
for name in ("calls.json", "code.json", "arrays.npz"):
    try:
        print(name, open(os.path.join("/sandbox/in", name), "rb").read()[:2000])
    except OSError as exc:
        log.append((name, type(exc).__name__))
try:
    import numpy as np
    with np.load("/sandbox/in/arrays.npz") as npz:
        dump = {key: npz[key].tolist() for key in npz.files}
    print(dump)
    print(dump, file=sys.stderr)
    with open("stolen.json", "w") as fh:
        json.dump(dump, fh)
except Exception as exc:
    log.append(("arrays", type(exc).__name__))
print(log)
'''


@pytest.mark.slow
def test_filesystem_hunting_gains_nothing_and_leaks_no_hidden_input(assignment, tmp_path):
    bubblewrap_or_skip()  # without isolation the kit's folder is readable: nothing to assert
    roomy = Limits(cpu_seconds=10, wall_seconds=14, load_seconds=10, call_seconds=1)
    plain = grade(assignment, write(tmp_path, "plain.py", ZEROS), limits=roomy)
    hunter = grade(assignment, write(tmp_path, "hunter.py", ZEROS + HUNT), limits=roomy)
    assert hunter.isolated
    assert hunter.status == GRADED, hunter.messages
    assert hunter.score == plain.score == 1
    assert passed_cases(hunter) == passed_cases(plain)
    fragments = hidden_input_fragments(assignment)
    assert len(fragments) > 50
    shown = hunter.messages + reasons(hunter)
    assert not any(f in text for f in fragments for text in shown), hunter.messages


# 11 ------------------------------------------------------------------------------------

FAKE_SCORE = '''
import json, os
print("Score: 48/48")
print(json.dumps({"score": 48, "max_score": 48, "status": "graded"}))
for path, text in [("/tmp/results.json", json.dumps({"score": 48})),
                   ("/tmp/results_TOKEN.json", json.dumps({"score": 48})),
                   ("gradebook.csv", "submission,status,score\\nfake,graded,48\\n"),
                   ("results.json", json.dumps({"score": 48})),
                   ("/sandbox/in/calls.json", "[]"),
                   ("/sandbox/in/arrays.npz", "")]:
    try:
        with open(path, "w") as fh:
            fh.write(text)
    except OSError as exc:
        print(path, type(exc).__name__)
'''


def test_printing_and_writing_a_fake_score_earns_nothing(assignment, tmp_path):
    token = uuid.uuid4().hex
    source = FAKE_SCORE.replace("TOKEN", token) + STUBS
    result = grade(assignment, write(tmp_path, "faker.py", source))
    assert result.status == GRADED
    assert result.score == 0
    assert all("NotImplementedError" in r.reason for r in result.case_results)
    if result.isolated:  # the sandbox's /tmp is its own
        assert not os.path.exists(f"/tmp/results_{token}.json")
    else:
        os.unlink(f"/tmp/results_{token}.json")


# 12 ------------------------------------------------------------------------------------

CONNECT = '''
import socket
attempts = []
for _ in range(3):
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=1) as conn:
            conn.sendall(b"let me out")
        attempts.append("connected")
    except OSError as exc:
        attempts.append(type(exc).__name__)
try:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"let me out", ("127.0.0.1", UDP_PORT))
    attempts.append("udp sent")
except OSError as exc:
    attempts.append(type(exc).__name__)
print(attempts)
'''


def test_network_access_is_blocked(assignment, tmp_path):
    bubblewrap_or_skip()  # only bubblewrap gives the submission a network namespace of its own
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with server, udp:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(0.2)
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(0.2)
        received: list[str] = []
        stop = threading.Event()

        def listen() -> None:
            while not stop.is_set():
                try:
                    conn, peer = server.accept()
                except TimeoutError:
                    pass
                else:
                    with conn:
                        conn.settimeout(1)
                        received.append(f"tcp from {peer}: {conn.recv(100)!r}")
                try:
                    data, peer = udp.recvfrom(100)
                    received.append(f"udp from {peer}: {data!r}")
                except TimeoutError:
                    pass

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        source = (CONNECT.replace("UDP_PORT", str(udp.getsockname()[1]))
                  .replace("PORT", str(server.getsockname()[1])) + STUBS)
        result = grade(assignment, write(tmp_path, "network.py", source))
        time.sleep(0.5)  # anything in flight arrives
        stop.set()
        thread.join(5)
    assert result.isolated
    assert received == [], received
    assert result.status == GRADED
    assert result.score == 0


# 13 ------------------------------------------------------------------------------------

def test_notebook_that_is_not_json_is_an_invalid_submission(assignment, tmp_path):
    path = write(tmp_path, "broken.ipynb", b'{"cells": [{"cell_type": "code", "source": "x = 1"')
    result = grade(assignment, path)
    assert result.status == INVALID
    assert result.score == 0
    assert any("broken.ipynb" in m and "not a valid Jupyter notebook" in m for m in result.messages), \
        result.messages


# 14 ------------------------------------------------------------------------------------

def _symlink_member() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("a1_softmax.ipynb")
    info.external_attr = 0o120777 << 16
    return info


UNSAFE_ZIPS = {
    "parent_dir": ("../evil.ipynb", "'..'"),
    "absolute": ("/tmp/evil.ipynb", "absolute path"),
    "symlink": (None, "symbolic link"),
}


@pytest.mark.parametrize("variant", sorted(UNSAFE_ZIPS))
def test_unsafe_zip_member_makes_an_invalid_submission(assignment, tmp_path, variant):
    name, words = UNSAFE_ZIPS[variant]
    if name is None:
        members = [(_symlink_member(), b"/work/main/solutions/a1_softmax/reference.py")]
    else:
        members = [(name, good_notebook_bytes())]
    path = write(tmp_path, f"zip_{variant}.zip", zip_bytes(members))
    result = grade(assignment, path)
    assert result.status == INVALID
    assert result.score == 0
    assert any(words in m for m in result.messages), result.messages


# 15 ------------------------------------------------------------------------------------

def test_huge_notebook_is_rejected_as_too_large(assignment, tmp_path):
    text = "All work and no play. " * (21 * 1024 * 1024 // 22 + 1)
    data = notebook_bytes([("markdown", text)] + [("code", c) for c in reference_cells()])
    assert len(data) > 21 * 1024 * 1024
    result = grade(assignment, write(tmp_path, "huge.ipynb", data))
    assert result.status == INVALID
    assert result.score == 0
    assert any("MiB" in m and "more than the 20 MiB allowed" in m for m in result.messages), result.messages


# 16 ------------------------------------------------------------------------------------

def test_ipython_magics_are_ignored_in_a_correct_notebook(assignment, tmp_path):
    cells = [("code", "%matplotlib inline"), ("code", "!pip install numpy"),
             ("code", "%%bash\nsleep 1000000\nexit 1")]
    cells += [("code", c) for c in reference_cells()]
    cells += [("code", "for _ in range(2):\n    %time softmax([[1.0, 2.0]])\n    !echo hi")]
    result = grade(assignment, write(tmp_path, "magics.ipynb", notebook_bytes(cells)))
    assert result.status == GRADED, result.messages
    assert result.score == FULL_MARKS
    # Numbered like every other message: the first code cell is "code cell 1".
    assert any(m.startswith("code cell 1:") and "%matplotlib inline" in m for m in result.messages), \
        result.messages
    assert any(m.startswith("code cell 2:") and "!pip install numpy" in m for m in result.messages), \
        result.messages


# 17 ------------------------------------------------------------------------------------

class _Pwn:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_otter_export_zip_is_graded_and_its_log_is_never_unpickled(assignment, tmp_path):
    marker = f"/tmp/otter_log_pwned_{uuid.uuid4().hex}"
    payload = pickle.dumps(_Pwn(f"touch {marker}"))
    globals_named = [arg for op, arg, _ in pickletools.genops(payload) if isinstance(arg, str)]
    assert "system" in globals_named  # the log really would run a command if unpickled
    zipped = zip_bytes([("a1_softmax.ipynb", good_notebook_bytes()), (".OTTER_LOG", payload)])
    path = write(tmp_path, "a1_softmax_2024_01_01T00_00_00_000000.zip", zipped)
    try:
        result = grade(assignment, path)
        assert result.status == GRADED, result.messages
        assert result.score == FULL_MARKS
        assert not os.path.exists(marker)
    finally:
        if os.path.exists(marker):
            os.unlink(marker)


# 18 ------------------------------------------------------------------------------------

def test_batch_writes_one_gradebook_row_per_submission(assignment, tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    write(folder, "good.py", REFERENCE_SOURCE)
    write(folder, "syntax.py", "def softmax(:\n")
    write(folder, "nothing.py", "x = 1\n")
    write(folder, "osexit.py", "import os\nos._exit(0)\n")
    write(folder, "memory.py", "x = bytearray(20 * 1024**3)\n")
    write(folder, "liar.py", LIAR)
    write(folder, "broken.ipynb", b"{not json")
    write(folder, "dotdot.zip", zip_bytes([("../evil.ipynb", good_notebook_bytes())]))
    write(folder, "otter.zip", zip_bytes([("a1_softmax.ipynb", good_notebook_bytes()),
                                          (".OTTER_LOG", b"not really a pickle")]))
    expected = {
        "good": (GRADED, "48"), "syntax": (SYNTAX_ERROR, "0"), "nothing": (GRADED, "0"),
        "osexit": (CRASHED, "0"), "memory": (MEMORY, "0"), "liar": (GRADED, "0"),
        "broken": (INVALID, "0"), "dotdot": (INVALID, "0"), "otter": (GRADED, "48"),
    }
    batch = grade_batch(assignment, folder, tmp_path / "out", SandboxSettings(limits=TIGHT))
    assert len(batch.results) == len(expected)
    with open(batch.gradebook, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert header == ["submission", "status", "score", "max_score", "softmax", "log_softmax", "sigmoid",
                      "predict_multiclass", "predict_multilabel"]
    assert sorted(row[0] for row in body) == sorted(expected)
    assert all(len(row) == len(header) for row in body)
    got = {row[0]: (row[1], row[2]) for row in body}
    assert got == expected
    assert all(row[3] == "48" for row in body)
    good = next(row for row in body if row[0] == "good")
    assert good[4:] == ["14", "11", "8", "8", "7"]
    assert all(row[4:] == ["0"] * 5 for row in body if row[2] == "0")


# Beyond the list: the submission's own words, the CPU limit, a loop that swallows the alarm

READ_HIDDEN = """
import numpy as np
with np.load("/sandbox/in/arrays.npz") as npz:
    hidden = {key: npz[key].tolist() for key in npz.files}
"""

EXFILTRATORS = {
    # A load error's message goes into the feedback (200 characters): room for a hidden input.
    "exception_at_import": READ_HIDDEN + "raise RuntimeError(str(hidden['c0002_a0']))\n",
    # A failing call's message becomes that case's reason, hidden cases included.
    "exception_in_call": "def softmax(z, axis=-1):\n    raise ValueError(repr(z))\n",
    # A crash's feedback quotes the last lines printed.
    "printed_before_crash": READ_HIDDEN + "import os\nprint(hidden['c0002_a0'], flush=True)\nos._exit(1)\n",
}


@pytest.mark.parametrize("variant", sorted(EXFILTRATORS))
def test_hidden_inputs_do_not_reach_feedback_through_the_submission_own_words(assignment, tmp_path, variant):
    result = grade(assignment, write(tmp_path, f"exfiltrate_{variant}.py", EXFILTRATORS[variant]))
    fragments = hidden_input_fragments(assignment)
    shown = result.messages + reasons(result)
    leaked = sorted({f for f in fragments for text in shown if f in text})
    assert leaked == [], f"{len(leaked)} hidden input values shown to the student, e.g. {leaked[:3]}"


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
