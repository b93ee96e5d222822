"""Batch grading: parallel workers, the resumable cache, --regrade, and deterministic outputs."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from autograder.classroom.batch import grade_batch
from autograder.course.assignment import load_assignment
from autograder.grading import pipeline as pipeline_module
from autograder.grading.grade import GRADER_ERROR
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.sandbox import SandboxSettings

SAMPLES = SOLUTIONS_DIR / "a1_softmax" / "samples"
FAST = ("ada.ipynb", "ben.ipynb", "eve.py", "jo.py", "dan.zip")


def make_class(folder, names=FAST, copies=1):
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(copies):
        for name in names:
            stem, dot, suffix = name.partition(".")
            shutil.copy(SAMPLES / name, folder / (f"{stem}{n}.{suffix}" if copies > 1 else name))
    return folder


def output_files(out):
    """Every output file's bytes, results.json without its timestamp."""
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
             if p.is_file() and "cache" not in p.relative_to(out).parts}
    data = json.loads(files.pop("results.json"))
    data.pop("generated")
    files["results.json"] = json.dumps(data).encode()
    return files


def rows(out):
    with open(out / "gradebook.csv", newline="") as f:
        return list(csv.reader(f))


def test_parallel_grading_gives_the_same_gradebook_and_feedback_as_one_job(tmp_path, a1, settings):
    folder = make_class(tmp_path / "class")
    one = grade_batch(a1, folder, tmp_path / "one", settings, jobs=1)
    two = grade_batch(a1, folder, tmp_path / "two", settings, jobs=2)
    assert sorted(one.graded) == sorted(two.graded) == ["ada", "ben", "dan", "eve", "jo"]
    assert (tmp_path / "one" / "gradebook.csv").read_bytes() == (tmp_path / "two" / "gradebook.csv").read_bytes()
    for name in ("ada", "ben", "dan", "eve", "jo"):
        assert (one.feedback_dir / f"{name}.txt").read_bytes() == (two.feedback_dir / f"{name}.txt").read_bytes()
    assert [r[0] for r in rows(tmp_path / "two")[1:]] == ["ada", "ben", "dan", "eve", "jo"]


def test_each_worker_has_its_own_index_and_no_index_is_used_twice_at_once(tmp_path, a1, settings, monkeypatch):
    """The worker index picks the sandbox uid (61000 + worker): two concurrent runs never share one."""
    folder = make_class(tmp_path / "class", copies=3)
    real = pipeline_module.grade_submission
    busy, seen, clashes = set(), [], []
    lock = threading.Lock()

    def spy(path, *, worker, **kwargs):
        with lock:
            if worker in busy:
                clashes.append(worker)
            busy.add(worker)
            seen.append(worker)
        try:
            time.sleep(0.05)
            return real(path, worker=worker, **kwargs)
        finally:
            with lock:
                busy.discard(worker)

    monkeypatch.setattr(pipeline_module, "grade_submission", spy)
    result = grade_batch(a1, folder, tmp_path / "out", settings, jobs=3)
    assert len(result.results) == 15 and not clashes
    assert set(seen) == {0, 1, 2}


def test_a_rerun_grades_nothing_and_writes_the_same_bytes(tmp_path, a1, settings):
    folder = make_class(tmp_path / "class", names=("ada.ipynb", "ben.ipynb", "jo.py"))
    out = tmp_path / "out"
    first = grade_batch(a1, folder, out, settings, jobs=2)
    before = output_files(out)
    report_before = (out / "report.html").read_bytes()
    second = grade_batch(a1, folder, out, settings, jobs=2)
    assert first.graded == ["ada", "ben", "jo"] and second.graded == []
    assert second.reused == ["ada", "ben", "jo"]
    assert output_files(out) == before
    assert (out / "report.html").read_bytes() == report_before
    header = rows(out)[0]
    assert not any("second" in column or "time" in column for column in header)


def test_a_fresh_grading_gives_the_same_outputs_except_timings(tmp_path, a1, settings):
    folder = make_class(tmp_path / "class", names=("ada.ipynb", "ben.ipynb", "jo.py"))
    grade_batch(a1, folder, tmp_path / "a", settings, jobs=1)
    grade_batch(a1, folder, tmp_path / "b", settings, jobs=2)
    a, b = output_files(tmp_path / "a"), output_files(tmp_path / "b")
    assert a.keys() == b.keys()
    timing = ("report.html", "results.json")
    assert all(a[k] == b[k] for k in a if k not in timing)
    ra, rb = json.loads(a["results.json"]), json.loads(b["results.json"])
    for data in (ra, rb):
        for s in data["submissions"]:
            s.pop("seconds")
    assert ra == rb


def test_regrade_grades_everything_again(tmp_path, a1, settings):
    folder = make_class(tmp_path / "class", names=("ada.ipynb", "jo.py"))
    out = tmp_path / "out"
    grade_batch(a1, folder, out, settings)
    again = grade_batch(a1, folder, out, settings, regrade=True)
    assert again.graded == ["ada", "jo"] and again.reused == []


def test_changed_content_is_graded_again_and_only_that(tmp_path, a1, settings):
    folder = make_class(tmp_path / "class", names=("ada.ipynb", "eve.py", "jo.py"))
    out = tmp_path / "out"
    grade_batch(a1, folder, out, settings)
    assert rows(out)[2][:3] == ["eve", "graded", "0"]
    shutil.copy(SOLUTIONS_DIR / "a1_softmax" / "reference.py", folder / "eve.py")
    again = grade_batch(a1, folder, out, settings)
    assert again.graded == ["eve"] and again.reused == ["ada", "jo"]
    assert rows(out)[2][:3] == ["eve", "graded", "48"]


def test_changed_tests_invalidate_the_cache(tmp_path, settings):
    hidden = tmp_path / "a1_copy"
    shutil.copytree(SOLUTIONS_DIR / "a1_softmax", hidden, ignore=shutil.ignore_patterns("samples", "__pycache__"))
    folder = make_class(tmp_path / "class", names=("ada.ipynb", "jo.py"))
    out = tmp_path / "out"
    grade_batch(load_assignment(hidden), folder, out, settings)
    assert grade_batch(load_assignment(hidden), folder, out, settings).graded == []
    with open(hidden / "mistakes.py", "a") as f:
        f.write("\n# an edit to the hidden material\n")
    assert grade_batch(load_assignment(hidden), folder, out, settings).graded == ["ada", "jo"]
    limits = SandboxSettings(isolation="auto", overrides=(("call_seconds", 1.5),))
    assert grade_batch(load_assignment(hidden), folder, out, limits).graded == ["ada", "jo"]
    assert grade_batch(load_assignment(hidden), folder, out, settings, public_only=True).graded == ["ada", "jo"]


def test_a_grader_error_keeps_its_row_and_is_retried_next_time(tmp_path, a1, settings, monkeypatch):
    folder = make_class(tmp_path / "class", names=("ada.ipynb", "jo.py"))
    real = pipeline_module.grade_submission

    def broken_for_jo(path, **kwargs):
        if path.name == "jo.py":
            raise RuntimeError("a bug in the kit")
        return real(path, **kwargs)

    monkeypatch.setattr(pipeline_module, "grade_submission", broken_for_jo)
    out = tmp_path / "out"
    first = grade_batch(a1, folder, out, settings)
    assert {r.submission: r.status for r in first.results} == {"ada": "graded", "jo": GRADER_ERROR}
    monkeypatch.setattr(pipeline_module, "grade_submission", real)
    assert grade_batch(a1, folder, out, settings).graded == ["jo"]


@pytest.mark.slow
def test_a_killed_run_resumes_without_regrading_anything_it_finished(tmp_path):
    folder = make_class(tmp_path / "class", names=("ada.ipynb", "ben.ipynb", "jo.py", "eve.py"), copies=3)
    out = tmp_path / "out"
    cache = out / "cache"
    command = [sys.executable, "-m", "autograder", "grade", "a1_softmax", str(folder), "--out", str(out),
               "--jobs", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if cache.is_dir() and len(list(cache.glob("*.json"))) >= 3:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    done = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in cache.glob("*.json")}
    assert 3 <= len(done) < 12
    for entry in done.values():
        json.loads(entry[1])  # complete entries only; a torn write would not parse
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"graded now: {12 - len(done)}, reused from the cache: {len(done)}" in rerun.stdout
    for name, (mtime, data) in done.items():
        assert (cache / name).stat().st_mtime_ns == mtime and (cache / name).read_bytes() == data
    ids = [row[0] for row in rows(out)[1:]]
    assert len(ids) == len(set(ids)) == 12
    assert not list(cache.glob(".*.tmp"))


def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(tmp_path):
    """SIGINT (Ctrl-C): the running submission finishes and is cached, nothing new starts,
    the command exits 130; the next run grades only what was left."""
    folder = make_class(tmp_path / "class", names=("ada.ipynb", "ben.ipynb", "jo.py", "eve.py"), copies=3)
    out = tmp_path / "out"
    cache = out / "cache"
    command = [sys.executable, "-m", "autograder", "grade", "a1_softmax", str(folder), "--out", str(out),
               "--jobs", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if cache.is_dir() and len(list(cache.glob("*.json"))) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    done = sorted(p.name for p in cache.glob("*.json"))
    assert 2 <= len(done) < 12
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"graded now: {12 - len(done)}, reused from the cache: {len(done)}" in rerun.stdout
    assert len(rows(out)) == 13


def test_cli_grade_options_and_help(tmp_path, capsys):
    from autograder.cli import main

    folder = make_class(tmp_path / "class", names=("ada.ipynb", "jo.py"))
    assert main(["grade", "a1_softmax", str(folder), "--out", str(tmp_path / "o"), "--jobs", "2"]) == 0
    assert "graded now: 2, reused from the cache: 0" in capsys.readouterr().out
    assert main(["grade", "a1_softmax", str(folder), "--out", str(tmp_path / "o"), "--regrade", "-j", "1"]) == 0
    assert "graded now: 2, reused from the cache: 0" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["grade", "--help"])
    text = capsys.readouterr().out
    for words in ("--jobs", "--regrade", "--canvas", "--moodle", "--roster", "assignsubmission", "_LATE"):
        assert words in text


def test_progress_lines_when_not_a_terminal(tmp_path, a1, settings):
    import io

    from autograder.classroom.progress import ProgressMeter

    class Pipe(io.StringIO):
        def isatty(self):
            return False

    stream = Pipe()
    folder = make_class(tmp_path / "class", names=("ada.ipynb", "jo.py"))
    grade_batch(a1, folder, tmp_path / "out", settings, meter=ProgressMeter(stream, interval=3600))
    lines = stream.getvalue().splitlines()
    assert lines[-1].endswith("2/2 done, 1 failed, 0 left, ETA 0:00") and "\r" not in stream.getvalue()
    assert len(lines) <= 3  # start, end (and a warning when unisolated): not one per submission


def test_progress_bar_on_a_terminal_counts_and_estimates():
    import io

    from autograder.classroom.progress import ProgressMeter

    now = [0.0]
    stream = io.StringIO()
    meter = ProgressMeter(stream, tty=True, clock=lambda: now[0])
    meter.start(10, reused=2)
    now[0] = 4.0
    meter.update(ok=True)
    meter.update(ok=False)
    assert meter.text().endswith("4/10 done, 1 failed, 6 left, ETA 0:12")
    meter.close()
    assert "\r\033[K[" in stream.getvalue() and stream.getvalue().endswith("\n")

