"""Start the runner, enforce limits, collect its result stream, and always clean up.

The grader reads two pipes (results on fd 3, the submission's stdout/stderr merged)
with byte caps, kills the whole process tree at the wall-clock deadline, and reaps
with ``wait4`` to learn the CPU time actually used. Nothing read here is trusted;
``protocol.parse_records`` validates the results afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import selectors
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import isolation
from .limits import Limits

DRAIN_SECONDS = 1.0  # how long to keep reading after the process ended or was killed


@dataclass(frozen=True)
class SandboxSettings:
    """How to run submissions.

    limits:    None means the assignment's own limits (or the defaults).
    isolation: "auto" (bubblewrap when it works, else limits only, with a warning),
               "bubblewrap" (refuse to grade without it) or "none" (limits only).
    overrides: ((Limits field, value), ...) applied on top of whichever limits are used,
               e.g. a longer time limit for a slow course machine (``--limit``).
    """

    limits: Limits | None = None
    isolation: str = "auto"
    overrides: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.isolation not in ("auto", "bubblewrap", "none"):
            raise ValueError(f"isolation must be auto, bubblewrap or none, not {self.isolation!r}")
        for name, value in self.overrides:
            if name not in Limits.__dataclass_fields__:
                known = ", ".join(Limits.__dataclass_fields__)
                raise ValueError(f"unknown limit {name!r} (known: {known})")
            if not value > 0:
                raise ValueError(f"limit {name} must be positive, not {value!r}")

    def with_default_limits(self, limits: Limits | None) -> SandboxSettings:
        """These settings with their limits settled: the caller's own, else ``limits`` (the
        assignment's), with the overrides applied on top."""
        base = self.limits if self.limits is not None else limits
        if base is None and not self.overrides:
            return self
        return SandboxSettings(limits=_overridden(base or Limits(), self.overrides), isolation=self.isolation)

    def resolved_limits(self) -> Limits:
        """The limits a run uses: the settled ones, or the defaults, with any overrides."""
        return _overridden(self.limits or Limits(), self.overrides)


def _overridden(limits: Limits, overrides) -> Limits:
    return dataclasses.replace(limits, **dict(overrides)) if overrides else limits


def parse_limit(text: str) -> tuple[str, float]:
    """'wall_seconds=600' or 'memory_bytes=4GiB' -> (field, value) for ``overrides``."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep:
        raise ValueError(f"--limit wants NAME=VALUE (e.g. wall_seconds=600), got {text!r}")
    field = Limits.__dataclass_fields__.get(name)
    if field is None:
        raise ValueError(f"unknown limit {name!r} (known: {', '.join(Limits.__dataclass_fields__)})")
    units = {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
    factor = next((f for u, f in units.items() if value.endswith(u)), 1)
    try:
        amount = float(value[:-3] if factor != 1 else value) * factor
    except ValueError:
        raise ValueError(f"--limit {name}: {value!r} is not a number") from None
    return name, (int(amount) if field.type in (int, "int") else amount)


class IsolationUnavailable(RuntimeError):
    """bubblewrap was required but cannot run here."""


@dataclass
class RunOutcome:
    results: bytes
    log: str
    timed_out: bool
    cpu_limited: bool
    results_overflow: bool
    exit_status: int | None
    wall_seconds: float
    cpu_seconds: float
    isolated: bool
    # The whole process tree hit the sandbox's memory cap (its cgroup's OOM killer ran).
    memory_exceeded: bool = False
    # The run waited for a CPU far more than it ran: the machine was starved (the grader's
    # problem, not the student's), so a timeout here is retried or a grader_error.
    starved: bool = False
    # How the run was confined, in words for the instructor (e.g. "bubblewrap, cgroup v2").
    isolation: str = ""


def resolve_isolation(settings: SandboxSettings) -> tuple[bool, str]:
    """Returns (use bubblewrap, warning to show when not)."""
    if settings.isolation == "none":
        warning = "isolation disabled (--isolation none): submissions run with resource limits only"
    else:
        usable, reason = isolation.probe_bubblewrap()
        if usable:
            return True, ""
        if settings.isolation == "bubblewrap":
            raise IsolationUnavailable(reason)
        warning = f"{reason}; submissions run with resource limits only, NOT isolated"
    layout = isolation.PythonLayout.current()
    if isolation.running_as_root() and not isolation.sandbox_uid_can_run(layout, isolation.sandbox_uid(0)):
        # Without a sandbox the runner must switch to the unprivileged uid before student
        # code runs; if that uid cannot even read Python, the only way left would be to run
        # students' code as root, with the hidden material readable. Refuse instead.
        raise IsolationUnavailable(
            f"{warning}; and running as root, the unprivileged sandbox uid cannot read the Python "
            f"installation at {layout.prefix}, so submissions would run AS ROOT. Refusing: install "
            f"bubblewrap (apt-get install bubblewrap) or run the grader as a normal user"
        )
    return False, warning


def _limit_resources(limits: Limits, nproc: int | None):
    cpu = int(limits.cpu_seconds + 0.999)

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if nproc is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))

    return apply


def _own_process_count() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def run_runner(inputs: Path, settings: SandboxSettings, *, worker: int = 0,
               mounts: tuple[tuple[str, str], ...] = ()) -> RunOutcome:
    """Run the runner over the prepared ``inputs`` directory under all limits.

    ``mounts``: ((name, host folder), ...) the probes may read, read-only.
    """
    limits = settings.resolved_limits()
    use_bwrap, _ = resolve_isolation(settings)
    layout = isolation.PythonLayout.current()
    root = isolation.running_as_root()
    # Non-root: RLIMIT_NPROC counts all of the caller's processes, so leave room for them.
    nproc = None if root else _own_process_count() + limits.processes
    with tempfile.TemporaryDirectory(prefix="ag-work-") as workdir:
        results_r, results_w = os.pipe()
        try:
            proc, started = _start(inputs, limits, layout, use_bwrap, root, nproc, worker,
                                   workdir, results_w, mounts)
        except BaseException:
            os.close(results_r)
            raise
        finally:
            os.close(results_w)  # the child holds its own copy; EOF comes when it is gone
        return _finish(proc, results_r, limits, started, use_bwrap, worker)  # closes results_r


def _start(inputs, limits, layout, use_bwrap, root, nproc, worker, workdir, results_w, mounts):
    common = dict(inputs=inputs, limits=limits, worker=worker, results_fd=results_w, mounts=mounts)
    if use_bwrap:
        cmd = isolation.bubblewrap_command(bwrap=isolation.bwrap_path(), layout=layout, **common)
    else:
        if root:
            uid = isolation.sandbox_uid(worker)
            os.chown(workdir, uid, uid)
        cmd = isolation.fallback_command(layout=layout, workdir=Path(workdir), **common)
    env = None if use_bwrap else isolation.sandbox_environment(workdir)
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=(results_w,),
        env=env,
        start_new_session=True,
        preexec_fn=_limit_resources(limits, nproc),
    )
    return proc, started


def _finish(proc, results_r, limits: Limits, started: float, use_bwrap: bool, worker: int) -> RunOutcome:
    try:
        collected = _collect(proc, results_r, limits, started)
    except BaseException:  # e.g. Ctrl-C: the submission must not outlive the grader's attention
        _kill_everything(proc.pid, worker, use_bwrap)
        raise
    status, rusage = collected.pop("wait")
    _kill_everything(proc.pid, worker, use_bwrap)
    cpu = rusage.ru_utime + rusage.ru_stime if rusage else 0.0
    return RunOutcome(
        results=collected["results"],
        log=collected["log"],
        timed_out=collected["timed_out"],
        cpu_limited=_stopped_by_cpu_limit(status, cpu, limits),
        results_overflow=collected["overflow"],
        exit_status=status,
        wall_seconds=time.monotonic() - started,
        cpu_seconds=cpu,
        isolated=use_bwrap,
    )


def _stopped_by_cpu_limit(status: int | None, cpu: float, limits: Limits) -> bool:
    """RLIMIT_CPU ends a process with SIGXCPU; bubblewrap reports that as exit 128 + SIGXCPU.

    (Under bubblewrap the runner is not our direct child, so its CPU time is not in our
    rusage; the exit status is what tells. A submission can fake it, but only to change
    its own status word, never its points.)
    """
    if cpu >= limits.cpu_seconds * 0.98:
        return True
    if status is None:
        return False
    code = os.waitstatus_to_exitcode(status)
    return code in (-signal.SIGXCPU, 128 + signal.SIGXCPU)


def _collect(proc: subprocess.Popen, results_fd: int, limits: Limits, started: float) -> dict:
    deadline = started + limits.wall_seconds
    sel = selectors.DefaultSelector()
    log_fd = proc.stdout.fileno()
    sel.register(results_fd, selectors.EVENT_READ, "results")
    sel.register(log_fd, selectors.EVENT_READ, "log")
    results = bytearray()
    log = bytearray()
    timed_out = overflow = False
    wait = None
    stop_at = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if wait is None:
                pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    wait = (status, rusage)
                    stop_at = min(deadline, now + DRAIN_SECONDS)
            if now >= deadline and wait is None:
                timed_out = True
                _kill_group(proc.pid)
                stop_at = now + DRAIN_SECONDS
                deadline = float("inf")
            if stop_at is not None and now >= stop_at:
                break
            for key, _ in sel.select(timeout=0.05):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                if key.data == "results":
                    if len(results) + len(chunk) > limits.result_bytes:
                        overflow = True
                        _kill_group(proc.pid)
                        sel.unregister(key.fd)
                        continue
                    results += chunk
                else:
                    log += chunk
                    if len(log) > 2 * limits.log_bytes:
                        del log[: len(log) - limits.log_bytes]
    finally:
        sel.close()
        os.close(results_fd)
        proc.stdout.close()
    if wait is None:
        _kill_group(proc.pid)
        _, status, rusage = os.wait4(proc.pid, 0)
        wait = (status, rusage)
    proc.returncode = os.waitstatus_to_exitcode(wait[0])
    text = bytes(log[-limits.log_bytes :]).decode("utf-8", errors="replace")
    return {"results": bytes(results), "log": text, "timed_out": timed_out,
            "overflow": overflow, "wait": wait}


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_everything(pid: int, worker: int, use_bwrap: bool) -> None:
    """Whatever the submission left behind goes.

    With bubblewrap the PID namespace dies with its init; without it, a root grader
    also kills every process of the worker's sandbox uid (escapes via setsid included).
    """
    _kill_group(pid)
    if not use_bwrap and isolation.running_as_root():
        kill_uid(isolation.sandbox_uid(worker))


def kill_uid(uid: int) -> None:
    """SIGKILL every process owned by ``uid`` (a forked helper becomes that uid and kills -1)."""
    child = os.fork()
    if child == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            for _ in range(3):  # processes forking while we kill: repeat
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    break
        finally:
            os._exit(0)
    os.waitpid(child, 0)
