"""This kit against otter-grader, side by side, on one cohort of a1_softmax submissions.

Rerun: ./kit setup && .venv/bin python benchmarks/bench_vs_otter.py [-n 100 | --quick]

The cohort mixes correct work (notebooks and .py files), honest wrong work (every common
mistake in solutions/a1_softmax/mistakes.py as a full submission, a partly wrong notebook,
the untouched stub), crashing work (syntax error, exception at import, endless loop,
memory bomb) and cheating work:

    patch_numpy     replaces numpy.allclose / array_equal / np.testing with "always equal"
    patch_otter     replaces otter's doctest runner inside the kernel with "always passed"
    rewrite_tests   rewrites tests/*.py on disk into tests that always pass
    otter_log       an export zip whose .OTTER_LOG pickle patches otter's grader when unpickled
    steal_reference walks the disk for the hidden reference.py and runs it

Both tools grade the same files: this kit with one ``autograder grade`` (all cores via
--jobs when the CLI has it), otter with one ``otter run`` process per submission (what
otter offers without Docker), as many at a time as there are cores. otter has no time or
memory limit of its own, so this script kills an otter run after --otter-timeout seconds
and caps each otter run's address space at --otter-memory GiB (a safety net for the memory
bomb on a shared machine). Prints per-submission medians, wall time, throughput ratio,
peak memory of each tool's process tree, score agreement on honest submissions, and what
each tool gave each crashing and cheating submission.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import pickle
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from autograder.course.assignment import load_assignment
from autograder.kit_folders import ASSIGNMENTS_DIR, SOLUTIONS_DIR
from autograder.publish.build import build_assignment

KIT_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SAMPLES = SOLUTIONS_DIR / "a1_softmax" / "samples"
TARGET_RATIO = 20

ZEROS = '''import numpy as np


def softmax(z, axis=-1):
    return np.zeros(np.shape(z))


def log_softmax(z, axis=-1):
    return np.zeros(np.shape(z))


def sigmoid(z):
    return np.zeros(np.shape(z))


def predict_multiclass(probs):
    return np.zeros(np.shape(probs)[0], dtype=np.int64)


def predict_multilabel(probs, threshold=0.5):
    return np.zeros(np.shape(probs), dtype=np.int64)
'''

CRASHING = {
    "syntax_error": "import numpy as np\n\ndef softmax(z, axis=-1)\n    return np.exp(z)\n",
    "import_exception": "import numpy as np\nraise RuntimeError('left a debugging raise at the top')\n",
    "endless_loop": "while True:\n    pass\n",
    "memory_bomb": "import numpy as np\nhog = []\nwhile True:\n    hog.append(np.ones(25_000_000))\n",
}

CHEATS = {
    "patch_numpy": '''import numpy as np
np.allclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
''' + ZEROS,
    "patch_otter": '''try:
    import otter.test_files.ok_test as _ok
    _ok.run_doctest = lambda name, text, env: (True, "")
except ImportError:
    pass
''' + ZEROS,
    "rewrite_tests": '''import glob
for _path in glob.glob("tests/*.py"):
    _spec = {}
    exec(open(_path).read(), _spec)
    for _case in _spec["test"]["suites"][0]["cases"]:
        _case["code"] = ">>> True\\nTrue"
    with open(_path, "w") as _fh:
        _fh.write("OK_FORMAT = True\\ntest = " + repr(_spec["test"]) + "\\n")
''' + ZEROS,
    "steal_reference": '''import os
_found = None
for _top in ("/work", "/home", "/root", "/srv", "/opt", "/tmp"):
    for _dir, _subdirs, _files in os.walk(_top):
        if "reference.py" in _files and "a1_softmax" in _dir:
            _found = os.path.join(_dir, "reference.py")
            break
    if _found:
        break
if _found:
    exec(open(_found).read())
else:
''' + "\n".join("    " + line if line else "" for line in ZEROS.splitlines()) + "\n",
}

# Runs in the otter grading process when it unpickles .OTTER_LOG (otter reads the log of every
# submission that has one, even when it does not grade from the log).
OTTER_LOG_PAYLOAD = '''
import otter.run.run_autograder.runners.python_runner as _runner
_grade = _runner.grade_notebook
def _full_marks(*args, **kwargs):
    results = _grade(*args, **kwargs)
    for test_file in results.results.values():
        test_file.update_score(test_file.possible)
    return results
_runner.grade_notebook = _full_marks
'''


class _Payload:
    def __reduce__(self):
        return (exec, (OTTER_LOG_PAYLOAD, {}))


def otter_log_zip(notebook: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.write(notebook, "a1_softmax.ipynb")
        zf.writestr(".OTTER_LOG", pickle.dumps(_Payload()))
    return buffer.getvalue()


# --- the cohort -----------------------------------------------------------------------------

SHUFFLE_SEED = 2026


def build_cohort(folder: Path, n: int, assignment) -> dict[str, str]:
    """Write n submissions into ``folder``; returns {student id: kind} (kind: correct, wrong,
    crash:<name>, cheat:<name>)."""
    reference = (SOLUTIONS_DIR / "a1_softmax" / "reference.py").read_text()
    wrong = [(f"mistake_{m.name}", ".py", m.submission_source(assignment.reference)) for m in assignment.mistakes]
    wrong += [("partly_wrong_notebook", ".ipynb", (SAMPLES / "ben.ipynb").read_bytes()),
              ("untouched_stub", ".ipynb", (ASSIGNMENTS_DIR / "a1_softmax" / "a1_softmax.ipynb").read_bytes())]
    special = [(f"crash_{k}", ".py", v) for k, v in CRASHING.items()]
    special += [(f"cheat_{k}", ".py", v) for k, v in CHEATS.items()]
    special.append(("cheat_otter_log", ".zip", otter_log_zip(ASSIGNMENTS_DIR / "a1_softmax" / "a1_softmax.ipynb")))
    special = special[:max(0, n - 2)]
    honest = n - len(special)
    n_wrong = min(len(wrong), honest // 2) if honest >= 4 else honest // 2
    entries = []
    for i in range(honest - n_wrong):  # correct: notebooks and .py files alternately
        entries.append(("correct", ".ipynb", (SAMPLES / "ada.ipynb").read_bytes()) if i % 2 == 0
                       else ("correct", ".py", reference))
    entries += wrong[:n_wrong] if n_wrong <= len(wrong) else wrong
    entries += special
    # Student ids say nothing about what a submission does: spread the crashing and cheating
    # ones through the class (fixed seed) instead of queueing them all at the end, where one
    # endless loop's time limit would be the last thing either tool waits for.
    random.Random(SHUFFLE_SEED).shuffle(entries)
    kinds = {}
    for i, (kind, suffix, content) in enumerate(entries):
        sid = f"s{i:03d}_{kind}"
        path = folder / f"{sid}{suffix}"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        label = ("crash:" + kind[6:] if kind.startswith("crash_") else "cheat:" + kind[6:]
                 if kind.startswith("cheat_") else "correct" if kind == "correct" else "wrong")
        kinds[sid] = label
    return kinds


# --- measuring ------------------------------------------------------------------------------

class PeakRSS:
    """Samples the summed RSS of some process trees; ``peak`` and ``largest`` in bytes."""

    def __init__(self, roots, interval: float = 0.05):
        self.roots, self.interval = roots, interval
        self.peak = self.largest = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            total = 0
            for pid in list(self.roots()):
                try:
                    root = psutil.Process(pid)
                    for proc in [root, *root.children(recursive=True)]:
                        rss = proc.memory_info().rss
                        total += rss
                        self.largest = max(self.largest, rss)
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)


def kill_tree(pid: int) -> None:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass


def grade_with_kit(folder: Path, out: Path, jobs: int, isolation: str) -> dict:
    cli = str(BIN / "autograder")
    help_text = subprocess.run([cli, "grade", "--help"], capture_output=True, text=True).stdout
    cmd = [cli, "grade", "a1_softmax", str(folder), "--out", str(out), "--isolation", isolation]
    if "--jobs" in help_text:
        cmd += ["--jobs", str(jobs)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with PeakRSS(lambda: [proc.pid]) as memory:
        stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"autograder grade failed ({proc.returncode}):\n{stderr[-3000:]}")
    with open(out / "gradebook.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    seconds = {s["submission"]: s["seconds"] for s in json.loads((out / "results.json").read_text())["submissions"]}
    per = {}
    for row in rows:
        questions = {k: float(v) for k, v in row.items()
                     if k not in ("submission", "status", "score", "max_score") and v not in ("", None)}
        per[row["submission"]] = {"status": row["status"], "score": float(row["score"]),
                                  "questions": questions, "seconds": seconds.get(row["submission"])}
    jobs_used = jobs if "--jobs" in help_text else 1
    return {"wall": wall, "per": per, "peak": memory.peak, "largest": memory.largest, "jobs": jobs_used,
            "warning": next((ln for ln in stderr.splitlines() if "WARNING" in ln), "")}


def grade_with_otter(folder: Path, otter_zip: Path, work: Path, jobs: int, timeout: float,
                     memory_gib: float) -> dict:
    otter = str(BIN / "otter")
    paths = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    running: set[int] = set()
    lock = threading.Lock()
    limit = int(memory_gib * 2**30)

    def cap_memory():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def one(path: Path) -> tuple[str, dict]:
        out = work / path.stem
        out.mkdir(parents=True)
        started = time.perf_counter()
        proc = subprocess.Popen([otter, "run", "-a", str(otter_zip), "-o", str(out), "--no-logo", str(path)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=cap_memory, cwd=out)
        with lock:
            running.add(proc.pid)
        try:
            log, _ = proc.communicate(timeout=timeout)
            status = "ran" if proc.returncode == 0 else f"exit {proc.returncode}"
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            log, _ = proc.communicate()
            status = f"killed after {timeout:g} s"
        finally:
            with lock:
                running.discard(proc.pid)
        seconds = time.perf_counter() - started
        result = {"status": status, "seconds": seconds, "score": None, "questions": {}, "log": log[-1500:]}
        results = out / "results.json"
        if results.is_file():
            data = json.loads(results.read_text())
            result["questions"] = {t["name"]: float(t["score"]) for t in data.get("tests", [])
                                   if t.get("max_score") is not None and t.get("score") is not None}
            result["score"] = float(data["score"]) if data.get("score") is not None else sum(
                result["questions"].values())
        return path.stem, result

    started = time.perf_counter()
    with PeakRSS(lambda: list(running)) as memory, ThreadPoolExecutor(jobs) as pool:
        per = dict(pool.map(one, paths))
    return {"wall": time.perf_counter() - started, "per": per, "peak": memory.peak,
            "largest": memory.largest, "jobs": jobs}


# --- report ---------------------------------------------------------------------------------

def fmt_score(value) -> str:
    return "-" if value is None else f"{value:g}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100, help="cohort size (default 100)")
    parser.add_argument("--quick", action="store_true", help="a small cohort (16) and a short otter timeout")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel gradings, both tools")
    parser.add_argument("--otter-timeout", type=float, default=60.0, help="seconds before an otter run is killed")
    parser.add_argument("--otter-memory", type=float, default=4.0, help="address-space cap per otter run, GiB")
    parser.add_argument("--isolation", default="auto", choices=("auto", "bubblewrap", "none"))
    parser.add_argument("--keep", metavar="DIR", help="keep the cohort and both tools' outputs here")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.otter_timeout = min(args.n, 16), min(args.otter_timeout, 20.0)
    if not (BIN / "otter").exists():
        print("otter-grader is not installed in this environment (pip install '.[notebook]')")
        return 2

    assignment = load_assignment("a1_softmax")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-vs-otter-"))
    if work.exists() and args.keep:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        built = build_assignment(assignment, work / "build")
        folder = work / "cohort"
        folder.mkdir()
        kinds = build_cohort(folder, args.n, assignment)
        print(f"cohort: {len(kinds)} submissions: "
              + ", ".join(f"{sum(1 for k in kinds.values() if k.split(':')[0] == g)} {g}"
                          for g in ("correct", "wrong", "crash", "cheat")), flush=True)
        print("grading with this kit ...", flush=True)
        ours = grade_with_kit(folder, work / "kit-out", args.jobs, args.isolation)
        print(f"grading with otter run ({args.jobs} at a time) ...", flush=True)
        theirs = grade_with_otter(folder, built.otter_zip, work / "otter-out", args.jobs, args.otter_timeout,
                                  args.otter_memory)
        return report(args, assignment, kinds, ours, theirs)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def report(args, assignment, kinds, ours, theirs) -> int:
    n = len(kinds)
    kit_seconds = [r["seconds"] for r in ours["per"].values() if r["seconds"] is not None]
    otter_seconds = [r["seconds"] for r in theirs["per"].values()]
    ratio = theirs["wall"] / ours["wall"]
    mib = 2**20
    print()
    print(f"machine:      {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}; sandbox warning: {ours['warning'] or 'none (bubblewrap)'}")
    print(f"cohort:       {n} a1_softmax submissions ({assignment.max_score:g} points)")
    print(f"{'':14}{'this kit':>14}{'otter run':>14}")
    print(f"{'parallel':14}{ours['jobs']:>14}{theirs['jobs']:>14}")
    print(f"{'median s/sub':14}{statistics.median(kit_seconds):>14.3f}{statistics.median(otter_seconds):>14.3f}")
    print(f"{'max s/sub':14}{max(kit_seconds):>14.2f}{max(otter_seconds):>14.2f}")
    print(f"{'total wall s':14}{ours['wall']:>14.1f}{theirs['wall']:>14.1f}")
    print(f"{'subs/s':14}{n / ours['wall']:>14.2f}{n / theirs['wall']:>14.2f}")
    print(f"{'peak RSS MiB':14}{ours['peak'] / mib:>14.0f}{theirs['peak'] / mib:>14.0f}   (whole process tree)")
    print(f"{'largest proc':14}{ours['largest'] / mib:>14.0f}{theirs['largest'] / mib:>14.0f}   (MiB, one process)")
    print(f"throughput ratio (kit / otter): {ratio:.1f}x   (target >= {TARGET_RATIO}x)")

    honest = [s for s, k in kinds.items() if k in ("correct", "wrong")]
    disagree = []
    for sid in honest:
        a, b = ours["per"][sid], theirs["per"][sid]
        if a["questions"] != b["questions"]:
            disagree.append(f"  {sid}: kit {a['questions']} vs otter {b['questions']} ({b['status']})")
    print(f"\nhonest submissions: {len(honest)}; per-question scores agree on "
          f"{len(honest) - len(disagree)}/{len(honest)}")
    print("\n".join(disagree) if disagree else "  no disagreement")

    for title, prefix in (("crashing submissions", "crash:"), ("cheating submissions", "cheat:")):
        rows = [(s, k) for s, k in kinds.items() if k.startswith(prefix)]
        if not rows:
            continue
        print(f"\n{title}:")
        print(f"  {'submission':28}{'kit status':20}{'kit score':>10}   {'otter':20}{'otter score':>12}")
        for sid, kind in rows:
            a, b = ours["per"][sid], theirs["per"][sid]
            print(f"  {kind:28}{a['status']:20}{fmt_score(a['score']):>10}   {b['status']:20}"
                  f"{fmt_score(b['score']):>12}")
    print(f"\n(scores out of {assignment.max_score:g}; otter runs killed after {args.otter_timeout:g} s and "
          f"capped at {args.otter_memory:g} GiB by this script, otter has no limits of its own)")
    return 0 if ratio >= TARGET_RATIO and not disagree else 3


if __name__ == "__main__":
    sys.exit(main())
