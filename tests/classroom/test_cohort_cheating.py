"""Submissions that try to cheat: patched comparisons, an object equal to everything,
hunting the file system, printing a fake score, the network, and hidden inputs smuggled
into feedback in the submission's own words.

Part of the cohort of bad submissions (a1_softmax), each graded for real (sandbox
included) with its exact outcome: every test writes its submission into ``tmp_path`` and
asserts the status, the score and, where a student needs one, the message. Tight limits
keep the stuck ones to a few seconds. The numbered sections follow the cohort's list;
the other two parts are tests/classroom/test_cohort_runaway.py and test_cohort_broken_files.py."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import pytest
from cohort_helpers import (
    LIAR,
    STUBS,
    ZEROS,
    bubblewrap_or_skip,
    cohort_assignment,
    grade,
    hidden_input_fragments,
    passed_cases,
    reasons,
    write,
)

from autograder.grading.grade import GRADED
from autograder.sandbox import Limits


@pytest.fixture(scope="module")
def assignment():
    return cohort_assignment()


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

for attempt in ("import solutions", "from autograder import assignment", "import autograder.grading.grade",
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


# Beyond the list: the submission's own words

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
