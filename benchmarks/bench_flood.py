"""The grader's peak memory while a submission floods the results pipe with forged records.

Rerun: .venv/bin/python benchmarks/bench_flood.py  (about 20 s; --attack NAME for one)

Each attack is an a1 submission that, at load time, writes forged records straight to the
results pipe (its fd is on the runner's command line) until the grader stops reading, then
ends its process. Every attack is graded through the real sandbox in a fresh Python process,
which then reports its own peak resident memory (``ru_maxrss``): the grader's, not the
sandbox's. Target: under 300 MB whatever the submission sends (the per-submission budget,
``Limits.result_bytes``, is 64 MiB; the raw stream is capped at the same figure).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MB = 300

SENDER = '''
import io, json, os, struct, sys, zipfile
import numpy as np

FD = int(sys.argv[sys.argv.index("--results-fd") + 1])
CAP = 72 << 20  # a little more than the grader reads: it must be the one to stop

def record(meta, npz=b""):
    head = json.dumps(meta).encode()
    return b"AGR1" + struct.pack("<IQ", len(head), len(npz)) + head + npz

def flood(records):
    """Write the records (an iterable of bytes), repeating the last, until CAP bytes went out."""
    sent, last = 0, b""
    try:
        for data in records:
            last = data
            sent += os.write(FD, data) if len(data) < 65536 else _write_all(data)
        while sent < CAP:
            sent += _write_all(last)
    except OSError:
        pass
    os._exit(0)

def _write_all(data):
    view = memoryview(data)
    while view:
        view = view[os.write(FD, view):]
    return len(data)

def ids():
    n = 0
    while True:
        yield "c%04d" % n
        n += 1

def call(call_id, npz=b"", **meta):
    return record(dict(kind="call", id=call_id, n_results=1, tuple=False, **meta), npz)
'''

ATTACKS = {
    # Four million tiny records.
    "many_records": "flood([record({'kind': 'load', 'cells': []})] + [record({'kind': 'call', 'id': 'c0000'}) * 1000])",
    # Each record a deflated member that would inflate to 256 MiB (about 250 KB on the pipe).
    "deflate_bombs": """
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("r0.npy", "w") as member:
    member.write(b"\\x93NUMPY\\x01\\x00v\\x00{'descr': '<f8', 'fortran_order': False, 'shape': (33554432,), }"
                 .ljust(127, b" ") + b"\\n")
    chunk = bytes(1 << 20)
    for _ in range(256):
        member.write(chunk)
bomb = buf.getvalue()
flood([record({'kind': 'load', 'cells': []})] + [call(i, bomb) for i, _ in zip(ids(), range(300))])
""",
    # Stored members whose .npy headers declare terabytes over a few bytes.
    "huge_shapes": """
header = b"\\x93NUMPY\\x01\\x00v\\x00{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }"
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as zf:
    zf.writestr("r0.npy", header.ljust(127, b" ") + b"\\n" + bytes(64))
lie = buf.getvalue()
flood([record({'kind': 'load', 'cells': []})] + [call(i, lie) for i, _ in zip(ids(), range(48))])
""",
    # Valid stored records in order, 8 MiB each, past the budget.
    "max_stored": """
buf = io.BytesIO()
np.savez(buf, r0=np.ones(1 << 20))
big = buf.getvalue()
flood([record({'kind': 'load', 'cells': []})] + [call(i, big) for i, _ in zip(ids(), range(48))])
""",
    # Records in order whose JSON metadata is as large as allowed and as costly to parse.
    "fat_metadata": """
fat = [[] for _ in range(62000)]  # just under the 256 KiB a record's metadata may take
flood([record({'kind': 'load', 'cells': []})] + [call(i, pad=fat) for i, _ in zip(ids(), range(48))])
""",
}


def run_one(name: str) -> None:
    """Grade one attack here and print 'status score maxrss_mb seconds'."""
    from autograder.course.assignment import load_assignment
    from autograder.grading.grade import grade_for_assignment
    from autograder.kit_folders import SOLUTIONS_DIR
    from autograder.sandbox import SandboxSettings

    a1 = load_assignment("a1_softmax")
    source = (SOLUTIONS_DIR / "a1_softmax" / "reference.py").read_text()
    if name != "honest":
        source += SENDER + ATTACKS[name]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o755)
        path = Path(tmp) / f"{name}.py"
        path.write_text(source)
        started = time.perf_counter()
        result = grade_for_assignment(a1, path, SandboxSettings())
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{result.status} {result.score:g} {before:.0f} {peak:.0f} {seconds:.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attack", action="append", choices=["honest", *ATTACKS],
                        help="repeatable (default: honest and every attack)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: grade one attack in this process
    args = parser.parse_args(argv)
    if args.one:
        run_one(args.one)
        return 0
    print(f"{'attack':<15}{'status':<20}{'score':>6}{'RSS before MB':>15}{'peak MB':>9}{'seconds':>9}")
    worst = 0.0
    for name in args.attack or ["honest", *ATTACKS]:
        done = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0:
            print(f"{name:<15}FAILED\n{done.stderr[-2000:]}")
            return 1
        status, score, before, peak, seconds = done.stdout.split()[-5:]
        worst = max(worst, float(peak))
        print(f"{name:<15}{status:<20}{score:>6}{before:>15}{peak:>9}{seconds:>9}")
    verdict = "within" if worst < TARGET_MB else "OVER"
    print(f"\nworst grader peak: {worst:.0f} MB ({verdict} the {TARGET_MB} MB target)")
    return 0 if worst < TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
