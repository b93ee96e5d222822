"""a5_finetune's GPU stage on a real GPU: the reference passes every GPU case, a mistake that
throws the pretrained weights away does not. Everything runs through the stage itself, so the
student's code (here the reference's) runs in the sandbox, never in this process.

    .venv/bin/python -m pytest -m gpu tests/assignments/test_a5_gpu.py                  # CUDA in the kit's python
    KIT_GPU_PYTHON=/opt/torch/.venv/bin/python3 .venv/bin/python -m pytest -m gpu tests/assignments/test_a5_gpu.py

Skipped where there is no NVIDIA device node, or where neither the kit's python nor
$KIT_GPU_PYTHON has CUDA (the stage's own self-test decides, inside the sandbox).
"""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")

from autograder.course.assignment import load_assignment  # noqa: E402
from autograder.grading import gpu_stage  # noqa: E402
from autograder.grading.grade import GRADED, SubmissionResult  # noqa: E402
from autograder.sandbox import SandboxSettings  # noqa: E402
from autograder.sandbox.gpu import discover  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not discover().usable, reason="needs an NVIDIA GPU (run on a GPU machine: pytest -m gpu)"),
]


@pytest.fixture(scope="module")
def stage():
    a5 = load_assignment("a5_finetune")
    options = gpu_stage.GpuOptions(enabled=True, python=os.environ.get(gpu_stage.PYTHON_ENV))
    built = gpu_stage.prepare(a5, options, SandboxSettings())
    if built.missing:
        pytest.skip(built.missing)
    return a5, built


def _grade(stage, tmp_path, source, name):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    result = SubmissionResult(name, str(path), GRADED)
    stage.grade_into(result, path)
    return {r.case.name: r for r in result.case_results}


def test_reference_passes_every_gpu_case(stage, tmp_path):
    a5, built = stage
    source = (a5.hidden_dir / "reference.py").read_text()
    results = _grade(built, tmp_path, source, "reference")
    assert all(r.passed for r in results.values()), {n: r.reason for n, r in results.items()}


def test_reinitialised_backbone_fails_the_top_flavour(stage, tmp_path):
    a5, built = stage
    mistake = next(m for m in a5.mistakes if m.name == "replace_head_reinit_everything")
    results = _grade(built, tmp_path, mistake.submission_source(a5.reference), "reinit")
    assert not results["gpu_top"].passed
