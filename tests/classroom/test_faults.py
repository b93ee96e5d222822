"""A class graded through faults: odd entries, files changing under the grader, shared or
foreign output folders, full disks, a missing TMPDIR, and leftovers of killed runs.

Each fault ends either in a row that names the problem or in one clear line for the TA with
a non-zero exit, and never in a lost result, a stale grade or a leftover file.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from kit_paths import KIT

from autograder.classroom import outdir
from autograder.classroom.batch import grade_batch
from autograder.classroom.resume import CacheBinding, ResultCache, grader_key
from autograder.cli import main
from autograder.grading import pipeline as pipeline_module
from autograder.grading import submission as submissions
from autograder.grading.grade import GRADER_ERROR, INVALID
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.machine.faults import MachineFault
from autograder.machine.tempdirs import is_stale, kit_tempdir, pid_namespace, process_start, sweep_stale

SAMPLES = SOLUTIONS_DIR / "a1_softmax" / "samples"
REFERENCE = SOLUTIONS_DIR / "a1_softmax" / "reference.py"


@pytest.fixture
def no_hang():
    """Fail instead of hanging forever if anything ever opens a FIFO for reading."""
    def hung(signum, frame):
        raise TimeoutError("the grader blocked (opened a FIFO?)")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def rows(out):
    with open(out / "gradebook.csv", newline="") as f:
        return {row[0]: row[1:] for row in list(csv.reader(f))[1:]}


def messages(out):
    data = json.loads((out / "results.json").read_text())
    return {s["submission"]: " ".join(s["messages"]) for s in data["submissions"]}


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A size-capped tmpfs at ``path`` (root with mount rights), else the test is skipped."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path) -> Path:
    """Write a file into ``folder`` until its file system is full."""
    filler = folder / "filler"
    with open(filler, "wb") as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    return filler


# --- Every entry of a class gets a row, or is listed as skipped ---------------------------

def odd_class(folder: Path) -> dict[str, str]:
    """A class folder holding every kind of entry; returns id -> what its message must say."""
    folder.mkdir()
    shutil.copy(SAMPLES / "ada.ipynb", folder / "ada.ipynb")
    shutil.copy(SAMPLES / "eve.py", folder / ".bob.py")               # a dotfile is a submission
    shutil.copy(SAMPLES / "eve.py", folder / "__MACOSX_carol.py")     # so is a name like macOS's
    (folder / "link.py").symlink_to(folder / ".bob.py")
    (folder / "broken.py").symlink_to(folder / "nowhere.py")
    os.mkfifo(folder / "pipe.py")
    shutil.copy(SAMPLES / "jo.py", folder / "locked.py")
    (folder / "locked.py").chmod(0)
    (folder / "folder.ipynb").mkdir()
    (folder / "empty").mkdir()
    expected = {"link": "symbolic link", "broken": "broken symbolic link", "pipe": "named pipe (FIFO)",
                "locked": "permission denied", "folder.ipynb": "is a folder, not a .ipynb file",
                "empty": "holds no .ipynb"}
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(folder / "sock.py"))
        expected["sock"] = "is a socket"
    except OSError:
        pass  # a socket path longer than the kernel's 108 bytes: the other kinds still run
    finally:
        server.close()
    try:
        os.mknod(folder / "dev.py", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        expected["dev"] = "is a device"
    except OSError:
        pass  # no mknod here: the other kinds still run
    (folder / "__MACOSX").mkdir()
    (folder / "__MACOSX" / "._ada.ipynb").write_bytes(b"\0\5\26\7")
    (folder / "._ada.ipynb").write_bytes(b"\0\5\26\7")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return expected


def test_every_entry_gets_a_row_or_is_listed_as_skipped(tmp_path, capsys, monkeypatch, no_hang):
    expected = odd_class(tmp_path / "class")
    if os.geteuid() == 0:  # root reads any file: make locked.py unreadable to the grader as it would be
        real = submissions._open_no_follow

        def refuse(path):
            if Path(path).name == "locked.py":
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)

        monkeypatch.setattr(submissions, "_open_no_follow", refuse)
    out = tmp_path / "out"
    status = main(["grade", "a1_softmax", str(tmp_path / "class"), "--out", str(out), "--jobs", "1"])
    printed = capsys.readouterr().out
    assert status == 0
    got = rows(out)
    assert sorted(got) == sorted([*expected, "ada", ".bob", "__MACOSX_carol"])
    assert got["ada"][:2] == ["graded", "48"] and got[".bob"][0] == got["__MACOSX_carol"][0] == "graded"
    said = messages(out)
    for student, words in expected.items():
        assert got[student][:2] == [INVALID, "0"], student
        assert words in said[student], (student, said[student])
    skipped = sorted(["._ada.ipynb", ".DS_Store", "__MACOSX"])
    assert f"skipped, not submissions (3): {', '.join(skipped)}" in printed
    report = (out / "report.html").read_text()
    assert all(f"<code>{name}</code>" in report for name in skipped)
    assert json.loads((out / "results.json").read_text())["skipped"] == skipped


def test_a_fifo_given_alone_is_an_invalid_row_not_a_hang(tmp_path, a1, settings, no_hang):
    os.mkfifo(tmp_path / "pipe.ipynb")
    batch = grade_batch(a1, tmp_path / "pipe.ipynb", tmp_path / "out", settings)
    assert [(r.submission, r.status) for r in batch.results] == [("pipe", INVALID)]


def test_a_fifo_inside_a_student_folder_is_passed_over(tmp_path, no_hang):
    folder = tmp_path / "dora"
    folder.mkdir()
    shutil.copy(SAMPLES / "jo.py", folder / "work.py")
    os.mkfifo(folder / "other.ipynb")
    copy = submissions.snapshot(folder, tmp_path / "copy")
    assert sorted(p.name for p in copy.path.iterdir()) == ["work.py"]


# --- Grade exactly what was hashed ----------------------------------------------------------

def test_a_file_replaced_after_hashing_is_cached_under_what_was_graded(tmp_path, a1, settings, monkeypatch):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(SAMPLES / "eve.py", folder / "eve.py")  # scores 0
    original = (folder / "eve.py").read_bytes()
    real = submissions.snapshot

    def replaced_before_copy(source, dest, **kwargs):
        if dest is not None:  # the grader's copy is made now: the student's file changes first
            shutil.copy(REFERENCE, folder / "eve.py")
        return real(source, dest, **kwargs)

    monkeypatch.setattr(submissions, "snapshot", replaced_before_copy)
    out = tmp_path / "out"
    grade_batch(a1, folder, out, settings)
    monkeypatch.setattr(submissions, "snapshot", real)
    assert rows(out)["eve"][:2] == ["graded", "48"]  # what was copied: the new file
    (folder / "eve.py").write_bytes(original)  # the original is back
    again = grade_batch(a1, folder, out, settings)
    assert again.graded == ["eve"] and rows(out)["eve"][:2] == ["graded", "0"]


def test_a_file_replaced_between_copy_and_grading_changes_nothing(tmp_path, a1, settings, monkeypatch):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(SAMPLES / "eve.py", folder / "eve.py")
    real = pipeline_module.grade_submission

    def replaced_mid_run(path, **kwargs):
        shutil.copy(REFERENCE, folder / "eve.py")  # the student's file, not the grader's copy
        assert Path(path) != folder / "eve.py" and Path(path).name == "eve.py"
        return real(path, **kwargs)

    monkeypatch.setattr(pipeline_module, "grade_submission", replaced_mid_run)
    out = tmp_path / "out"
    grade_batch(a1, folder, out, settings)
    monkeypatch.setattr(pipeline_module, "grade_submission", real)
    assert rows(out)["eve"][:2] == ["graded", "0"]  # the copy, as it was hashed
    again = grade_batch(a1, folder, out, settings)  # the file now holds the reference
    assert again.graded == ["eve"] and rows(out)["eve"][:2] == ["graded", "48"]


# --- One out dir, one assignment, one run ---------------------------------------------------

def test_a_second_assignment_into_the_same_out_dir_is_refused(tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(SAMPLES / "jo.py", folder / "jo.py")
    out = tmp_path / "out"
    assert main(["grade", "a1_softmax", str(folder), "--out", str(out)]) == 0
    cache_before = {p.name: p.read_bytes() for p in (out / "cache").iterdir()}
    gradebook = (out / "gradebook.csv").read_bytes()
    capsys.readouterr()
    assert main(["grade", "a2_losses", str(folder), "--out", str(out)]) == 2
    assert f"{out} holds grades of a1_softmax, not a2_losses" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in (out / "cache").iterdir()} == cache_before
    assert (out / "gradebook.csv").read_bytes() == gradebook


def test_a_second_run_into_a_busy_out_dir_refuses_or_waits_and_says_which(tmp_path, a1, settings, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(SAMPLES / "jo.py", folder / "jo.py")
    out = tmp_path / "out"
    with outdir.claim(out, "a1_softmax"):  # the first run
        assert main(["grade", "a1_softmax", str(folder), "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert f"another autograder run (pid {os.getpid()}) is grading into {out}" in err and "--wait" in err
        assert not (out / "gradebook.csv").exists()
    said, waiting, result = [], threading.Event(), []

    def second_run():
        def progress(line):
            said.append(line)
            if line.startswith("waiting:"):
                waiting.set()
        result.append(grade_batch(a1, folder, out, settings, wait=True, progress=progress))

    with outdir.claim(out, "a1_softmax"):
        thread = threading.Thread(target=second_run)
        thread.start()
        assert waiting.wait(60), said
        assert not result  # still waiting while the first run holds the folder
    thread.join(120)
    assert result and [r.submission for r in result[0].results] == ["jo"]
    assert any("has finished; starting" in line for line in said)


# --- Faults of the machine --------------------------------------------------------------------

def test_a_grader_error_makes_the_exit_code_non_zero(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("ada.ipynb", "jo.py"):
        shutil.copy(SAMPLES / name, folder / name)
    real = pipeline_module.grade_submission

    def broken_for_jo(path, **kwargs):
        if Path(path).name == "jo.py":
            raise RuntimeError("a bug in the kit")
        return real(path, **kwargs)

    monkeypatch.setattr(pipeline_module, "grade_submission", broken_for_jo)
    assert main(["grade", "a1_softmax", str(folder), "--out", str(tmp_path / "out")]) == 1
    assert "1 submission(s) not graded because of a grader error (jo)" in capsys.readouterr().err
    assert rows(tmp_path / "out")["jo"][0] == GRADER_ERROR


def test_a_missing_tmpdir_is_named_and_nothing_starts(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "gone"))
    monkeypatch.setattr(tempfile, "tempdir", None)
    shutil.copy(SAMPLES / "jo.py", tmp_path / "jo.py")
    assert main(["grade", "a1_softmax", str(tmp_path / "jo.py"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"autograder: error: TMPDIR={tmp_path / 'gone'} does not exist: create it, or set TMPDIR "
                   "to a folder with free space (or unset it to use /tmp)"]
    assert not (tmp_path / "out").exists()


def test_a_full_tmpdir_is_refused_at_the_start(tmp_path, monkeypatch, capsys):
    with tmpfs(tmp_path / "tiny", "1m") as tiny:
        monkeypatch.setenv("TMPDIR", str(tiny))
        monkeypatch.setattr(tempfile, "tempdir", None)
        shutil.copy(SAMPLES / "jo.py", tmp_path / "jo.py")
        assert main(["grade", "a1_softmax", str(tmp_path / "jo.py"), "--out", str(tmp_path / "out")]) == 1
        err = capsys.readouterr().err
        assert f"the temporary folder {tiny} has only" in err and "set TMPDIR" in err
        assert list(tiny.iterdir()) == []


def test_a_tmpdir_filling_up_mid_run_stops_the_class_and_keeps_what_was_graded(tmp_path, monkeypatch, a1,
                                                                               settings, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("ada.ipynb", "eve.py", "jo.py"):
        shutil.copy(SAMPLES / name, folder / name)
    reference = tmp_path / "reference"
    grade_batch(a1, folder, reference, settings)
    with tmpfs(tmp_path / "tmp", "40m") as tmp:
        monkeypatch.setenv("TMPDIR", str(tmp))
        monkeypatch.setattr(tempfile, "tempdir", None)
        real = pipeline_module.grade_submission
        calls = []

        def disk_fills_up(path, **kwargs):
            calls.append(path)
            if len(calls) == 2:  # someone else's download fills TMPDIR while the class is graded
                fill(tmp)
            return real(path, **kwargs)

        monkeypatch.setattr(pipeline_module, "grade_submission", disk_fills_up)
        out = tmp_path / "out"
        assert main(["grade", "a1_softmax", str(folder), "--out", str(out), "--jobs", "1"]) == 1
        err = capsys.readouterr().err
        assert f"autograder: error: no space left for {tmp}" in err, err
        assert "every submission graded before it is kept" in err
        assert [p.name for p in tmp.iterdir()] == ["filler"]  # no temporary folder left
        (tmp / "filler").unlink()
        monkeypatch.setattr(pipeline_module, "grade_submission", real)
        again = grade_batch(a1, folder, out, settings)
    assert again.reused == ["ada"] and again.graded == ["eve", "jo"]
    assert (out / "gradebook.csv").read_bytes() == (reference / "gradebook.csv").read_bytes()


def test_a_tiny_out_dir_fails_with_one_line_and_loses_nothing(tmp_path, a1, settings):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("ada.ipynb", "eve.py", "jo.py"):
        shutil.copy(SAMPLES / name, folder / name)
    reference = tmp_path / "reference"
    grade_batch(a1, folder, reference, settings)
    with tmpfs(tmp_path / "tiny", "48k") as tiny:
        out = tiny / "out"
        done = subprocess.run([sys.executable, "-m", "autograder", "grade", "a1_softmax",
                               str(folder), "--out", str(out), "--jobs", "1"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 1, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith(f"autograder: error: no space left for {out}"), done.stderr
        assert "Traceback" not in done.stderr
        assert not [p for p in out.rglob("*.tmp")], "a partial file was left behind"
        kept = shutil.copytree(out, tmp_path / "moved")  # the TA moves the folder to a bigger disk
    key = grader_key(kept / "cache")
    entries = [json.loads(p.read_text()) for p in (kept / "cache").glob("*.json")]
    for entry in entries:  # every entry left is complete and believed
        cache = ResultCache(kept / "cache", key, CacheBinding("a1_softmax", entry["fingerprint"], a1.cases))
        assert cache.load(entry["student"], entry["content"]) is not None
    again = grade_batch(a1, folder, kept, settings)
    assert len(again.reused) == len(entries)
    assert (kept / "gradebook.csv").read_bytes() == (reference / "gradebook.csv").read_bytes()


def test_an_out_dir_that_cannot_be_written_is_named(tmp_path, a1, settings, monkeypatch):
    shutil.copy(SAMPLES / "jo.py", tmp_path / "jo.py")
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):
        if self.is_relative_to(tmp_path / "out"):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)  # as a non-root TA would see it
    with pytest.raises(MachineFault, match=r"permission denied for .*out.*: choose a folder you can write"):
        grade_batch(a1, tmp_path / "jo.py", tmp_path / "out", settings)


# --- Leftovers of killed runs ---------------------------------------------------------------

def test_only_folders_of_dead_owners_are_swept(tmp_path):
    me, start = os.getpid(), process_start(os.getpid())
    child = subprocess.Popen(["true"])
    child.wait()  # a pid that is gone
    ns = pid_namespace()
    names = {
        f"ag-class-p{child.pid}.12345.n{ns}-abc": True,  # its owner has exited
        f"ag-in-p{me}.{start + 1}.n{ns}-abc": True,      # the pid was reused by another process
        f"ag-box-p{child.pid}.12345-abc": True,          # no namespace recorded: judged here
        f"ag-work-p{me}.{start}.n{ns}-abc": False,       # ours: alive
        f"ag-class-p{child.pid}.1.n{ns + 1}-abc": False, # another container's grader: cannot tell
        "ag-class-legacy123": False,                     # no owner tag: cannot tell, left alone
        "other-program-p1.1-x": False,
    }
    for name in names:
        (tmp_path / name).mkdir()
    assert {n: is_stale(n) for n in names} == names
    removed = sweep_stale(tmp_path)
    assert sorted(p.name for p in removed) == sorted(n for n, stale in names.items() if stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, stale in names.items() if not stale)


def test_a_batch_sweeps_what_a_killed_run_left(tmp_path, private_tmp, a1, settings):
    child = subprocess.Popen(["true"])
    child.wait()
    stale = private_tmp / f"ag-class-p{child.pid}.1-x"
    (stale / "copies").mkdir(parents=True)
    shutil.copy(SAMPLES / "jo.py", tmp_path / "jo.py")
    grade_batch(a1, tmp_path / "jo.py", tmp_path / "out", settings)
    assert list(private_tmp.iterdir()) == []


def test_sigterm_removes_the_temporary_folders(tmp_path, private_tmp):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "slow.py").write_text("import time\ntime.sleep(2)\n")  # still running at SIGTERM
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", "a1_softmax", str(folder),
                             "--out", str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.name.startswith("ag-in-") for p in private_tmp.iterdir()):
        time.sleep(0.05)
    assert any(p.name.startswith("ag-class-") for p in private_tmp.iterdir())
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert list(private_tmp.iterdir()) == []


def test_an_out_dir_every_user_may_write_is_refused_and_the_cache_is_private(tmp_path, capsys):
    shutil.copy(SAMPLES / "jo.py", tmp_path / "jo.py")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # a sandbox uid could swap its cache folder
    assert main(["grade", "a1_softmax", str(tmp_path / "jo.py"), "--out", str(shared)]) == 2
    assert "is writable by every user" in capsys.readouterr().err
    shared.chmod(0o755)
    assert main(["grade", "a1_softmax", str(tmp_path / "jo.py"), "--out", str(shared)]) == 0
    assert stat.S_IMODE((shared / "cache").stat().st_mode) == 0o700


def test_the_tas_own_path_may_be_a_link_to_the_class(tmp_path, a1, settings):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(SAMPLES / "jo.py", folder / "jo.py")
    (tmp_path / "current").symlink_to(folder)
    batch = grade_batch(a1, tmp_path / "current", tmp_path / "out", settings)
    assert [(r.submission, r.status) for r in batch.results] == [("jo", "syntax_error")]


def test_temporary_folders_go_even_when_a_submission_made_them_unwritable(tmp_path):
    """As a normal user (root could delete anything): folders chmod 0500 inside are removed too."""
    code = ("import os, sys; sys.path.insert(0, sys.argv[1]); from autograder.machine.tempdirs import kit_tempdir\n"
            "with kit_tempdir('work') as d:\n"
            "    os.makedirs(d + '/a/b'); open(d + '/a/b/f', 'w').close(); os.chmod(d + '/a/b', 0o500)\n"
            "    os.chmod(d + '/a', 0o500)\n"
            "print(os.path.exists(d))\n")
    repo = KIT
    command = [sys.executable, "-c", code, str(repo)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if not setpriv or not os.access("/usr/bin/python3", os.X_OK):
            pytest.skip("running as root without setpriv to become a normal user")
        command = [setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups", "/usr/bin/python3",
                   "-c", code, str(repo)]
    tmp_path.chmod(0o777)
    done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env={"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    if done.returncode != 0 and "Permission denied" in done.stderr:
        pytest.skip(f"the kit is not readable by a normal user here: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False" and list(tmp_path.iterdir()) == []


def test_a_kit_folder_names_its_owner_and_is_not_stale_while_it_lives():
    with kit_tempdir("class") as path:
        name = Path(path).name
        assert name.startswith(f"ag-class-p{os.getpid()}.{process_start(os.getpid())}.n{pid_namespace()}-")
        assert not is_stale(name)
