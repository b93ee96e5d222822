"""Landlock rules for the fallback sandbox: read the system and Python, write only the workdir.

Without bubblewrap (a Gradescope container refuses namespaces) the runner sees the host's
file system. Landlock, which an unprivileged process may apply to itself, narrows that to:

    read + execute:  system directories (/usr, /lib*, /bin, /etc, /proc, ...), the Python
                     installation and its site directories, the runner, its inputs, the
                     assignment's read-only data folders
    read + write:    the sandbox's own work directory, and /dev/null-like devices
    nothing else:    not the kit, the hidden tests, the solutions, the out dir, the cache,
                     any home, /tmp or /dev/shm

ABI-aware: each kernel handles the access rights it knows (ABI 1: file access; 2: REFER,
renames across folders; 3: TRUNCATE; 4: TCP bind/connect, handled with no rule, so denied;
5: device ioctls; 6: signals and abstract unix sockets scoped to the sandbox, so it cannot
signal or connect to the grader). The ruleset is built in the grader; the forked child only
calls ``restrict_self`` (after ``PR_SET_NO_NEW_PRIVS``) before it execs the runner.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Same numbers on every architecture (added after the syscall tables were unified).
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
ABI1_FS = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
FILE_ONLY_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # allowed on a file

SYSTEM_READ_ONLY = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/proc",
                    "/sys/devices/system/cpu")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


def handled_fs(abi: int) -> int:
    """Every file-system right this ABI knows (all of them denied unless a rule allows)."""
    rights = ABI1_FS
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)  # our own handle: its argtypes stay ours
    libc.syscall.restype = ctypes.c_long
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    return libc


def _syscall(libc, number: int, *args: int) -> int:
    """syscall(2) with every argument passed as a full machine word (pointers included)."""
    return libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args))


_ABI: int | None = None


def abi_version() -> int:
    """The kernel's Landlock ABI (0: none, or disabled at boot)."""
    global _ABI
    if _ABI is None:
        if platform.system() != "Linux":
            _ABI = 0
        else:
            version = _syscall(_libc(), SYS_CREATE_RULESET, 0, 0, CREATE_RULESET_VERSION)
            _ABI = max(0, int(version))
    return _ABI


@dataclass
class Ruleset:
    """An open Landlock ruleset (an fd); ``restrict`` runs in the child, ``close`` in the grader."""

    fd: int
    abi: int

    def restrict(self) -> None:
        libc = _PRELOADED
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
        if _syscall(libc, SYS_RESTRICT_SELF, self.fd, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


_PRELOADED = None


def build_ruleset(*, read_only: Iterable[str | Path], read_write: Iterable[str | Path],
                  devices: Iterable[str] = DEVICES, ioctl_devices: Iterable[str] = ()) -> Ruleset | None:
    """A ruleset allowing exactly these trees (missing paths are skipped); None without Landlock.

    ``ioctl_devices``: device nodes that may also be driven by ioctl (a GPU's, ``sandbox.gpu``)."""
    global _PRELOADED
    abi = abi_version()
    if abi < 1:
        return None
    libc = _PRELOADED = _PRELOADED or _libc()
    fs = handled_fs(abi)
    # struct landlock_ruleset_attr: handled_access_fs, handled_access_net (ABI 4), scoped (ABI 6)
    attr = struct.pack("<Q", fs)
    if abi >= 4:
        attr += struct.pack("<Q", NET_BIND_TCP | NET_CONNECT_TCP)
    if abi >= 6:
        attr += struct.pack("<Q", SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    fd = _syscall(libc, SYS_CREATE_RULESET, ctypes.addressof(buffer), len(attr), 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    ruleset = Ruleset(int(fd), abi)
    try:
        read = EXECUTE | READ_FILE | READ_DIR
        for path in read_only:
            _allow(libc, ruleset.fd, str(path), read)
        for path in read_write:
            _allow(libc, ruleset.fd, str(path), fs)
        for path in devices:
            _allow(libc, ruleset.fd, path, READ_FILE | WRITE_FILE | (TRUNCATE if abi >= 3 else 0))
        for path in ioctl_devices:
            _allow(libc, ruleset.fd, path, READ_FILE | WRITE_FILE | (IOCTL_DEV if abi >= 5 else 0))
    except BaseException:
        ruleset.close()
        raise
    return ruleset


def _allow(libc, ruleset_fd: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # absent here (no /lib32, no such data folder): nothing to allow
    try:
        if not os.path.isdir(path):
            rights &= FILE_ONLY_RIGHTS
        # struct landlock_path_beneath_attr { __u64 allowed_access; __s32 parent_fd; } (packed)
        rule = ctypes.create_string_buffer(struct.pack("<Qi", rights, fd), 12)
        done = _syscall(libc, SYS_ADD_RULE, ruleset_fd, RULE_PATH_BENEATH, ctypes.addressof(rule), 0)
        if done != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(fd)
