"""The cache cannot lie, and a run killed at any moment resumes to the same gradebook.

Cache entries are signed by the grader's key and checked against the plan: a forged,
truncated, foreign or schema-breaking entry is graded again, never believed, never a crash,
never a missing row. Kill moments are made exact by patching the subprocess at that point.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap

import pytest

from autograder.classroom.batch import grade_batch
from autograder.classroom.resume import KEY_FILE, CacheBinding, ResultCache, grader_key
from autograder.grading.grade import GRADER_ERROR
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.machine.tempdirs import PREFIX
from autograder.sandbox import SandboxSettings

SAMPLES = SOLUTIONS_DIR / "a1_softmax" / "samples"
CLASS = ("ada.ipynb", "eve.py", "jo.py")  # 48, 0 (a cheater), a wrong one


def make_class(folder, names=CLASS):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(SAMPLES / name, folder / name)
    return folder


def rows(out):
    with open(out / "gradebook.csv", newline="") as f:
        return {row[0]: row[1:] for row in list(csv.reader(f))[1:]}


def entry_path(out, student):
    (path,) = (out / "cache").glob(f"{student}-*.json")
    return path


def resign(out, a1, student, mutate):
    """Change a cached entry and sign it again with the grader's own key (an entry our own
    code could have written wrongly, or a key that leaked): the schema still protects."""
    path = entry_path(out, student)
    entry = json.loads(path.read_text())
    entry.pop("mac")
    mutate(entry)
    cache = ResultCache(out / "cache", grader_key(out / "cache"), CacheBinding("a1_softmax", "", a1.cases))
    entry["mac"] = cache._sign(entry)
    path.write_text(json.dumps(entry))


@pytest.fixture(scope="module")
def graded_once(tmp_path_factory):
    """A graded class and its outputs, made once for the cache tests."""
    from autograder.course.assignment import load_assignment

    base = tmp_path_factory.mktemp("graded")
    folder = make_class(base / "class")
    out = base / "out"
    grade_batch(load_assignment("a1_softmax"), folder, out, SandboxSettings(isolation="auto"), jobs=1)
    return folder, out


def fresh_copy(graded_once, tmp_path):
    folder, out = graded_once
    shutil.copytree(out, tmp_path / "out")
    return folder, tmp_path / "out"


def test_a_hand_edited_entry_giving_full_marks_is_graded_again(graded_once, tmp_path, a1, settings):
    folder, out = fresh_copy(graded_once, tmp_path)
    before = rows(out)
    path = entry_path(out, "eve")
    entry = json.loads(path.read_text())
    for case in entry["result"]["cases"]:
        case.update(passed=True, reason="")
    entry["result"]["score"] = 48
    path.write_text(json.dumps(entry))
    again = grade_batch(a1, folder, out, settings)
    assert again.graded == ["eve"] and "not signed" in again.rejected["eve"]
    assert rows(out) == before and rows(out)["eve"][:2] == ["graded", "0"]


def test_an_entry_signed_by_another_grader_is_graded_again(graded_once, tmp_path, a1, settings):
    """Signed, with a sound schema, by a grader whose key is not this folder's (say, copied
    from a classmate's out dir where the student ran the kit with their own results)."""
    folder, out = fresh_copy(graded_once, tmp_path)
    path = entry_path(out, "jo")
    entry = json.loads(path.read_text())
    entry.pop("mac")
    for case in entry["result"]["cases"]:
        case.update(passed=True, reason="", points=next(c.points for c in a1.cases if c.case_id == case["case"]))
    entry["result"]["score"] = 48
    other = ResultCache(tmp_path / "other", b"k" * 32, CacheBinding("a1_softmax", "", a1.cases))
    path.write_text(json.dumps({**entry, "mac": other._sign(entry)}))
    again = grade_batch(a1, folder, out, settings)
    assert again.graded == ["jo"] and again.rejected["jo"] == "not signed by this grader"
    assert rows(out)["jo"][1] != "48"


def test_a_truncated_entry_is_graded_again_without_a_crash(graded_once, tmp_path, a1, settings):
    folder, out = fresh_copy(graded_once, tmp_path)
    before = rows(out)
    path = entry_path(out, "ada")
    path.write_bytes(path.read_bytes()[:200])
    again = grade_batch(a1, folder, out, settings)
    assert again.graded == ["ada"] and rows(out) == before


BREAKERS = {
    "a_case_removed": lambda e: e["result"]["cases"].pop(),
    "a_case_twice": lambda e: e["result"]["cases"].append(e["result"]["cases"][0]),
    "empty_result": lambda e: e.update(result={}),
    "unknown_status": lambda e: e["result"].update(status="excellent"),
    "grader_error_status": lambda e: e["result"].update(status=GRADER_ERROR),
    "points_not_its_verdict": lambda e: e["result"]["cases"][0].update(points=99),
    "score_not_the_sum": lambda e: e["result"].update(score=48),
    "verdict_not_a_bool": lambda e: e["result"]["cases"][0].update(passed="yes"),
    "seconds_not_a_number": lambda e: e["result"].update(seconds="fast"),
    "owner_not_an_object": lambda e: e.update(owner=[1]),
    "result_a_list": lambda e: e.update(result=[]),
}


@pytest.mark.parametrize("breaker", sorted(BREAKERS))
def test_a_signed_entry_that_breaks_the_schema_is_never_believed(graded_once, tmp_path, a1, breaker):
    _, out = fresh_copy(graded_once, tmp_path)
    cache = ResultCache(out / "cache", grader_key(out / "cache"), CacheBinding("a1_softmax", "", a1.cases))
    entry = json.loads(entry_path(out, "jo").read_text())
    entry.pop("mac")
    BREAKERS[breaker](entry)
    entry_path(out, "jo").write_text(json.dumps({**entry, "mac": cache._sign(entry)}))
    # The binding's fingerprint is the entry's own, so only the schema can refuse it.
    cache = ResultCache(out / "cache", cache.key, CacheBinding("a1_softmax", entry["fingerprint"], a1.cases))
    assert cache.load("jo", entry["content"]) is None
    assert cache.problems["jo"]


def test_a_signed_entry_missing_a_case_costs_no_row(graded_once, tmp_path, a1, settings):
    """The observed failure: one case removed made the row disappear (199 rows for 200)."""
    folder, out = fresh_copy(graded_once, tmp_path)
    before = rows(out)
    resign(out, a1, "ada", lambda e: e["result"]["cases"].pop())
    again = grade_batch(a1, folder, out, settings)
    assert again.graded == ["ada"] and rows(out) == before


def test_an_entry_of_another_assignment_or_student_is_not_used(graded_once, tmp_path, a1):
    _, out = fresh_copy(graded_once, tmp_path)
    key = grader_key(out / "cache")
    entry = json.loads(entry_path(out, "jo").read_text())
    ours = CacheBinding("a1_softmax", entry["fingerprint"], a1.cases)
    assert ResultCache(out / "cache", key, ours).load("jo", entry["content"]) is not None
    foreign = CacheBinding("a2_losses", entry["fingerprint"], a1.cases)
    assert ResultCache(out / "cache", key, foreign).load("jo", entry["content"]) is None
    assert ResultCache(out / "cache", key, ours).load("jo", "0" * 64) is None  # other content
    shutil.copy(entry_path(out, "jo"), entry_path(out, "ada"))  # jo's entry under ada's name
    assert ResultCache(out / "cache", key, ours).load("ada", entry["content"]) is None


def test_the_key_is_private_and_a_readable_key_is_replaced(tmp_path):
    key = grader_key(tmp_path)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and grader_key(tmp_path) == key
    path.chmod(0o644)  # anyone could have read it, so anyone could have signed entries
    assert grader_key(tmp_path) != key and stat.S_IMODE(path.stat().st_mode) == 0o600
    planted = tmp_path / "planted"
    planted.write_text("ab" * 32)
    planted.chmod(0o600)
    path.unlink()
    path.symlink_to(planted)  # a key someone else knows, through a link
    assert grader_key(tmp_path) != bytes.fromhex("ab" * 32) and not path.is_symlink()


def test_a_grader_error_is_never_cached(graded_once, tmp_path, a1):
    _, out = fresh_copy(graded_once, tmp_path)
    cache = ResultCache(out / "cache", grader_key(out / "cache"), CacheBinding("a1_softmax", "", a1.cases))
    entry = json.loads(entry_path(out, "jo").read_text())
    entry["result"]["status"] = GRADER_ERROR
    with pytest.raises(ValueError, match="never cached"):
        cache.store(entry)


# --- Killed at several moments, then resumed ----------------------------------------------

# Each snippet runs in the grading subprocess before the command, and kills it at one moment.
KILL_AT = {
    # between writing a cache entry's temporary file and renaming it (a torn write)
    "mid_cache_write": """
        import autograder.classroom.resume as m
        real_replace = m.os.replace
        def replace(src, dst):
            if str(src).endswith(".tmp") and "cache" in str(src):
                os.kill(os.getpid(), signal.SIGKILL)
            return real_replace(src, dst)
        m.os.replace = replace
    """,
    # after two submissions are cached, while the third is being graded
    "after_two_results": """
        import autograder.grading.pipeline as m
        real = m.grade_submission
        count = [0]
        def grade(path, **kw):
            count[0] += 1
            if count[0] == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(path, **kw)
        m.grade_submission = grade
    """,
    # inside the second sandbox run: the inputs folder (ag-in-) and the class folder exist
    "inside_the_sandbox": """
        import autograder.grading.grade as m
        real = m.run_runner
        count = [0]
        def run(inputs, settings, **kw):
            count[0] += 1
            if count[0] == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(inputs, settings, **kw)
        m.run_runner = run
    """,
    # everything graded, while the outputs are written
    "while_writing_outputs": """
        import autograder.classroom.batch as m
        real = m.report_html
        def report(*a, **kw):
            os.kill(os.getpid(), signal.SIGKILL)
        m.report_html = report
    """,
    # SIGTERM in the middle: handlers run, temporary folders go, exit 143
    "sigterm_mid_run": """
        import autograder.grading.pipeline as m
        real = m.grade_submission
        count = [0]
        def grade(path, **kw):
            count[0] += 1
            if count[0] == 2:
                os.kill(os.getpid(), signal.SIGTERM)
            return real(path, **kw)
        m.grade_submission = grade
    """,
}


def run_killed(snippet: str, folder, out) -> subprocess.CompletedProcess:
    code = "import os, signal, sys\n" + textwrap.dedent(snippet) + textwrap.dedent("""
        from autograder.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    return subprocess.run([sys.executable, "-c", code, "grade", "a1_softmax", str(folder), "--out", str(out),
                           "--jobs", "1"], capture_output=True, text=True, timeout=300, env=os.environ.copy())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from autograder.course.assignment import load_assignment

    base = tmp_path_factory.mktemp("reference")
    out = base / "out"
    grade_batch(load_assignment("a1_softmax"), make_class(base / "class"), out, SandboxSettings(isolation="auto"))
    return (out / "gradebook.csv").read_bytes()


@pytest.mark.parametrize("moment", sorted(KILL_AT))
def test_killed_at_any_moment_the_next_run_gives_the_same_gradebook(moment, tmp_path, private_tmp, a1,
                                                                    settings, uninterrupted):
    folder = make_class(tmp_path / "class")
    out = tmp_path / "out"
    killed = run_killed(KILL_AT[moment], folder, out)
    expected_rc = 143 if moment == "sigterm_mid_run" else -signal.SIGKILL
    assert killed.returncode == expected_rc, killed.stderr
    if moment == "inside_the_sandbox":
        left = sorted(p.name.split("-p")[0] for p in private_tmp.iterdir())
        assert left == ["ag-class", "ag-in"], left  # what the next run must sweep
    if moment == "sigterm_mid_run":
        assert not list(private_tmp.iterdir()), "SIGTERM left temporary folders behind"
    resumed = grade_batch(a1, folder, out, settings)
    assert (out / "gradebook.csv").read_bytes() == uninterrupted
    assert len(resumed.graded) + len(resumed.reused) == len(CLASS)
    assert not [p for p in out.rglob("*.tmp")], "a half-written file survived"
    assert not [p for p in private_tmp.iterdir() if p.name.startswith(PREFIX)], "temporary folders left"


def test_the_gradebook_grows_while_the_class_is_graded(tmp_path, a1, settings, monkeypatch):
    """A crash of the grader itself keeps the rows finished so far (rewritten every few results)."""
    import autograder.classroom.batch as batch_module
    import autograder.grading.pipeline as pipeline_module

    monkeypatch.setattr(batch_module, "GRADEBOOK_EVERY_RESULTS", 1)
    seen = []
    real = pipeline_module.grade_submission

    def grade(path, **kwargs):
        gradebook = tmp_path / "out" / "gradebook.csv"
        seen.append(len(rows(tmp_path / "out")) if gradebook.exists() else 0)
        return real(path, **kwargs)

    monkeypatch.setattr(pipeline_module, "grade_submission", grade)
    grade_batch(a1, make_class(tmp_path / "class"), tmp_path / "out", settings, jobs=1)
    assert seen == [0, 1, 2]
    assert sorted(p.name for p in (tmp_path / "out" / "feedback").iterdir()) == ["ada.txt", "eve.txt", "jo.txt"]
