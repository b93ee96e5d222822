"""The GPU stage's grader side, on a machine without a GPU: "not run" rows and feedback, and
the verdicts on synthetic (and hostile) returned data. No sandbox is started here."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from autograder.cli import parser  # noqa: E402
from autograder.course.assignment import load_assignment  # noqa: E402
from autograder.grading import gpu_stage  # noqa: E402
from autograder.grading.grade import GRADED, SubmissionResult  # noqa: E402
from autograder.grading.result_data import result_from_json, result_to_json  # noqa: E402
from autograder.outputs.feedback import feedback_text  # noqa: E402
from autograder.outputs.gradebook import gradebook_text  # noqa: E402
from autograder.sandbox import SandboxSettings  # noqa: E402
from autograder.sandbox.gpu import GpuAccess  # noqa: E402
from autograder.sandbox.protocol import Record  # noqa: E402

NO_GPU = GpuAccess()  # what discover() finds on a machine without NVIDIA nodes


@pytest.fixture(scope="module")
def a5():
    return load_assignment("a5_finetune")


def _stage(a5, policy, access=NO_GPU, dry_run=False):
    options = gpu_stage.GpuOptions(enabled=True, missing=policy, dry_run=dry_run)
    return gpu_stage.prepare(a5, options, SandboxSettings(), access=access)


def _result(a5, stage):
    result = SubmissionResult("ada", "ada.py", GRADED)
    result.case_results = []  # the CPU cases are not needed to show the stage's rows
    gpu_stage.grade_into(stage, result, None)
    return result


def test_cli_takes_the_stage_options(monkeypatch):
    monkeypatch.delenv(gpu_stage.PYTHON_ENV, raising=False)
    args = parser().parse_args(["grade", "a5_finetune", "subs", "--out", "o", "--gpu",
                                "--gpu-missing", "zero", "--gpu-python", "/opt/py"])
    assert gpu_stage.options_from_args(args) == gpu_stage.GpuOptions(True, "/opt/py", "zero", False)
    plain = gpu_stage.options_from_args(parser().parse_args(["grade", "a5_finetune", "s", "--out", "o"]))
    assert not plain.enabled
    monkeypatch.setenv(gpu_stage.PYTHON_ENV, "/env/python")
    assert gpu_stage.options_from_args(parser().parse_args(
        ["grade", "a5_finetune", "s", "--out", "o", "--gpu"])).python == "/env/python"
    with pytest.raises(SystemExit):
        parser().parse_args(["grade", "a5_finetune", "s", "--out", "o", "--gpu-missing", "maybe"])


def test_no_stage_unless_asked(a5):
    assert gpu_stage.prepare(a5, gpu_stage.GpuOptions(), SandboxSettings()) is None
    options = gpu_stage.GpuOptions(enabled=True)
    assert gpu_stage.prepare(a5, options, SandboxSettings(), public_only=True, access=NO_GPU) is None


def test_skip_leaves_the_cases_out_of_the_total_and_says_not_run(a5):
    stage = _stage(a5, "skip")
    assert stage.missing.startswith("no GPU: this machine has no /dev/nvidia*")
    assert stage.counted == () and "NOT RUN" in stage.describe()
    result = _result(a5, stage)
    assert result.case_results == []
    assert any(m.startswith("not run: no GPU") and "6 points" in m for m in result.messages)
    cpu_total = a5.max_score
    row = gradebook_text([result], a5.questions, cpu_total + sum(c.points for c in stage.counted))
    assert row.splitlines()[1].split(",")[:4] == ["ada", "graded", "0", f"{cpu_total:g}"]
    text = feedback_text(result, title="a5", questions=a5.questions,
                         question_points=dict.fromkeys(a5.questions, 0.0))
    assert "not run: no GPU" in text


def test_zero_counts_the_cases_as_not_run_with_zero_points(a5):
    stage = _stage(a5, "zero")
    assert [c.case_id for c in stage.counted] == [
        "train_one_epoch/gpu_top", "train_one_epoch/gpu_top_k", "train_one_epoch/gpu_all"]
    result = _result(a5, stage)
    assert result.score == 0 and len(result.case_results) == 3
    assert all(r.reason.startswith("not run: no GPU") for r in result.case_results)
    points = {q: 0.0 for q in a5.questions} | {"train_one_epoch": 6.0}
    text = feedback_text(result, title="a5", questions=a5.questions, question_points=points)
    assert text.count("-> not run: no GPU") == 3
    # The cache round trip keeps them (every counted case once).
    again = result_from_json(result_to_json(result), stage.counted)
    assert [r.reason for r in again.case_results] == [r.reason for r in result.case_results]


def test_fail_refuses_to_grade(a5):
    with pytest.raises(gpu_stage.GpuUnavailable, match="no GPU"):
        _stage(a5, "fail")


def test_fingerprint_differs_with_the_stage(a5):
    skip, zero = _stage(a5, "skip"), _stage(a5, "zero")
    assert gpu_stage.fingerprint(None, "base") == "base"
    assert len({skip.fingerprint("base"), zero.fingerprint("base"), "base"}) == 3


def test_invalid_submission_still_gets_every_counted_case(a5):
    stage = _stage(a5, "zero")
    result = SubmissionResult("ivan", "ivan.ipynb", "invalid_submission")
    gpu_stage.grade_into(stage, result, None)
    assert [r.case.case_id for r in result.case_results] == [c.case_id for c in stage.counted]


# ---------------------------------------------------------------- verdicts

def _record(*arrays, error=None):
    meta = {"kind": "call", "id": "c0000", "n_results": len(arrays), "tuple": len(arrays) > 1}
    if error:
        meta = {"kind": "call", "id": "c0000", "error": error}
    return Record(meta, {f"r{i}": a for i, a in enumerate(arrays)})


def _passing_check(case, got, min_accuracy, per_class):
    return None, {"accuracy": 0.9}


@pytest.fixture(scope="module")
def case(a5):
    return next(c for c in _stage(a5, "skip").cases if c.name == "gpu_top")


def test_judge_passes_good_data_within_the_budget(case):
    result, figures = gpu_stage.judge(case, _record(np.zeros(2)), gpu_stage.RunFacts(seconds=10.0),
                                      _passing_check, 0.5, 60.0)
    assert result.passed and figures["accuracy"] == 0.9 and figures["seconds"] == 10.0


@pytest.mark.parametrize("facts, record, words", [
    (gpu_stage.RunFacts(seconds=61.0), _record(np.zeros(2)), "time budget"),
    (gpu_stage.RunFacts(seconds=5.0, timed_out=True), None, "time limit"),
    (gpu_stage.RunFacts(seconds=5.0, tampered=True), _record(np.zeros(2)), "tampered"),
    (gpu_stage.RunFacts(seconds=5.0, memory_exceeded=True), None, "out of memory"),
    (gpu_stage.RunFacts(seconds=5.0), None, "no result"),
    (gpu_stage.RunFacts(seconds=5.0), _record(error={"type": "EvilError", "message": "0.123 secret"}),
     "raised an exception"),
    (gpu_stage.RunFacts(seconds=5.0), _record(error={"type": "NotImplementedError"}), "not implemented"),
])
def test_judge_fails_what_the_grader_measures_or_sees(case, facts, record, words):
    result, _ = gpu_stage.judge(case, record, facts, _passing_check, 0.5, 60.0)
    assert not result.passed and words in result.reason
    assert "secret" not in result.reason and "EvilError" not in result.reason


def test_judge_survives_a_check_that_breaks(case):
    def broken(*args):
        raise IndexError("shape")

    result, _ = gpu_stage.judge(case, _record(np.zeros(2)), gpu_stage.RunFacts(1.0), broken, 0.5, 60.0)
    assert not result.passed and "cannot judge" in result.reason


@pytest.fixture(scope="module")
def honest(a5):
    """What an honest dry-run 'top' case returns, built here from the pretrained model itself
    (the head as initialised: no training, so its accuracy is near chance)."""
    checks = a5.checks
    stage = _stage(a5, "skip", dry_run=True)
    case = next(c for c in stage.cases if c.name == "gpu_top")
    model = checks._pretrained_with_head(int(case.kwargs["classes"]))
    state = checks.gpu_expected_state(model, "top", 1)
    values = np.concatenate([t.detach().numpy().ravel() for _, t in state]).astype(np.float32)
    sizes = np.array([t.numel() for _, t in state], dtype=np.int64)
    claims = np.frombuffer(b"params cpu\nbatches cpu", dtype=np.uint8).copy()
    figures = np.array([1.0, 0.5, 0.0])
    return checks, case, [values, sizes, claims, figures]


def test_accuracy_is_measured_here_against_the_threshold(honest):
    checks, case, got = honest
    problem, figures = checks.gpu_finetune_accuracy(case, tuple(got), 0.0, 10)
    assert problem is None and 0.0 <= figures["accuracy"] <= 1.0
    problem, _ = checks.gpu_finetune_accuracy(case, tuple(got), 1.01, 10)
    assert "below the threshold" in problem


def _with(got, index, value):
    changed = list(got)
    changed[index] = value
    return tuple(changed)


@pytest.mark.parametrize("index, make, words", [
    (0, lambda v: np.full_like(v, np.nan), "NaN"),
    (0, lambda v: v[:-1], "wrong size"),
    (0, lambda v: np.zeros(50_000_000, np.float32)[:1], "wrong size"),
    (0, lambda v: v.astype(np.int64), "wrong size or type"),
    (0, lambda v: v.reshape(1, -1), "wrong size"),
    (1, lambda s: s[:-1], "expected layers"),
    (1, lambda s: s + 1, "expected layers"),
    (1, lambda s: s.astype(np.float64), "expected layers"),
    (2, lambda c: np.frombuffer(b"params cuda\nbatches cpu", np.uint8).copy(), "device"),
    (2, lambda c: np.frombuffer(b"params cpu,cuda\nbatches cpu", np.uint8).copy(), "device"),
    (2, lambda c: np.frombuffer(b"params cpu\nparams cpu", np.uint8).copy(), "device"),
    (2, lambda c: np.frombuffer(b"batches cpu", np.uint8).copy(), "device"),
    (2, lambda c: c.astype(np.int64), "device"),
    (2, lambda c: np.zeros(10_000, np.uint8), "device"),
])
def test_hostile_returned_data_fails(honest, index, make, words):
    checks, case, got = honest
    problem, _ = checks.gpu_finetune_accuracy(case, _with(got, index, make(got[index])), 0.0, 10)
    assert problem is not None and words in problem


def test_wrong_number_of_outputs_fails(honest):
    checks, case, got = honest
    problem, _ = checks.gpu_finetune_accuracy(case, tuple(got[:3]), 0.0, 10)
    assert "did not return" in problem


def test_lying_claims_cannot_buy_the_time_budget(honest):
    """The device claim says cuda and the run says it took 1 s, but the grader measured 500 s."""
    checks, case, got = honest
    gpu_case = type(case)(**{**case.__dict__, "kwargs": {**case.kwargs, "device": "cuda"}})
    lying = _with(got, 2, np.frombuffer(b"params cuda\nbatches cuda", np.uint8).copy())

    def check(c, g, m, p):
        return checks.gpu_finetune_accuracy(c, g, m, p)

    result, figures = gpu_stage.judge(gpu_case, _record(*lying), gpu_stage.RunFacts(seconds=500.0),
                                      check, 0.0, 180.0)
    assert not result.passed and "time budget" in result.reason
    assert figures["claimed_seconds"] == 1.0 and figures["seconds"] == 500.0


def test_probe_and_grader_agree_on_the_returned_tensors(a5):
    """probes.gpu_state(gpu_layers(...)) and checks.gpu_expected_state name the same tensors."""
    probes, checks = a5.probes, a5.checks
    model = checks._pretrained_with_head(10)
    for flavour, k in (("top", 1), ("top_k", 3), ("all", 1)):
        inside = [t for _, t in probes.gpu_state(probes.gpu_layers(model, flavour, k))]
        outside = [t for _, t in checks.gpu_expected_state(model, flavour, k)]
        assert len(inside) == len(outside) and all(a is b for a, b in zip(inside, outside, strict=True))
    everything = sum(t.numel() for _, t in checks.gpu_expected_state(model, "all", 1))
    limits = _stage(a5, "skip").settings.resolved_limits()
    assert everything * 4 < limits.result_bytes / 2  # the largest honest result fits the budget


def test_thresholds_follow_the_reference_minus_the_margin():
    from autograder.kit_folders import SOLUTIONS_DIR

    a5 = load_assignment(SOLUTIONS_DIR / "a5_finetune")
    spec = a5.spec
    for flavour, reference in spec.GPU_REFERENCE_ACCURACY.items():
        assert spec.gpu_min_accuracy(flavour, False) == pytest.approx(reference - spec.GPU_MARGIN)
    assert spec.gpu_min_accuracy("all", True) == spec.GPU_DRY_RUN_MIN_ACCURACY


def test_self_test_runs_the_real_sandbox_with_the_gpu_binds(a5, tmp_path):
    """Fake nodes and a fake libcuda pass the on-disk checks, so the stage starts its sandboxed
    self-test with the GPU binds; the kit's CPU torch then says CUDA is not there, and the
    cases are "not run" with that reason (never scored as the student's failure)."""
    import os

    from autograder.sandbox.gpu import discover

    dev, libs = tmp_path / "dev", tmp_path / "lib"
    dev.mkdir()
    libs.mkdir()
    (dev / "nvidia0").write_text("")
    (dev / "nvidiactl").write_text("")
    (libs / "libcuda.so.1").write_text("")
    access = discover(str(dev), [str(libs)], ldconfig_text="", is_device=os.path.isfile)
    stage = _stage(a5, "skip", access=access)
    if stage.missing and "/dev/nvidia" not in stage.missing and "CUDA" not in stage.missing:
        pytest.skip(stage.missing)  # e.g. no full flowers copy on this machine
    assert stage.missing.startswith("no GPU: CUDA is not available inside the sandbox"), stage.missing
    assert stage.counted == ()


def test_a_stalled_case_stops_the_submissions_other_gpu_runs(a5, monkeypatch, tmp_path):
    """A submission that runs into the wall-clock limit holds the GPU once, not once per case."""
    stage = _stage(a5, "skip")
    stage.missing = None  # as if the GPU were there; the runs themselves are faked below
    runs = []

    def fake_run(code, case, worker):
        runs.append(case.name)
        facts = gpu_stage.RunFacts(seconds=300.0, timed_out=True)
        verdict, figures = gpu_stage.judge(case, None, facts, _passing_check, 0.5, 180.0)
        return verdict, figures, "fake isolation"

    monkeypatch.setattr(stage, "_run_case", fake_run)
    path = tmp_path / "loop.py"
    path.write_text("def train_one_epoch(*a):\n    while True:\n        pass\n")
    result = SubmissionResult("loop", str(path), GRADED)
    stage.grade_into(result, path)
    assert runs == ["gpu_top"]
    assert [r.reason for r in result.case_results][1:] == [gpu_stage.STALLED_REASON] * 2
    assert "time limit" in result.case_results[0].reason


def test_the_shortcut_through_cached_block_outputs_scores_like_the_whole_network(a5):
    """"top"/"top_k" are scored from the blocks' output computed once; its logits must agree
    with the whole network's, and "all" (whose body came back changed) never takes it."""
    import torch

    checks = a5.checks
    model = checks._pretrained_with_head(10)
    torch.manual_seed(3)
    with torch.no_grad():
        for tensor in (model._fc.weight, model._conv_head.weight):
            tensor.add_(torch.randn_like(tensor) * 0.05)
    top_k = {id(t) for _, t in checks.gpu_expected_state(model, "top_k", 3)}
    everything = {id(t) for _, t in checks.gpu_expected_state(model, "all", 1)}
    checks._BLOCK_OUTPUTS.clear()
    whole = checks.validation_accuracy(model, everything, 10, 32, 1)
    assert not checks._BLOCK_OUTPUTS  # "all": the whole network, no cache
    assert checks.validation_accuracy(model, top_k, 10, 32, 1) == whole
    z = checks._BLOCK_OUTPUTS[(10, 32, 1, "cpu")]
    x, _ = checks._validation(10, 32, 1)
    with torch.no_grad():
        assert torch.allclose(checks._top_part(model, z), model(x), rtol=1e-4, atol=1e-5)
