"""Start the runner, enforce limits, collect its result stream, and always clean up.

The grader reads two pipes (results on fd 3, the submission's stdout/stderr merged)
with byte caps, kills the whole process tree at the wall-clock deadline (through its
cgroup, see ``confinement``), and reaps with ``wait4`` to learn the CPU time actually
used. While it runs, the tree's run-queue delays are sampled (``starvation``). Nothing read here is trusted;
``protocol.parse_records`` validates the results afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..kit_folders import SOLUTIONS_DIR
from . import isolation, landlock
from .confinement import Confinement, kill_group
from .gpu import GpuAccess
from .limits import Limits
from .starvation import SAMPLE_SECONDS, RunQueueSampler, starved

DRAIN_SECONDS = 1.0  # how long to keep reading after the process ended or was killed


@dataclass(frozen=True)
class SandboxSettings:
    """How to run submissions.

    limits:    None means the assignment's own limits (or the defaults).
    isolation: "auto" (bubblewrap when it works; else, as root, the fallback with a warning,
               and as a normal user a refusal), "bubblewrap" (refuse to grade without it)
               or "none" (the fallback: limits, Landlock, seccomp, cgroup; no namespaces).
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
    # Binary and SI sizes, in any case: a TA's "8GB" or "8gib" means what it says.
    units = {"kib": 1024, "mib": 1024**2, "gib": 1024**3, "kb": 1000, "mb": 1000**2, "gb": 1000**3}
    unit = next((u for u in units if value.lower().endswith(u)), "")
    try:
        amount = float(value[:len(value) - len(unit)]) * units.get(unit, 1)
    except ValueError:
        raise ValueError(f"--limit {name}: {value!r} is not a number (sizes: 512MiB, 8GiB or 8GB)") from None
    return name, (int(amount) if field.type in (int, "int") else amount)


class IsolationUnavailable(RuntimeError):
    """bubblewrap was required but cannot run here, or the fallback would not be safe."""


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
    """Returns (use bubblewrap, warning to show when not).

    Without bubblewrap a root grader still runs each submission as its own leased uid
    (plus Landlock, seccomp and a cgroup where the kernel has them). A non-root grader
    cannot switch uids: the submission would run as the TA, able to signal and read what
    the TA can wherever Landlock is missing, so it is refused unless ``--isolation none``.
    """
    if settings.isolation == "none":
        warning = ("isolation disabled (--isolation none): no namespaces; submissions run with "
                   "resource limits only, plus Landlock, seccomp and a cgroup where the kernel allows")
    else:
        usable, reason = isolation.probe_bubblewrap()
        if usable:
            return True, ""
        if settings.isolation == "bubblewrap":
            raise IsolationUnavailable(reason)
        if not isolation.running_as_root():
            raise IsolationUnavailable(
                f"{reason}, and this grader is not root, so submissions would run as your own user "
                f"(uid {os.getuid()}), next to your files and processes. Install bubblewrap "
                f"(apt-get install bubblewrap), grade as root, or pass --isolation none to run them "
                f"anyway with resource limits, Landlock and seccomp only"
            )
        warning = f"{reason}; submissions run with resource limits only, NOT isolated"
    layout = isolation.PythonLayout.current()
    if landlock.abi_version() < 1:
        warning += "; " + _without_landlock(isolation.running_as_root())
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


def _without_landlock(root: bool) -> str:
    """What the fallback cannot hide on a kernel without Landlock, in words."""
    who = "the sandbox uid" if root else "submissions (running as you)"
    readable = (isolation.uid_can_read_tree(SOLUTIONS_DIR, isolation.sandbox_uid(0)) if root
                else os.access(SOLUTIONS_DIR, os.R_OK | os.X_OK))
    if readable:
        return (f"this kernel has no Landlock, so {who} can READ the hidden tests and reference "
                f"solutions in {SOLUTIONS_DIR}: chmod 700 that folder, or install bubblewrap")
    return f"this kernel has no Landlock: {who} see the file system as that uid may"


def run_runner(inputs: Path, settings: SandboxSettings, *, worker: int = 0,
               mounts: tuple[tuple[str, str], ...] = (), gpu: GpuAccess | None = None,
               layout: isolation.PythonLayout | None = None) -> RunOutcome:
    """Run the runner over the prepared ``inputs`` directory under all limits.

    ``worker``: which sandbox uid to try first (a hint; the uid is leased, never shared).
    ``mounts``: ((name, host folder), ...) the probes may read, read-only.
    ``gpu``: GPU device nodes and driver libraries to add (``sandbox.gpu``); ``layout``:
    another interpreter to run the runner with (e.g. one with CUDA torch), bound read-only
    like the kit's own.
    """
    limits = settings.resolved_limits()
    use_bwrap, _ = resolve_isolation(settings)
    layout = layout or isolation.PythonLayout.current()
    with Confinement(limits=limits, use_bwrap=use_bwrap, inputs=inputs, worker=worker,
                     mounts=mounts, layout=layout, gpu=gpu) as confined:
        results_r, results_w = os.pipe()
        try:
            proc, started = _start(confined, inputs, limits, layout, results_w, mounts)
        except BaseException:
            os.close(results_r)
            raise
        finally:
            os.close(results_w)  # the child holds its own copy; EOF comes when it is gone
        return _finish(proc, results_r, limits, started, confined)  # closes results_r


def _start(confined: Confinement, inputs, limits, layout, results_w, mounts):
    common = dict(limits=limits, uid=confined.uid, results_fd=results_w, mounts=mounts)
    if confined.use_bwrap:
        seccomp_fd = confined.pass_fds[0] if confined.pass_fds else None
        cmd = isolation.bubblewrap_command(bwrap=isolation.bwrap_path(), layout=layout, inputs=inputs,
                                           seccomp_fd=seccomp_fd, gpu=confined.gpu, **common)
        env, cwd = None, None
    else:
        cmd = isolation.fallback_command(layout=layout, copy=confined.copy, **common)
        env = isolation.sandbox_environment(str(confined.copy.workdir), confined.gpu)
        cwd = confined.copy.workdir
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        pass_fds=(results_w, *confined.pass_fds),
        env=env,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=confined.child_setup(),
    )
    return proc, started


def _finish(proc, results_r, limits: Limits, started: float, confined: Confinement) -> RunOutcome:
    sampler = RunQueueSampler()
    try:
        collected = _collect(proc, results_r, limits, started,
                             sample=lambda: sampler.sample(confined.threads(proc.pid)))
    except BaseException:  # e.g. Ctrl-C: the submission must not outlive the grader's attention
        confined.kill_all(proc.pid, set(sampler.seen))
        raise
    status, rusage = collected.pop("wait")
    wall = time.monotonic() - started
    confined.kill_all(proc.pid, set(sampler.seen))
    cpu = rusage.ru_utime + rusage.ru_stime if rusage else 0.0
    box_cpu = confined.cpu_seconds()
    return RunOutcome(
        results=collected["results"],
        log=collected["log"],
        timed_out=collected["timed_out"],
        cpu_limited=_stopped_by_cpu_limit(status, cpu, limits),
        results_overflow=collected["overflow"],
        exit_status=status,
        wall_seconds=wall,
        cpu_seconds=cpu,
        isolated=confined.use_bwrap,
        memory_exceeded=confined.memory_exceeded(),
        starved=starved(timed_out=collected["timed_out"], wall=wall, waited=sampler.waited_seconds(),
                        ran=box_cpu if box_cpu is not None else sampler.ran_seconds(),
                        throttled=confined.throttled_seconds()),
        isolation=confined.describe(),
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


def _collect(proc: subprocess.Popen, results_fd: int, limits: Limits, started: float,
             sample=lambda: None) -> dict:
    """Read both pipes until the runner is gone (or the deadline); ``sample`` runs every
    ``SAMPLE_SECONDS`` meanwhile (the starvation figures)."""
    deadline = started + limits.wall_seconds
    next_sample = started + SAMPLE_SECONDS
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
            if now >= next_sample and wait is None:
                sample()
                next_sample = now + SAMPLE_SECONDS
            if wait is None:
                pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    wait = (status, rusage)
                    stop_at = min(deadline, now + DRAIN_SECONDS)
            if now >= deadline and wait is None:
                timed_out = True
                sample()  # the last figures before the kill
                kill_group(proc.pid)
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
                        kill_group(proc.pid)
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
        kill_group(proc.pid)
        _, status, rusage = os.wait4(proc.pid, 0)
        wait = (status, rusage)
    proc.returncode = os.waitstatus_to_exitcode(wait[0])
    text = bytes(log[-limits.log_bytes :]).decode("utf-8", errors="replace")
    return {"results": bytes(results), "log": text, "timed_out": timed_out,
            "overflow": overflow, "wait": wait}

