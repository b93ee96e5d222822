"""The fallback without bubblewrap (a Gradescope container): Landlock, seccomp, a leased uid.

Forced with ``isolation="none"``. As root here the Python installation lives under /root
(mode 0700), which the sandbox uid cannot read, so the run uses the system's Python of the
same version with the kit's site-packages: the fallback's rules are what is under test,
not which interpreter runs.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from autograder.course.cases import Case
from autograder.grading.grade import CallPlan, write_inputs
from autograder.kit_folders import KIT_ROOT
from autograder.sandbox import (
    IsolationUnavailable,
    SandboxSettings,
    isolation,
    landlock,
    parse_records,
    run_runner,
)
from autograder.sandbox.launch import resolve_isolation

ROOT = os.geteuid() == 0
REFERENCE = KIT_ROOT / "solutions" / "a1_softmax" / "reference.py"

PROBE = '''
import ctypes, os, socket
import numpy as np

def _readable(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return 1.0
    except OSError:
        return 0.0

def _writable(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return 1.0
    except OSError:
        return 0.0

def _inet():
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
        return 1.0
    except OSError:
        return 0.0

def _keyctl_errno():
    libc = ctypes.CDLL(None, use_errno=True)
    # add_key("user", "planted", "v", 1, KEY_SPEC_USER_KEYRING)
    done = libc.syscall(248, b"user", b"planted", b"v", 1, ctypes.c_int(-4))
    return float(0 if done >= 0 else ctypes.get_errno())

def softmax(z, axis=-1):
    return np.array([
        float(os.getuid()),
        _readable(REFERENCE),
        _readable(OUT_FILE),
        _writable(OUT_FILE + ".forged"),
        _writable("/tmp/ag-fallback-probe-" + str(os.getpid())),
        _writable("/dev/shm/ag-fallback-probe-" + str(os.getpid())),
        _writable("probe.txt"),
        _inet(),
        _keyctl_errno(),
    ])
'''
FACTS = ["uid", "reads solutions", "reads out dir", "writes out dir", "writes /tmp", "writes /dev/shm", "writes workdir",
         "inet socket", "add_key errno"]


def _system_python_layout() -> isolation.PythonLayout | None:
    """This interpreter's packages under the system Python of the same version, if any."""
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.exists():
        return None
    return isolation.PythonLayout(prefix=Path("/usr"), executable=system,
                                  site_dirs=isolation.PythonLayout.current().site_dirs)


def use_a_python_the_sandbox_uid_can_read(monkeypatch) -> isolation.PythonLayout:
    """The fallback's interpreter for this test (skips where there is none)."""
    layout = isolation.PythonLayout.current()
    if ROOT and not isolation.sandbox_uid_can_run(layout, isolation.sandbox_uid(0)):
        layout = _system_python_layout()
        if layout is None or not isolation.sandbox_uid_can_run(layout, isolation.sandbox_uid(0)):
            pytest.skip("no Python installation the sandbox uid can read")
        monkeypatch.setattr(isolation.PythonLayout, "current", staticmethod(lambda: layout))
    return layout


@pytest.fixture
def fallback_layout(monkeypatch):
    return use_a_python_the_sandbox_uid_can_read(monkeypatch)


def _run_probe(tmp_path, out_file: Path):
    source = PROBE.replace("REFERENCE", repr(str(REFERENCE))).replace("OUT_FILE", repr(str(out_file)))
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    tmp_path.chmod(0o755)
    write_inputs(inputs, [source], "submission",
                 CallPlan.for_cases((Case("softmax", "probe", "facts", (np.zeros(1),)),)))
    outcome = run_runner(inputs, SandboxSettings(isolation="none"))
    records, problem = parse_records(outcome.results, max_array_bytes=1 << 20)
    assert problem is None, (problem, outcome.log)
    call = next(r for r in records if r.kind == "call")
    assert "error" not in call.meta, (call.meta, outcome.log)
    return dict(zip(FACTS, call.arrays["r0"].tolist(), strict=True)), outcome


@pytest.mark.skipif(landlock.abi_version() < 1, reason="the kernel has no Landlock")
def test_fallback_reads_no_solution_no_out_dir_and_writes_only_its_workdir(tmp_path, fallback_layout):
    assert REFERENCE.exists() and os.stat(REFERENCE).st_mode & 0o004  # readable by any uid
    with tempfile.TemporaryDirectory(prefix="ag-out-") as out:
        out_file = Path(out) / "cache.json"
        out_file.write_text("{}")
        Path(out).chmod(0o777)  # even world-writable
        out_file.chmod(0o644)  # world-readable: only Landlock stands in the way
        facts, outcome = _run_probe(tmp_path, out_file)
    assert facts["reads solutions"] == 0 and facts["reads out dir"] == 0 and facts["writes out dir"] == 0
    assert facts["writes /tmp"] == 0 and facts["writes /dev/shm"] == 0
    assert facts["writes workdir"] == 1
    assert facts["inet socket"] == 0
    assert facts["add_key errno"] == 1  # EPERM from seccomp
    assert not outcome.isolated
    assert "landlock abi" in outcome.isolation and "seccomp" in outcome.isolation
    if ROOT:
        assert 61000 <= facts["uid"] < 62000 and f"uid {int(facts['uid'])}" in outcome.isolation
    else:
        assert facts["uid"] == os.getuid()


def test_non_root_without_bubblewrap_is_refused_unless_isolation_none(monkeypatch):
    monkeypatch.setattr(isolation, "probe_bubblewrap", lambda: (False, "bubblewrap (bwrap) is not installed"))
    monkeypatch.setattr(isolation, "running_as_root", lambda: False)
    with pytest.raises(IsolationUnavailable, match="--isolation none") as refused:
        resolve_isolation(SandboxSettings(isolation="auto"))
    assert "not root" in str(refused.value) and "not installed" in str(refused.value)
    use, warning = resolve_isolation(SandboxSettings(isolation="none"))
    assert not use and "Landlock" in warning


def test_root_without_bubblewrap_still_falls_back(monkeypatch):
    monkeypatch.setattr(isolation, "probe_bubblewrap", lambda: (False, "bubblewrap (bwrap) is not installed"))
    monkeypatch.setattr(isolation, "running_as_root", lambda: True)
    monkeypatch.setattr(isolation, "sandbox_uid_can_run", lambda layout, uid: True)
    use, warning = resolve_isolation(SandboxSettings(isolation="auto"))
    assert not use and "NOT isolated" in warning


@pytest.mark.skipif(not ROOT, reason="checks what the sandbox uid can read")
def test_without_landlock_the_warning_says_the_solutions_are_readable(monkeypatch):
    monkeypatch.setattr(isolation, "probe_bubblewrap", lambda: (False, "bubblewrap (bwrap) is not installed"))
    monkeypatch.setattr(isolation, "sandbox_uid_can_run", lambda layout, uid: True)
    monkeypatch.setattr(landlock, "abi_version", lambda: 0)
    assert os.stat(REFERENCE).st_mode & 0o004 and os.stat(REFERENCE.parent).st_mode & 0o001
    _, warning = resolve_isolation(SandboxSettings(isolation="auto"))
    assert "no Landlock" in warning and "can READ the hidden tests" in warning
