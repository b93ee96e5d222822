"""The Gradescope autograder zip, run as Gradescope runs it, in a temporary /autograder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from autograder.assignment import ASSIGNMENTS_DIR, KIT_ROOT, SOLUTIONS_DIR
from autograder.build import build_assignment
from autograder.cli import main as cli_main
from autograder.grade import grade_for_assignment
from autograder.gradescope import (
    CONFIG_NAME,
    VISIBILITIES,
    GradescopeOptions,
    pinned_requirements,
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
    source.mkdir(parents=True)
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
    pins = dict(line.split("==") for line in (tmp_path / "requirements.txt").read_text().split())
    assert pins["numpy"] == locked["numpy"] and pins["nbformat"] == locked["nbformat"]
    assert "torch" not in pins  # a1 is NumPy only


def test_pinned_requirements_follow_dependencies():
    pins = {canonicalize_name(r.split("==")[0]) for r in pinned_requirements(["nbformat"])}
    assert {"nbformat", "traitlets", "jsonschema", "fastjsonschema", "jupyter-core"} <= pins


def test_lock_lines_with_python_markers_are_kept(tmp_path):
    """A lock that pins one version per Python range (3.10 for Gradescope's Ubuntu 22.04
    image) keeps every range in requirements.txt, markers and all."""
    lock = tmp_path / "requirements.lock"
    lock.write_text('# pins\nnumpy==2.2.6; python_version < "3.11"\nnumpy==2.4.6; python_version >= "3.11"\n'
                    "nbformat==5.11.1\n")
    pins = pinned_requirements(["numpy"], lock=lock)
    assert pins == ['numpy==2.2.6; python_version < "3.11"', 'numpy==2.4.6; python_version >= "3.11"']


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
    assert [(t["score"], t["output"]) for t in results["tests"]] == [
        (r.points, r.reason) for r in core.case_results]
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


def test_build_command_passes_the_visibility_options(tmp_path, capsys):
    assert cli_main(["build", "a1_softmax", "--out", str(tmp_path), "--no-otter",
                     "--gradescope-visibility", "hidden", "--gradescope-score-visibility", "after_published"]) == 0
    archive = tmp_path / "a1_softmax" / "autograder" / "a1_softmax-gradescope.zip"
    assert str(archive) in capsys.readouterr().out
    with zipfile.ZipFile(archive) as zf:
        options = json.loads(zf.read(CONFIG_NAME))["options"]
    assert options["hidden_tests"] == "hidden" and options["score"] == "after_published"


@pytest.mark.slow
def test_a5_runs_on_gradescope_from_the_zip_alone(tmp_path):
    """The zip carries a5's student-side modules and the bundled photo excerpt: with no
    flowers copy on the machine, the reference notebook still earns full marks there."""
    from autograder.assignment import load_assignment

    a5 = load_assignment("a5_finetune")
    built = build_assignment(a5, tmp_path / "build", otter=False)
    with zipfile.ZipFile(built.gradescope_zip) as zf:
        names = set(zf.namelist())
    assert {"student/flowers.py", "student/backbones.py", "student/tv_compat.py"} <= names
    assert any(n.startswith("student/data/flowers102-mini/train/") for n in names)
    results, log = run_on_gradescope(tmp_path / "gs", built.gradescope_zip,
                                     SOLUTIONS_DIR / "a5_finetune" / "samples" / "amara.ipynb",
                                     AUTOGRADER_FLOWERS="")
    assert results["score"] == a5.max_score, log + json.dumps(results)[:2000]
