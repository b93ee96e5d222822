"""What the sandbox lets student code see and do, observed from inside it.

A probe submission reports facts about its environment as numbers; the grader
compares them with what isolation promises, using the ordinary grading path.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from autograder.course.cases import Case
from autograder.grading.grade import TIMEOUT, CallPlan, grade_for_assignment, grade_submission, write_inputs
from autograder.kit_folders import KIT_ROOT
from autograder.sandbox import (
    IsolationUnavailable,
    Limits,
    SandboxSettings,
    isolation,
    parse_records,
    run_runner,
)
from autograder.sandbox.launch import resolve_isolation

BWRAP, WHY_NOT = isolation.probe_bubblewrap()
needs_bwrap = pytest.mark.skipif(not BWRAP, reason=f"bubblewrap unavailable: {WHY_NOT}")
ROOT = os.geteuid() == 0

PROBE = f'''
import os, socket
import numpy as np

def _can_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return 1.0
    except OSError:
        return 0.0

def _can_connect():
    try:
        socket.create_connection(("127.0.0.1", 22), timeout=1).close()
        return 1.0
    except OSError as exc:
        return 0.0 if exc.errno in (1, 13, 101, 99, 111, 113) or "unreachable" in str(exc) else 0.5

def softmax(z, axis=-1):
    return np.array([
        float(os.getuid()),
        float(os.path.exists({str(KIT_ROOT)!r})),
        float(os.path.exists({str(KIT_ROOT / "solutions")!r})),
        _can_write("/sandbox/in/code.json"),
        _can_write("/usr/evil"),
        _can_write("probe.txt"),
        float("HOME" in os.environ and os.environ["HOME"].startswith("/root")),
        _can_connect(),
    ])
'''
FACTS = ["uid", "kit visible", "solutions visible", "inputs writable", "/usr writable",
         "work dir writable", "root's HOME", "network"]


def probe(tmp_path, settings):
    """Run PROBE's softmax once in the sandbox; returns ({fact: value}, RunOutcome)."""
    case = Case("softmax", "probe", "environment facts", (np.zeros(1),))
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    tmp_path.chmod(0o755)
    write_inputs(inputs, [PROBE], "submission", CallPlan.for_cases((case,)))
    outcome = run_runner(inputs, settings)
    records, problem = parse_records(outcome.results, max_array_bytes=1 << 20)
    assert problem is None, problem
    call = next(r for r in records if r.kind == "call")
    assert "error" not in call.meta, call.meta
    return dict(zip(FACTS, call.arrays["r0"].tolist(), strict=True)), outcome


@needs_bwrap
def test_bubblewrap_hides_the_kit_and_allows_only_private_writes(tmp_path):
    facts, outcome = probe(tmp_path, SandboxSettings(isolation="bubblewrap"))
    assert outcome.isolated
    assert facts["kit visible"] == 0 and facts["solutions visible"] == 0
    assert facts["inputs writable"] == 0 and facts["/usr writable"] == 0
    assert facts["work dir writable"] == 1
    assert facts["root's HOME"] == 0
    assert facts["network"] == 0
    if ROOT:  # a uid leased for this run (61000 unless another grader holds it)
        assert 61000 <= facts["uid"] < 62000 and f"uid {int(facts['uid'])}" in outcome.isolation
    else:
        assert facts["uid"] != 0


def _fallback_refuses() -> bool:
    return ROOT and not isolation.sandbox_uid_can_run(isolation.PythonLayout.current(), isolation.sandbox_uid(0))


def test_without_bubblewrap_code_never_runs_as_root(tmp_path):
    settings = SandboxSettings(isolation="none")
    if _fallback_refuses():  # e.g. Python under /root (mode 0700): the uid switch is impossible
        with pytest.raises(IsolationUnavailable, match="AS ROOT. Refusing"):
            resolve_isolation(settings)
        return
    facts, outcome = probe(tmp_path, settings)
    assert not outcome.isolated
    assert facts["work dir writable"] == 1
    if ROOT:
        assert 61000 <= facts["uid"] < 62000 and f"uid {int(facts['uid'])}" in outcome.isolation
    else:
        assert facts["uid"] == os.getuid()


def test_unavailable_bubblewrap_falls_back_with_a_loud_warning(monkeypatch):
    monkeypatch.setattr(isolation, "probe_bubblewrap", lambda: (False, "bubblewrap (bwrap) is not installed"))
    monkeypatch.setattr(isolation, "sandbox_uid_can_run", lambda layout, uid: True)
    use, warning = resolve_isolation(SandboxSettings(isolation="auto"))
    assert not use and "NOT isolated" in warning and "not installed" in warning
    use, warning = resolve_isolation(SandboxSettings(isolation="none"))
    assert not use and "limits only" in warning
    with pytest.raises(IsolationUnavailable, match="not installed"):
        resolve_isolation(SandboxSettings(isolation="bubblewrap"))


def test_root_without_a_readable_python_refuses_instead_of_running_as_root(monkeypatch):
    monkeypatch.setattr(isolation, "probe_bubblewrap", lambda: (False, "bubblewrap (bwrap) is not installed"))
    monkeypatch.setattr(isolation, "running_as_root", lambda: True)
    monkeypatch.setattr(isolation, "sandbox_uid_can_run", lambda layout, uid: False)
    with pytest.raises(IsolationUnavailable, match="install bubblewrap"):
        resolve_isolation(SandboxSettings(isolation="auto"))


def test_fallback_grades_the_reference_fully_and_stops_endless_loops(a1, write_py, reference_source,
                                                                     monkeypatch):
    if _fallback_refuses():
        # Exercise the fallback's limits, pipes and timeouts as a normal user would run
        # them: the code below is the kit's own (reference, an endless loop), so running it
        # without the uid switch is safe.
        monkeypatch.setattr(isolation, "running_as_root", lambda: False)
    settings = SandboxSettings(isolation="none")
    result = grade_for_assignment(a1, write_py("ref", reference_source), settings)
    assert result.score == a1.max_score and not result.isolated
    fast = SandboxSettings(isolation="none", limits=Limits(cpu_seconds=3, wall_seconds=4, load_seconds=1))
    result = grade_for_assignment(a1, write_py("loop", "while True:\n    pass\n"), fast)
    assert result.status == TIMEOUT and result.score == 0


def test_limits_reject_nonsense():
    with pytest.raises(ValueError, match="cpu_seconds must be positive"):
        Limits(cpu_seconds=0)
    with pytest.raises(ValueError, match="load_seconds cannot exceed"):
        Limits(wall_seconds=1, load_seconds=5)
    with pytest.raises(ValueError, match="isolation must be"):
        SandboxSettings(isolation="docker")


def test_grade_submission_uses_only_the_cases_given(a1, write_py, reference_source):
    cases = a1.public_cases
    result = grade_submission(write_py("ref", reference_source), cases=cases, expected=a1.expected,
                              settings=SandboxSettings())
    assert len(result.case_results) == len(cases) and result.score == sum(c.points for c in cases)


def test_bubblewrap_command_hands_over_seccomp_and_the_leased_uid(monkeypatch):
    monkeypatch.setattr(isolation, "running_as_root", lambda: True)
    layout = isolation.PythonLayout.current()
    cmd = isolation.bubblewrap_command(bwrap="/usr/bin/bwrap", layout=layout, inputs=KIT_ROOT / "x",
                                       limits=Limits(), uid=61007, results_fd=5, seccomp_fd=9)
    runner_at = cmd.index("--")
    options, runner = cmd[:runner_at], cmd[runner_at + 1:]
    assert options[options.index("--seccomp") + 1] == "9"
    for flag in ("--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid", "--unshare-net",
                 "--clearenv"):
        assert flag in options
    assert options[options.index("--cap-drop") + 1] == "ALL"
    assert runner[runner.index("--uid") + 1] == "61007" and runner[runner.index("--gid") + 1] == "61007"
    assert runner[runner.index("--results-fd") + 1] == "5"
    # Nothing of the kit is mounted but the runner itself and the inputs given.
    kit_sources = [options[i + 1] for i, arg in enumerate(options)
                   if arg == "--ro-bind" and options[i + 1].startswith(str(KIT_ROOT))]
    assert sorted(kit_sources) == sorted([str(isolation.RUNNER), str(KIT_ROOT / "x")]
                                         + [str(s) for s in layout.site_dirs if s.is_relative_to(KIT_ROOT)])
    unprivileged = isolation.bubblewrap_command(bwrap="bwrap", layout=layout, inputs=KIT_ROOT / "x",
                                                limits=Limits(), uid=None, results_fd=5)
    assert "--seccomp" not in unprivileged and "--uid" not in unprivileged
