"""The LMS exports pass the software that imports them: shared/tools/exam_consumers/validate.sh
runs the IMS QTI 2.1 schema and oat-sa/qti-sdk, Canvas's QTIMigrationTool and its converters
(transcribed), and Moodle's own qformat_xml importer and graders on a built exam.

The validator lives in the course's shared folder next to the kit's checkout
(``<repo>/../shared/tools/exam_consumers``); it installs php, ruby and lxml on first use
(apt and pip). Without that folder the tests skip, saying why.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from kit_paths import KIT

from autograder.exam.build import build_exam

EXAMPLES = KIT / "examples" / "exam"
VALIDATOR = KIT.parent / "shared" / "tools" / "exam_consumers" / "validate.sh"
SUMMARY = re.compile(r"exam consumers: (\d+) checks, (\d+) failures, (\d+) warnings")

pytestmark = pytest.mark.skipif(
    not VALIDATOR.is_file(),
    reason=f"the exam consumers validator is not at {VALIDATOR} (it comes with the course's shared/ folder, "
           "checked out next to the kit)")


def _roster(path: Path, students: int) -> Path:
    path.write_text("student_id,name\n" + "".join(f"s{i:04d},Student {i}\n" for i in range(students)),
                    encoding="utf-8")
    return path


def _validate(out: Path) -> str:
    run = subprocess.run(["bash", str(VALIDATOR), str(out)], capture_output=True, text=True, timeout=900)
    report = run.stdout + run.stderr
    summary = SUMMARY.search(report)
    assert summary, f"no summary line from the validator:\n{report[-3000:]}"
    failures = [line for line in report.splitlines() if line.startswith("FAIL")]
    assert run.returncode == 0 and summary.group(2) == "0" and not failures, "\n".join(failures) or report[-3000:]
    assert int(summary.group(1)) >= 12  # every consumer ran: qti21, canvas, moodle
    return report


BUILDS = {
    # name: (students, forms, instructor templates)
    "per_student_300": pytest.param((300, None, False), marks=pytest.mark.slow, id="per_student_300"),
    "forms": pytest.param((40, 3, False), id="forms"),
    "instructor_templates": pytest.param((6, None, True), id="instructor_templates"),
}


@pytest.mark.parametrize("build", BUILDS.values())
def test_exports_pass_the_real_consumers(build, tmp_path):
    """300 students (slow: ~35 s of validation on 2 cores), 3 forms, instructor templates."""
    students, forms, templates = build
    result = build_exam(roster=_roster(tmp_path / "roster.csv", students),
                        secret_file=EXAMPLES / "secret.example.txt", exam_id="consumers", out=tmp_path / "out",
                        forms=forms, templates_dir=EXAMPLES / "templates" if templates else None, pdf=False)
    assert len(result.exam.variants) == students
    report = _validate(tmp_path / "out")
    variants = forms or students
    assert f"canvas imported questions vs key.json ({variants * len(result.exam.templates)})" in report
