"""The GPU stage: a real finetune of each submission on a GPU, in the same sandbox, judged here.

    autograder grade a5_finetune SUBMISSIONS --out DIR --gpu [--gpu-python PATH]
                     [--gpu-missing skip|zero|fail] [--gpu-dry-run]

    prepare (once per batch): the assignment's GPU cases (spec.gpu_cases), this machine's GPU
    (sandbox.gpu.discover), the GPU python's layout, then one sandboxed self-test: is CUDA
    usable INSIDE the sandbox?  ->  per submission, per case: one sandboxed run with the
    device nodes and driver libraries bound in (nothing else added), its raw data back
    through the protocol, and the verdict here: checks.<case.check> on the returned tensors
    (accuracy on photos only the grader holds, the device claim) and the time budget,
    measured by this process around the whole run.

What the grader trusts: the accuracy it computes itself from the returned weights, and the
seconds it measures. The devices the sandbox reports the tensors and batches were on are a
claim (the submission can forge them); the budget is what makes a run that never used the
GPU fail, because the recipe takes tens of minutes on a CPU. One GPU run at a time (a lock),
so that the measured seconds are the submission's own and comparable.

Without a usable GPU (no /dev/nvidia*, no libcuda, or CUDA unusable in the sandbox with the
GPU python), or without the photos the recipe needs, the cases are "not run", and the
instructor's ``--gpu-missing`` decides how they count:

- ``skip`` (default): not counted: their points leave every row's ``max_score`` and total
  (the gradebook's columns stay as the contract fixes them); each feedback file says
  "not run: no GPU" and why, in its messages.
- ``zero``: counted as failed cases (0 points) with the reason "not run: no GPU ...".
- ``fail``: the command refuses to grade (exit 2) and says why.

Instructor-facing figures (accuracy, threshold, seconds, budget, claims, isolation) go to
``DIR/gpu_stage.json``; students see only the kit's words.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..course.cases import Case
from ..course.probes_and_checks import ProbesAndChecks
from ..machine.files import write_atomic
from ..machine.tempdirs import kit_tempdir
from ..sandbox import SandboxSettings, run_runner
from ..sandbox import gpu as gpu_access
from ..sandbox.isolation import PythonLayout
from ..sandbox.protocol import read_stream
from . import submission as submissions
from .evaluate import CaseResult, returned_arrays
from .redact import raised

MISSING_POLICIES = ("skip", "zero", "fail")
PYTHON_ENV = "KIT_GPU_PYTHON"
REPORT_NAME = "gpu_stage.json"
STALLED_REASON = "not run: an earlier GPU case of this submission did not finish within the time limit"
_SELF_TEST_CELL = "def replace_head(model, num_classes):\n    return model\n"


@dataclass(frozen=True)
class GpuOptions:
    """enabled: run the stage (``--gpu``); python: the interpreter with CUDA torch the sandbox
    runs (``--gpu-python`` or $KIT_GPU_PYTHON; None: the kit's own); missing: how cases
    that cannot run count (see the module doc); dry_run: the assignment's tiny CPU recipe,
    to test the stage on a machine without a GPU (its scores mean nothing)."""

    enabled: bool = False
    python: str | None = None
    missing: str = "skip"
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.missing not in MISSING_POLICIES:
            raise ValueError(f"--gpu-missing must be one of {', '.join(MISSING_POLICIES)}, not {self.missing!r}")


def add_grade_options(parser) -> None:
    """The options of `autograder grade` for this stage."""
    parser.add_argument("--gpu", action="store_true",
                        help="also run the assignment's GPU cases (a5: a real finetune of each submission "
                             "on the GPU, in the same sandbox); see --gpu-missing")
    parser.add_argument("--gpu-python", metavar="PATH", default=None,
                        help=f"interpreter with CUDA torch for the GPU cases (default: ${PYTHON_ENV}, "
                             "else the kit's own); its prefix and site folders are bound read-only")
    parser.add_argument("--gpu-missing", choices=MISSING_POLICIES, default="skip",
                        help="without a usable GPU: skip (default: not run, points left out of the "
                             "total), zero (not run, 0 points) or fail (refuse to grade)")
    parser.add_argument("--gpu-dry-run", action="store_true",
                        help="run the GPU stage on the CPU with a tiny recipe, to test it on a machine "
                             "without a GPU (its points mean nothing)")


def options_from_args(args) -> GpuOptions:
    enabled = bool(getattr(args, "gpu", False) or getattr(args, "gpu_dry_run", False))
    python = getattr(args, "gpu_python", None) or os.environ.get(PYTHON_ENV) or None
    return GpuOptions(enabled=enabled, python=python, missing=getattr(args, "gpu_missing", "skip"),
                      dry_run=bool(getattr(args, "gpu_dry_run", False)))


class GpuUnavailable(ValueError):
    """--gpu-missing=fail, and the GPU cases cannot run here."""


@dataclass(frozen=True)
class RunFacts:
    """What the grader itself knows about one sandboxed run (never the sandbox's word)."""

    seconds: float
    timed_out: bool = False
    memory_exceeded: bool = False
    tampered: bool = False
    problem: str | None = None  # the protocol's reason the stream stopped early


def judge(case: Case, record, facts: RunFacts, check, min_accuracy: float, budget_seconds: float,
          validation_per_class: int = 0) -> tuple[CaseResult, dict]:
    """One GPU case's verdict from the run's record (untrusted) and the grader's own facts.

    ``check(case, got, min_accuracy, validation_per_class) -> (problem, figures)`` is the
    assignment's judge of the returned data. Returns (result, figures for the instructor)."""
    figures = {"seconds": round(facts.seconds, 3), "budget_seconds": budget_seconds,
               "min_accuracy": min_accuracy, "timed_out": facts.timed_out}

    def failed(reason):
        return CaseResult(case, False, reason), figures

    if facts.tampered:
        return failed("not graded: the result stream of the GPU run was tampered with")
    if facts.memory_exceeded:
        return failed("the GPU finetune ran out of memory (its processes used more than allowed)")
    if facts.timed_out:
        return failed("the GPU finetune was stopped: it did not finish within the time limit")
    if record is None:
        return failed("no result: the GPU run ended before the finetune finished")
    error = record.meta.get("error")
    if isinstance(error, dict):
        if error.get("missing"):
            return failed("a function this test needs is not defined in the submission")
        if error.get("type") == "NotImplementedError":
            return failed("not implemented yet (raised NotImplementedError)")
        return failed(f"the GPU finetune {raised(error.get('type'))}")
    got = returned_arrays(record)
    if got is None:
        return failed("the GPU finetune returned nothing usable")
    try:
        problem, found = check(case, got, min_accuracy, validation_per_class)
    except Exception:  # noqa: BLE001 - any array of any shape may arrive
        return failed("the GPU finetune returned data the grader cannot judge")
    figures.update(found)
    if problem:
        return failed(problem)
    if facts.seconds > budget_seconds:
        return failed("the GPU finetune took longer than its time budget (is the model really on the GPU?)")
    return CaseResult(case, True, ""), figures


def not_run(case: Case, reason: str) -> CaseResult:
    return CaseResult(case, False, f"not run: {reason} (counted as 0: --gpu-missing=zero)")


@dataclass
class GpuStage:
    """Everything one batch needs to run and judge the GPU cases (built by ``prepare``)."""

    cases: tuple[Case, ...]
    missing_policy: str
    missing: str | None  # why the cases cannot run here; None: they run
    dry_run: bool
    settings: SandboxSettings
    probes_and_checks: ProbesAndChecks
    layout: PythonLayout
    access: gpu_access.GpuAccess | None
    min_accuracy: dict[str, float]
    budget_seconds: float
    validation_per_class: int
    environment: str = ""  # the GPU and torch the self-test saw inside the sandbox
    isolation: str = ""  # how the self-test's run was confined (RunOutcome.isolation)
    out_dir: Path | None = None
    report: dict = field(default_factory=dict)
    _gpu_lock: threading.Lock = field(default_factory=threading.Lock)
    _report_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def counted(self) -> tuple[Case, ...]:
        """The cases that count in the gradebook: all of them, except under skip when not run."""
        return () if self.missing and self.missing_policy == "skip" else self.cases

    def describe(self) -> str:
        mode = "dry run on the CPU (tiny recipe; scores mean nothing)" if self.dry_run else "GPU"
        if self.missing:
            return (f"gpu stage: NOT RUN ({self.missing}); {len(self.cases)} case(s) "
                    f"{'left out of the total' if self.missing_policy == 'skip' else 'scored 0'} "
                    f"(--gpu-missing={self.missing_policy})")
        where = f"{self.environment} ({self.isolation})" if self.environment else "cpu"
        return f"gpu stage: {mode}, {len(self.cases)} case(s), {where}, python {self.layout.executable}"

    def fingerprint(self, base: str) -> str:
        """The cache key of a batch with this stage: the CPU tests' and everything here."""
        digest = hashlib.sha256(base.encode())
        digest.update(repr((self.missing_policy, self.missing, self.dry_run, self.cases,
                            sorted(self.min_accuracy.items()), self.budget_seconds,
                            self.settings.resolved_limits(), str(self.layout), self.access,
                            self.environment)).encode())
        return digest.hexdigest()

    # --- per submission ----------------------------------------------------------------

    def grade_into(self, result, path: Path, worker: int = 0) -> None:
        """Append this stage's case results to ``result`` (a ``grade.SubmissionResult``)."""
        if self.missing:
            points = sum(c.points for c in self.cases)
            if self.missing_policy == "zero":
                result.case_results.extend(not_run(c, self.missing) for c in self.cases)
            else:
                result.messages.append(f"not run: {self.missing}: the {len(self.cases)} GPU test(s) "
                                       f"({points:g} points) are not part of your total")
            self._record(result.submission, [{"case": c.case_id, "passed": False, "reason": "not run"}
                                             for c in self.cases])
            return
        try:
            code = submissions.load(path)
        except submissions.InvalidSubmission:
            result.case_results.extend(CaseResult(c, False, "not graded: the submission could not be read")
                                       for c in self.cases)
            return
        rows = []
        isolation, stalled = "", False
        for case in self.cases:
            if stalled:  # one submission holds the GPU for one wall-clock limit at most
                case_result, figures = CaseResult(case, False, STALLED_REASON), {}
            else:
                case_result, figures, isolation = self._run_case(code, case, worker)
                stalled = figures.get("timed_out", False)
            result.case_results.append(case_result)
            rows.append({"case": case.case_id, "passed": case_result.passed, "reason": case_result.reason,
                         **figures})
        if isolation:
            result.isolation = f"{result.isolation}; gpu stage: {isolation}" if result.isolation else isolation
        self._record(result.submission, rows)

    def _run_case(self, code, case: Case, worker: int):
        from .grade import CallPlan

        plan = CallPlan.for_cases((case,), self.probes_and_checks)
        outcome = self._sandboxed(code.cells, code.module_name, plan, worker)
        stream = read_stream(outcome.results, plan.call_ids,
                             budget=self.settings.resolved_limits().result_bytes)
        facts = RunFacts(seconds=outcome.wall_seconds, timed_out=outcome.timed_out or outcome.cpu_limited,
                         memory_exceeded=outcome.memory_exceeded, tampered=stream.tampered,
                         problem=stream.problem)
        check = self.probes_and_checks.checks[case.check]
        flavour = str(case.kwargs.get("flavour"))
        verdict, figures = judge(case, stream.calls.get(plan.call_ids[0]), facts, check,
                                 self.min_accuracy[flavour], self.budget_seconds, self.validation_per_class)
        return verdict, figures, outcome.isolation

    def _sandboxed(self, cells, module_name, plan, worker):
        from .grade import write_inputs

        with self._gpu_lock, kit_tempdir("gpuin") as tmp:
            inputs = Path(tmp)
            write_inputs(inputs, cells, module_name, plan)
            return run_runner(inputs, self.settings, worker=worker, mounts=self.probes_and_checks.mounts,
                              gpu=self.access, layout=self.layout)

    def _record(self, submission: str, rows: list[dict]) -> None:
        with self._report_lock:
            self.report[submission] = rows
            if self.out_dir is not None:
                write_report(self, self.out_dir)

    def self_test(self) -> str | None:
        """Run ``probes.gpu_environment`` in the sandbox with a stub submission: None when
        CUDA is usable in there, else why not (in words)."""
        from .grade import CallPlan

        probe = Case("replace_head", "gpu_environment", "is CUDA usable in the sandbox", (), {},
                     probe="gpu_environment")
        plan = CallPlan.for_cases((probe,), self.probes_and_checks)
        outcome = self._sandboxed([_SELF_TEST_CELL], "submission", plan, 0)
        stream = read_stream(outcome.results, plan.call_ids, budget=1 << 20)
        got = returned_arrays(stream.calls.get(plan.call_ids[0]))
        self.isolation = outcome.isolation
        if got is None or len(got) != 2 or got[0].shape != (2,):
            tail = " ".join(outcome.log.strip().splitlines()[-3:])[-300:]
            return f"no GPU: the GPU python could not start CUDA inside the sandbox ({tail or 'no output'})"
        device, torch_version, why = (bytes(got[1].astype("uint8")).decode("utf-8", "replace")
                                      .split("\n") + ["", "", ""])[:3]
        if not int(got[0][0]):
            return f"no GPU: CUDA is not available inside the sandbox (torch {torch_version}; {why or 'no reason given'})"
        self.environment = f"{device}, torch {torch_version}"  # part of the cache key: no uid in it
        self.isolation = outcome.isolation
        return None


def machine_problem(access: gpu_access.GpuAccess) -> str | None:
    """Why this machine has no GPU for the sandbox, from what is on disk (None: it may)."""
    if not access.device_nodes:
        return "no GPU: this machine has no /dev/nvidia* device nodes"
    if not access.usable:
        return "no GPU: the NVIDIA driver library libcuda.so was not found (ldconfig -p, /usr/lib, /usr/local/nvidia)"
    return None


def prepare(assignment, options: GpuOptions, settings: SandboxSettings, *, out_dir: Path | None = None,
            public_only: bool = False, access: gpu_access.GpuAccess | None = None) -> GpuStage | None:
    """The stage for one batch, or None (not asked for, public-only, or no GPU cases).

    ``access``: the GPU to use (tests pass a fake one); default: this machine's. Raises
    ``GpuUnavailable`` under ``--gpu-missing=fail`` when the cases cannot run."""
    if not options.enabled or public_only:
        return None
    spec = assignment.spec
    if not hasattr(spec, "gpu_cases"):
        return None
    dry = options.dry_run
    cases = tuple(spec.gpu_cases(dry))
    missing = spec.gpu_data_problem(dry) if hasattr(spec, "gpu_data_problem") else None
    layout = gpu_access.python_layout(options.python) if options.python else PythonLayout.current()
    if not dry:  # no GPU is the headline; missing photos the second reason
        access = access if access is not None else gpu_access.discover()
        missing = machine_problem(access) or missing
    else:
        access = None
    # The assignment's import paths (its shared_with_grader view) and the recipe's photos.
    shared = tuple((name, folder) for name, folder in assignment.mounts if name in assignment.import_paths)
    mounts = () if missing else tuple(sorted((*shared, *spec.GPU_MOUNTS(dry).items())))
    checks = {name: getattr(assignment.checks, name) for name in sorted({c.check for c in cases})}
    probes_and_checks = ProbesAndChecks(probes_source=assignment.probes_and_checks.probes_source,
                                        checks=checks, mounts=mounts, import_paths=assignment.import_paths)
    flavours = {str(c.kwargs["flavour"]) for c in cases}
    stage = GpuStage(
        cases=cases, missing_policy=options.missing, missing=missing, dry_run=dry,
        settings=SandboxSettings(limits=spec.GPU_LIMITS, isolation=settings.isolation),
        probes_and_checks=probes_and_checks, layout=layout, access=access,
        min_accuracy={f: spec.gpu_min_accuracy(f, dry) for f in flavours},
        budget_seconds=spec.GPU_TIME_BUDGET_SECONDS["dry_run" if dry else "gpu"],
        validation_per_class=spec.GPU_VALIDATION_PER_CLASS["dry_run" if dry else "gpu"],
        out_dir=out_dir,
    )
    if not stage.missing and not dry:
        stage.missing = stage.self_test()
    if stage.missing and options.missing == "fail":
        raise GpuUnavailable(f"the GPU cases cannot run here ({stage.missing}); --gpu-missing=fail")
    return stage  # DIR/gpu_stage.json is written with the first result, once the batch holds DIR


def write_report(stage: GpuStage, out_dir: Path) -> None:
    """``DIR/gpu_stage.json``: how the stage ran and each submission's figures (instructor only)."""
    data = {"mode": "dry_run" if stage.dry_run else "gpu", "missing": stage.missing,
            "missing_policy": stage.missing_policy, "environment": stage.environment,
            "isolation": stage.isolation,
            "python": str(stage.layout.executable), "min_accuracy": stage.min_accuracy,
            "budget_seconds": stage.budget_seconds, "submissions": dict(sorted(stage.report.items()))}
    write_atomic(Path(out_dir) / REPORT_NAME, json.dumps(data, indent=1, default=str) + "\n", private=True)


# --- the hooks batch.py calls (None: no stage) ---------------------------------------------

def counted(stage: GpuStage | None) -> tuple[Case, ...]:
    return stage.counted if stage is not None else ()


def fingerprint(stage: GpuStage | None, base: str) -> str:
    return stage.fingerprint(base) if stage is not None else base


def grade_into(stage: GpuStage | None, result, path: Path, worker: int = 0) -> None:
    """After ``grade.grade_submission``: the stage's cases join the result (every counted
    case once, as the cache's schema wants, whatever happened)."""
    if stage is None:
        return
    if result.status == "invalid_submission":
        result.case_results.extend(CaseResult(c, False, "not graded: the submission could not be read")
                                   for c in stage.counted)
        return
    stage.grade_into(result, path, worker)
