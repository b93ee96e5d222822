"""The seccomp filter: no network sockets, no keyrings, no debugger, no namespaces or IPC.

Checked three ways: the syscall numbers against the kernel headers, the filter applied to
a forked child of the test, and a submission probing it from inside a real sandbox.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import socket
from pathlib import Path

import numpy as np
import pytest

from autograder.course.cases import Case
from autograder.grading.grade import CallPlan, write_inputs
from autograder.sandbox import SandboxSettings, parse_records, run_runner, seccomp

HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),
}


@pytest.mark.parametrize("arch", [seccomp.X86_64, seccomp.AARCH64], ids=lambda a: a.name)
def test_syscall_numbers_match_the_kernel_headers(arch):
    header = HEADERS[arch.name]
    if not header.exists():
        pytest.skip(f"{header} not installed")
    text = header.read_text()
    for name, number in arch.numbers.items():
        found = re.search(rf"#define __NR(?:3264)?_{name}\s+(\d+)", text)
        assert found, name
        assert int(found.group(1)) == number, name
    assert set(seccomp.DENIED) <= set(arch.numbers)


def test_program_is_whole_instructions_ending_in_allow():
    program = seccomp.build_program(seccomp.X86_64)
    assert len(program) % 8 == 0 and len(program) // 8 < 4096
    assert program[-8:] == seccomp._insn(0x06, seccomp.RET_ALLOW)


def _in_filtered_child(check) -> int:
    """Run ``check()`` (returns a small int) in a forked child under the filter."""
    flt, why = seccomp.sandbox_filter()
    if flt is None:
        pytest.skip(why)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 255
        try:
            os.close(read)
            flt.install()
            code = check()
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    result = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    return result[0]


def _errno_of(fn) -> int:
    try:
        fn()
    except OSError as exc:
        return exc.errno
    return 0


def test_filter_denies_inet_sockets_but_not_unix_ones():
    assert _in_filtered_child(lambda: _errno_of(lambda: socket.socket(socket.AF_INET).close())) == errno.EPERM
    assert _in_filtered_child(lambda: _errno_of(lambda: socket.socket(socket.AF_INET6).close())) == errno.EPERM
    assert _in_filtered_child(lambda: _errno_of(lambda: socket.socket(socket.AF_UNIX).close())) == 0


def test_filter_denies_keyrings_and_new_namespaces_but_forks():
    def raw(number, *args):
        libc = ctypes.CDLL(None, use_errno=True)
        done = libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args))
        return 0 if done >= 0 else ctypes.get_errno()

    numbers = seccomp.native_arch().numbers
    assert _in_filtered_child(lambda: raw(numbers["keyctl"], 0, -4, 0, 0, 0)) == errno.EPERM
    assert _in_filtered_child(lambda: raw(numbers["unshare"], 0x10000000)) == errno.EPERM  # CLONE_NEWUSER
    assert _in_filtered_child(lambda: raw(numbers["shmget"], 0, 4096, 0o1600)) == errno.EPERM

    def forks():
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    assert _in_filtered_child(forks) == 7


KEYRING_PROBE = '''
import ctypes, socket
import numpy as np

def _errno(number, *args):
    libc = ctypes.CDLL(None, use_errno=True)
    done = libc.syscall(ctypes.c_long(number), *args)
    return 0.0 if done >= 0 else float(ctypes.get_errno())

def softmax(z, axis=-1):
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()
        inet = 0.0
    except OSError as exc:
        inet = float(exc.errno)
    planted = _errno(ADD_KEY, b"user", b"planted", b"secret", ctypes.c_size_t(6), ctypes.c_int(-4))
    found = _errno(REQUEST_KEY, b"user", b"planted", None, ctypes.c_int(0))
    return np.array([inet, planted, found])
'''


def test_a_key_planted_in_one_sandbox_cannot_be_planted_or_found_by_the_next(tmp_path):
    numbers = seccomp.native_arch().numbers
    source = KEYRING_PROBE.replace("ADD_KEY", str(numbers["add_key"])).replace(
        "REQUEST_KEY", str(numbers["request_key"]))
    seen = []
    for run in range(2):
        inputs = tmp_path / f"in{run}"
        inputs.mkdir()
        tmp_path.chmod(0o755)
        write_inputs(inputs, [source], "submission",
                     CallPlan.for_cases((Case("softmax", "probe", "x", (np.zeros(1),)),)))
        outcome = run_runner(inputs, SandboxSettings())
        records, problem = parse_records(outcome.results, max_array_bytes=1 << 20)
        assert problem is None, outcome.log
        call = next(r for r in records if r.kind == "call")
        assert "error" not in call.meta, call.meta
        seen.append(call.arrays["r0"].tolist())
        assert "seccomp" in outcome.isolation and "NO seccomp" not in outcome.isolation
    assert seen == [[errno.EPERM] * 3] * 2
