"""How a submission's process is isolated: the bubblewrap command line, or the fallback.

With bubblewrap the student's code sees a minimal root: read-only ``/usr`` (system
libraries), the Python installation and its site-packages (read-only, at neutral
paths under ``/sandbox``), the runner, the grader-chosen inputs, and two private,
size-limited tmpfs directories (``/sandbox/work`` and ``/tmp``). No network, no IPC,
its own PID namespace (killing it kills everything it started), no ``/etc``, no home,
and nothing of the kit, the hidden tests or the reference solutions.

When the grader runs as root, the runner switches to an unprivileged uid leased for this
sandbox alone (``uids``); otherwise bubblewrap's user namespace maps the caller's own
(unprivileged) uid. Either way a seccomp filter (``seccomp``) is in place before the
runner starts, and the process tree lives in its own cgroup (``cgroups``, see ``launch``).

Without bubblewrap (the fallback), the runner and its inputs are copied into a private
folder of the sandbox uid, and Landlock (``landlock``) limits it to reading the system,
Python and those copies, and to writing its own work directory.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from .gpu import GpuAccess
from .gpu import bubblewrap_binds as gpu_binds
from .gpu import environment as gpu_environment
from .limits import Limits
from .uids import FIRST_UID

SANDBOX_UID_BASE = FIRST_UID
RUNNER = Path(__file__).with_name("runner.py")
INSIDE_PYTHON = "/sandbox/python"
INSIDE_RUNNER = "/sandbox/runner.py"
INSIDE_INPUTS = "/sandbox/in"
INSIDE_DATA = "/sandbox/data"  # read-only data folders for probes (see autograder.course.probes_and_checks)
INSIDE_WORK = "/sandbox/work"


@dataclass(frozen=True)
class PythonLayout:
    """Where the interpreter and the packages the runner may import live on the host."""

    prefix: Path
    executable: Path  # inside ``prefix``
    site_dirs: tuple[Path, ...]

    @classmethod
    @functools.cache  # the running interpreter's layout is constant for the process
    def current(cls) -> PythonLayout:
        prefix = Path(sys.base_prefix).resolve()
        executable = Path(os.path.realpath(sys.executable))
        if not executable.is_relative_to(prefix):
            executable = prefix / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
        paths = sysconfig.get_paths()
        sites = []
        for key in ("purelib", "platlib"):
            path = Path(paths[key]).resolve()
            if path not in sites and path.is_dir():
                sites.append(path)
        return cls(prefix=prefix, executable=executable, site_dirs=tuple(sites))


def sandbox_uid(worker: int) -> int:
    """The uid worker ``worker`` tries first (a hint: ``uids.lease_uid`` decides)."""
    return SANDBOX_UID_BASE + worker


def running_as_root() -> bool:
    return os.geteuid() == 0


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _root_binds() -> list[str]:
    """Read-only system directories, keeping merged-/usr symlinks as symlinks."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def bubblewrap_command(
    *, bwrap: str, layout: PythonLayout, inputs: Path, limits: Limits, uid: int | None,
    results_fd: int, mounts: tuple[tuple[str, str], ...] = (), seccomp_fd: int | None = None,
    gpu: GpuAccess | None = None,
) -> list[str]:
    """The full argv that starts the runner inside bubblewrap.

    ``uid``: the leased sandbox uid the runner switches to (root only); ``seccomp_fd``: a
    readable fd with the filter program, which bubblewrap installs just before the runner;
    ``gpu``: the device nodes and driver libraries to add (``gpu.bubblewrap_binds``), else none.
    """
    cmd = [
        bwrap,
        "--die-with-parent",
        "--new-session",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
    ]
    if running_as_root():
        # Root may create namespaces without a user namespace; the runner keeps only
        # the capabilities it needs to switch to the sandbox uid, then loses them too.
        cmd += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        cmd += ["--unshare-user", "--disable-userns"]
    cmd += _root_binds()
    cmd += ["--proc", "/proc", "--dev", "/dev"]
    if gpu is not None:
        cmd += gpu_binds(gpu)
    cmd += ["--size", str(limits.tmp_bytes), "--perms", "1777", "--tmpfs", "/tmp"]
    cmd += ["--perms", "0755", "--dir", "/sandbox"]
    cmd += ["--ro-bind", str(layout.prefix), INSIDE_PYTHON]
    for i, site in enumerate(layout.site_dirs):
        cmd += ["--ro-bind", str(site), f"/sandbox/site{i}"]
    cmd += ["--ro-bind", str(RUNNER), INSIDE_RUNNER]
    cmd += ["--ro-bind", str(inputs), INSIDE_INPUTS]
    inside_mounts = []
    if mounts:  # bubblewrap would create the parent 0700, closed to the sandbox uid
        cmd += ["--perms", "0755", "--dir", INSIDE_DATA]
    for name, host in mounts:
        cmd += ["--ro-bind", host, f"{INSIDE_DATA}/{name}"]
        inside_mounts.append((name, f"{INSIDE_DATA}/{name}"))
    cmd += ["--size", str(limits.tmp_bytes), "--perms", "1777", "--tmpfs", INSIDE_WORK]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    cmd += ["--chdir", INSIDE_WORK, "--clearenv"]
    for key, value in sandbox_environment(INSIDE_WORK, gpu).items():
        cmd += ["--setenv", key, value]
    python = f"{INSIDE_PYTHON}/{layout.executable.relative_to(layout.prefix)}"
    sites = [f"/sandbox/site{i}" for i in range(len(layout.site_dirs))]
    return cmd + ["--", python, "-I", "-S", "-B", INSIDE_RUNNER] + runner_arguments(
        inputs=INSIDE_INPUTS, workdir=INSIDE_WORK, sites=sites, limits=limits, uid=uid,
        results_fd=results_fd, mounts=tuple(inside_mounts),
    )


@dataclass(frozen=True)
class PrivateCopy:
    """The fallback's private folder (mode 0700, the sandbox uid's): what the runner needs."""

    root: Path
    runner: Path  # a copy of runner.py: the kit itself may stay closed to the sandbox uid
    inputs: Path  # the inputs, linked or copied, read-only
    workdir: Path  # the only place the sandbox may write


def make_private_copy(root: Path, inputs: Path, uid: int | None) -> PrivateCopy:
    """Fill ``root`` (an empty folder of ours) for a fallback run as ``uid`` (None: our own)."""
    copy = PrivateCopy(root, root / "runner.py", root / "in", root / "work")
    shutil.copyfile(RUNNER, copy.runner)
    copy.runner.chmod(0o444)
    copy.inputs.mkdir()
    for item in inputs.iterdir():
        target = copy.inputs / item.name
        try:
            os.link(item, target)  # same file system: no bytes copied
        except OSError:
            shutil.copy2(item, target)
            target.chmod(0o444)
    copy.inputs.chmod(0o555)
    copy.workdir.mkdir(mode=0o700)
    if uid is not None:
        os.chown(copy.workdir, uid, uid)
        os.chown(root, uid, uid)  # the sandbox uid may enter; no other uid may
    root.chmod(0o700)
    return copy


def fallback_command(
    *, layout: PythonLayout, copy: PrivateCopy, limits: Limits, uid: int | None,
    results_fd: int, mounts: tuple[tuple[str, str], ...] = (),
) -> list[str]:
    """The runner started directly, from its private copy, as ``uid`` (root only)."""
    sites = [str(s) for s in layout.site_dirs]
    return [str(layout.executable), "-I", "-S", "-B", str(copy.runner)] + runner_arguments(
        inputs=str(copy.inputs), workdir=str(copy.workdir), sites=sites, limits=limits, uid=uid,
        results_fd=results_fd, mounts=mounts,
    )


def fallback_read_only(layout: PythonLayout, copy: PrivateCopy,
                       mounts: tuple[tuple[str, str], ...]) -> list[str]:
    """What Landlock lets the fallback read (and execute), besides the system directories."""
    return [str(layout.prefix), *map(str, layout.site_dirs), str(copy.runner), str(copy.inputs),
            *(host for _, host in mounts)]


def sandbox_environment(home: str, gpu: GpuAccess | None = None) -> dict[str, str]:
    threads = "1"  # one BLAS thread: predictable CPU use and address space per submission
    return {**(gpu_environment(gpu) if gpu is not None else {}),
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "OPENBLAS_NUM_THREADS": threads,
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": home,
        "TMPDIR": home,  # without bubblewrap /tmp is closed (Landlock); the workdir is private
    }


def sandbox_uid_can_run(layout: PythonLayout, uid: int) -> bool:
    """Can ``uid`` read the interpreter's files? (Not when Python lives under /root, 0700.)

    Only matters without bubblewrap, which mounts them at neutral paths instead. (The
    runner itself is copied into the sandbox's private folder, so the kit may stay closed.)
    """
    return _uid_can_read(
        (str(layout.executable), str(layout.prefix / "lib"), *map(str, layout.site_dirs)), uid
    )


def uid_can_read_tree(path: Path, uid: int) -> bool:
    """Can ``uid`` list ``path`` and read the files right under it?"""
    files = sorted(p for p in path.glob("*/*") if p.is_file())[:3] if path.is_dir() else []
    return _uid_can_read((str(path), *map(str, files)), uid)


@functools.lru_cache(maxsize=8)
def _uid_can_read(paths: tuple[str, ...], uid: int) -> bool:
    child = os.fork()
    if child == 0:
        ok = False
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            ok = all(os.access(p, os.R_OK) for p in paths)
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status) == 0


def runner_arguments(
    *, inputs: str, workdir: str, sites: list[str], limits: Limits, uid: int | None, results_fd: int,
    mounts: tuple[tuple[str, str], ...] = (),
) -> list[str]:
    args = [
        "--in", inputs,
        "--workdir", workdir,
        "--results-fd", str(results_fd),
        "--load-seconds", str(limits.load_seconds),
        "--call-seconds", str(limits.call_seconds),
    ]
    if uid is not None:
        args += ["--uid", str(uid), "--gid", str(uid), "--nproc", str(limits.processes)]
    for site in sites:
        args += ["--site", site]
    for name, path in mounts:
        args += ["--data", f"{name}={path}"]
    return args


@functools.lru_cache(maxsize=1)
def probe_bubblewrap() -> tuple[bool, str]:
    """Can bubblewrap start a sandbox here? Returns (usable, reason when not)."""
    bwrap = bwrap_path()
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not installed"
    if not sys.platform.startswith("linux"):
        return False, f"bubblewrap needs Linux, this is {sys.platform}"
    layout = PythonLayout.current()
    cmd = [bwrap, "--die-with-parent", "--unshare-ipc", "--unshare-pid", "--unshare-net"]
    if not running_as_root():
        cmd += ["--unshare-user"]
    cmd += _root_binds() + ["--proc", "/proc", "--dev", "/dev"]
    cmd += ["--ro-bind", str(layout.prefix), INSIDE_PYTHON]
    python = f"{INSIDE_PYTHON}/{layout.executable.relative_to(layout.prefix)}"
    cmd += ["--", python, "-I", "-S", "-c", "pass"]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap could not start: {exc}"
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        return False, "bubblewrap could not start: " + (message[-1] if message else "unknown error")
    return True, ""
