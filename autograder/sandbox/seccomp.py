"""A seccomp filter for the sandbox: the system calls that let one box reach another, denied.

The program is classic BPF over ``struct seccomp_data`` (``nr`` at offset 0, ``arch`` at 4,
``args[i]`` at 16 + 8 i, little-endian low word first), built here byte by byte:

    arch != native            -> EPERM for everything (e.g. i386 syscalls via int 0x80)
    nr >= 0x40000000 (x86_64) -> EPERM (the x32 ABI would be a second syscall table)
    socket(family != AF_UNIX) -> EPERM (no network, whatever the namespaces)
    clone(flags & CLONE_NEW*) -> EPERM (no new namespaces); clone3 -> ENOSYS, so libc falls
                                 back to clone, whose flags a filter can read
    DENIED[...]               -> EPERM: kernel keyrings, ptrace and cross-process memory,
                                 perf/bpf/userfaultfd/io_uring, mounts and namespaces,
                                 SysV IPC and POSIX message queues
    anything else             -> allowed

Nothing denied here is needed by NumPy or PyTorch on a CPU; everything denied is a way to
leave a trace another sandbox could find (a key, a message queue, a shared segment) or to
reach outside (a socket, a debugger, a mount).

With bubblewrap the program is handed over with ``--seccomp FD`` (bubblewrap itself needs
mount and unshare, and installs the filter just before it starts the runner); without it,
``install`` runs in the child between fork and exec, after ``PR_SET_NO_NEW_PRIVS``. Either
way it is in place before the runner reads the submission's first line.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass

# BPF opcodes (linux/filter.h, linux/bpf_common.h)
_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x05 | 0x30 | 0x00
_JSET_K = 0x05 | 0x40 | 0x00
_RET_K = 0x06 | 0x00

RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
_OFFSET_NR, _OFFSET_ARCH = 0, 4
X32_SYSCALL_BIT = 0x40000000
AF_UNIX = 1
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (sched.h; NEWTIME
# shares its bit with the exit signal in clone() and is only reachable through clone3)
CLONE_NEW_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 \
    | 0x40000000

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# What is denied, by name; the numbers come from each architecture's table below.
DENIED = (
    "add_key", "request_key", "keyctl",  # kernel keyrings persist per uid between boxes
    "ptrace", "process_vm_readv", "process_vm_writev",
    "perf_event_open", "bpf", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",  # io_uring can open sockets itself
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "shmget", "shmat", "shmctl", "shmdt", "semget", "semop", "semctl", "semtimedop",
    "msgget", "msgsnd", "msgrcv", "msgctl",
    "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
)


@dataclass(frozen=True)
class Arch:
    name: str
    audit: int  # AUDIT_ARCH_* (linux/audit.h)
    numbers: dict[str, int]
    has_x32: bool = False


# Checked against asm/unistd_64.h and asm-generic/unistd.h by tests/sandbox/test_sandbox_seccomp.py.
X86_64 = Arch("x86_64", 0xC000003E, {
    "socket": 41, "clone": 56, "clone3": 435,
    "add_key": 248, "request_key": 249, "keyctl": 250,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "perf_event_open": 298, "bpf": 321, "userfaultfd": 323,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442,
    "shmget": 29, "shmat": 30, "shmctl": 31, "shmdt": 67, "semget": 64, "semop": 65,
    "semctl": 66, "semtimedop": 220, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71,
    "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243,
    "mq_notify": 244, "mq_getsetattr": 245,
}, has_x32=True)
AARCH64 = Arch("aarch64", 0xC00000B7, {
    "socket": 198, "clone": 220, "clone3": 435,
    "add_key": 217, "request_key": 218, "keyctl": 219,
    "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
    "perf_event_open": 241, "bpf": 280, "userfaultfd": 282,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442,
    "shmget": 194, "shmat": 196, "shmctl": 195, "shmdt": 197, "semget": 190, "semop": 193,
    "semctl": 191, "semtimedop": 192, "msgget": 186, "msgsnd": 189, "msgrcv": 188, "msgctl": 187,
    "mq_open": 180, "mq_unlink": 181, "mq_timedsend": 182, "mq_timedreceive": 183,
    "mq_notify": 184, "mq_getsetattr": 185,
})
ARCHES = {"x86_64": X86_64, "amd64": X86_64, "aarch64": AARCH64, "arm64": AARCH64}


def native_arch() -> Arch | None:
    return ARCHES.get(platform.machine().lower())


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)  # struct sock_filter


def _arg_low(i: int) -> int:
    return 16 + 8 * i  # low 32 bits of args[i] on a little-endian machine


def build_program(arch: Arch) -> bytes:
    """The filter as the kernel wants it: an array of 8-byte ``struct sock_filter``."""
    eperm = RET_ERRNO | errno.EPERM
    out = [
        _insn(_LD_W_ABS, _OFFSET_ARCH),
        _insn(_JEQ_K, arch.audit, jt=1, jf=0),
        _insn(_RET_K, eperm),
        _insn(_LD_W_ABS, _OFFSET_NR),
    ]
    if arch.has_x32:
        out += [_insn(_JGE_K, X32_SYSCALL_BIT, jt=0, jf=1), _insn(_RET_K, eperm)]
    # socket: allowed for AF_UNIX only (the accumulator then holds the family: return here)
    out += [
        _insn(_JEQ_K, arch.numbers["socket"], jt=0, jf=4),
        _insn(_LD_W_ABS, _arg_low(0)),
        _insn(_JEQ_K, AF_UNIX, jt=0, jf=1),
        _insn(_RET_K, RET_ALLOW),
        _insn(_RET_K, eperm),
    ]
    out += [
        _insn(_JEQ_K, arch.numbers["clone"], jt=0, jf=4),
        _insn(_LD_W_ABS, _arg_low(0)),
        _insn(_JSET_K, CLONE_NEW_FLAGS, jt=1, jf=0),
        _insn(_RET_K, RET_ALLOW),
        _insn(_RET_K, eperm),
        _insn(_JEQ_K, arch.numbers["clone3"], jt=0, jf=1),
        _insn(_RET_K, RET_ERRNO | errno.ENOSYS),
    ]
    for name in DENIED:
        out += [_insn(_JEQ_K, arch.numbers[name], jt=0, jf=1), _insn(_RET_K, eperm)]
    out.append(_insn(_RET_K, RET_ALLOW))
    return b"".join(out)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


@dataclass(frozen=True)
class Filter:
    """A built program, ready to install in a forked child (nothing allocated after fork)."""

    program: bytes
    arch: str

    def __post_init__(self) -> None:
        buffer = ctypes.create_string_buffer(self.program, len(self.program))
        fprog = _SockFprog(len(self.program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
        object.__setattr__(self, "_buffer", buffer)  # keep the memory alive with the struct
        object.__setattr__(self, "_fprog", fprog)
        object.__setattr__(self, "_prctl", _libc().prctl)

    def install(self) -> None:
        """Apply to the calling process (and everything it starts); cannot be undone."""
        prctl = self._prctl
        if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
        if prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(self._fprog), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "seccomp filter refused")

    def as_fd(self) -> int:
        """A readable fd holding the program, for bubblewrap's ``--seccomp FD`` (caller closes)."""
        fd = os.memfd_create("autograder-seccomp", 0)  # not CLOEXEC: it is passed on
        os.write(fd, self.program)
        os.lseek(fd, 0, os.SEEK_SET)
        return fd


_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)  # our own handle: argtypes set here stay here
        _LIBC.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4  # a pointer is 64 bits
        _LIBC.prctl.restype = ctypes.c_int
    return _LIBC


def sandbox_filter() -> tuple[Filter | None, str]:
    """(the filter for this machine, or None with the reason it is not available)."""
    if not platform.system() == "Linux":
        return None, f"no seccomp on {platform.system()}"
    arch = native_arch()
    if arch is None:
        return None, f"no seccomp table for {platform.machine()} (syscalls not filtered)"
    return _cached_filter(arch), ""


_FILTERS: dict[str, Filter] = {}


def _cached_filter(arch: Arch) -> Filter:
    if arch.name not in _FILTERS:
        _FILTERS[arch.name] = Filter(build_program(arch), arch.name)
    return _FILTERS[arch.name]
