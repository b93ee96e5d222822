"""The TA's report and the recognition of common mistakes (autograder/grading/diagnose.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from autograder.classroom.batch import grade_batch
from autograder.grading.diagnose import Diagnoser
from autograder.kit_folders import SOLUTIONS_DIR
from autograder.outputs.report import SECTIONS
from autograder.sandbox import SandboxSettings

SAMPLES = SOLUTIONS_DIR / "a1_softmax" / "samples"


def test_each_mistake_profile_matches_itself_and_nothing_else(a1):
    diagnoser = Diagnoser.for_assignment(a1)
    assert {p.mistake.name for p in diagnoser.profiles} == {m.name for m in a1.mistakes}
    for profile in diagnoser.profiles:
        passed = {c.case_id: True for c in a1.cases} | profile.passed
        assert [m.name for m in diagnoser.match(passed, profile.outputs)] == [profile.mistake.name]


def test_the_reference_and_a_crash_show_no_mistake(a1):
    diagnoser = Diagnoser.for_assignment(a1)
    everything = {c.case_id: True for c in a1.cases}
    assert diagnoser.match(everything, {cid: tuple(v) for cid, v in a1.expected.items()}) == []
    nothing = {c.case_id: False for c in a1.cases}
    assert diagnoser.match(nothing, {}) == []


def test_same_failures_but_different_wrong_values_is_not_the_mistake(a1):
    """Rule 3: failing the same cases is not enough, the wrong values must be the mistake's."""
    diagnoser = Diagnoser.for_assignment(a1)
    profile = next(p for p in diagnoser.profiles if p.mistake.name == "ignores_threshold")
    passed = {c.case_id: True for c in a1.cases} | profile.passed
    outputs = dict(profile.outputs)
    (cid,) = profile.differs
    outputs[cid] = tuple(1 - o for o in outputs[cid])
    assert diagnoser.match(passed, outputs) == []


@pytest.fixture(scope="module")
def mistakes_graded(tmp_path_factory, a1):
    """Every a1 mistake as a submission (the reference with that one function wrong)."""
    folder = tmp_path_factory.mktemp("mistakes")
    for mistake in a1.mistakes:
        (folder / f"{mistake.name}.py").write_text(mistake.submission_source(a1.reference))
    shutil.copy(SOLUTIONS_DIR / "a1_softmax" / "reference.py", folder / "reference.py")
    for name in ("ben.ipynb", "ivan.ipynb", "jo.py"):
        shutil.copy(SAMPLES / name, folder / name)
    out = tmp_path_factory.mktemp("report")
    return grade_batch(a1, folder, out, SandboxSettings(isolation="auto"), jobs=2)


def test_every_mistake_submission_is_recognised_as_exactly_its_mistake(mistakes_graded, a1):
    data = json.loads((mistakes_graded.out_dir / "results.json").read_text())
    found = {s["submission"]: s["mistakes"] for s in data["submissions"]}
    for mistake in a1.mistakes:
        assert found[mistake.name] == {mistake.question: [mistake.name]}, mistake.name
    assert found["reference"] == {} and found["jo"] == {} and found["ivan"] == {}
    assert found["ben"] == {"softmax": ["unstable_softmax"], "predict_multilabel": ["threshold_greater_equal"]}


@pytest.mark.slow
def test_feedback_names_the_recognised_mistake(mistakes_graded, a1):
    text = (mistakes_graded.feedback_dir / "ties_to_last_index.txt").read_text()
    mistake = next(m for m in a1.mistakes if m.name == "ties_to_last_index")
    assert f"Your outputs match the common mistake: {mistake.description}" in text
    assert "common mistake" not in (mistakes_graded.feedback_dir / "reference.txt").read_text()


@pytest.mark.slow
def test_report_has_every_section_counts_and_no_external_resources(mistakes_graded):
    page = mistakes_graded.report.read_text()
    for key, heading in SECTIONS:
        assert f"<section id='{key}'><h2>{heading}</h2>" in page
    assert page.count("<svg") >= 3  # histogram, per-question bars, pass-rate bars
    row = re.search(r"<tr><td>unstable_softmax</td><td>softmax</td><td>[^<]*</td><td class='num'>(\d+)</td>",
                    page)
    assert row and row.group(1) == "2"  # the mistake's own submission and ben
    assert "invalid_submission" in page and "syntax_error" in page
    assert "<script" not in page and not re.search(r"(src|href)=['\"](https?:|//)", page)
    assert "hidden</td>" in page and "public</td>" in page


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_report_renders_in_a_headless_browser(mistakes_graded, tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is required in CI (./kit setup installs it with apt-get)")
        pytest.skip("chromium is not installed (./kit setup installs it); CI runs this test")
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
               "--dump-dom", mistakes_graded.report.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    for key, heading in SECTIONS:
        assert re.search(rf'<section id="{key}"><h2>{re.escape(heading)}</h2>', dom), key
    assert dom.count("<svg") >= 3 and "unstable_softmax" in dom
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
