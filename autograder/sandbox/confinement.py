"""Everything that confines one sandboxed run, set up before it starts and undone after.

    uid      a lease from ``uids`` (root only): no other box on the machine has it
    cgroup   a box from ``cgroups``: memory, pids and CPU of the whole tree; the kill switch
    seccomp  the filter from ``seccomp``: bubblewrap installs it (``--seccomp FD``), the
             fallback installs it itself between fork and exec
    landlock (fallback only) the ruleset from ``landlock``, over a private copy of the
             runner and its inputs (``isolation.make_private_copy``)

``child_setup`` is what the forked child runs before it execs bubblewrap or the runner:
rlimits, join the cgroup, restrict itself with Landlock, install seccomp, in that order
(the cgroup files are closed to it once Landlock is on). Every object it touches is
built beforehand, so nothing is allocated or looked up between fork and exec.

``describe`` says in words which protections were active, for ``RunOutcome.isolation``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import signal
from pathlib import Path

from ..machine.tempdirs import kit_tempdir
from . import cgroups, isolation, landlock, seccomp, uids
from . import gpu as gpu_access
from .limits import Limits


@functools.cache  # mounts and our own cgroup do not change while we run
def _hierarchy() -> tuple[cgroups.Hierarchy | None, str]:
    return cgroups.find_hierarchy()


class Confinement(contextlib.ExitStack):
    """Use as ``with Confinement(...) as c:``; leaving the block kills and removes everything."""

    def __init__(self, *, limits: Limits, use_bwrap: bool, inputs: Path, worker: int,
                 mounts: tuple[tuple[str, str], ...], layout: isolation.PythonLayout,
                 gpu: gpu_access.GpuAccess | None = None) -> None:
        super().__init__()
        self.limits, self.use_bwrap, self.inputs, self.worker = limits, use_bwrap, inputs, worker
        self.mounts, self.layout, self.gpu = mounts, layout, gpu
        self.root = isolation.running_as_root()
        self.uid: int | None = None
        self.box: cgroups.Box | None = None
        self.box_note = ""
        self.filter: seccomp.Filter | None = None
        self.filter_note = ""
        self.ruleset: landlock.Ruleset | None = None
        self.copy: isolation.PrivateCopy | None = None
        self.pass_fds: list[int] = []
        self._join_fds: list[int] = []
        self.nproc: int | None = None

    def __enter__(self) -> Confinement:
        super().__enter__()
        try:
            self._set_up()
        except BaseException:
            self.close()
            raise
        return self

    def _set_up(self) -> None:
        if self.root:
            self.uid = self.enter_context(uids.lease_uid(self.worker)).uid
        else:  # RLIMIT_NPROC counts all of the caller's processes: leave room for them
            self.nproc = _own_process_count() + self.limits.processes
        keep_private(self.inputs, self.uid)
        self._open_box()
        self.filter, self.filter_note = seccomp.sandbox_filter()
        if self.use_bwrap:
            if self.filter is not None:
                fd = self.filter.as_fd()
                self.callback(os.close, fd)
                self.pass_fds.append(fd)
            return
        private = Path(self.enter_context(kit_tempdir("box")))  # owner-tagged: swept after a kill
        self.copy = isolation.make_private_copy(private, self.inputs, self.uid)
        gpu = self.gpu or gpu_access.GpuAccess()
        self.ruleset = landlock.build_ruleset(
            read_only=(*landlock.SYSTEM_READ_ONLY, *isolation.fallback_read_only(self.layout, self.copy,
                                                                                  self.mounts),
                       *gpu_access.landlock_read_only(gpu)),
            read_write=[self.copy.workdir],
            ioctl_devices=gpu.device_nodes,
        )
        if self.ruleset is not None:
            self.callback(self.ruleset.close)

    def _open_box(self) -> None:
        hierarchy, why = _hierarchy()
        if hierarchy is None:
            self.box_note = why
            return
        wanted = cgroups.BoxLimits(self.limits.memory_bytes, self.limits.processes, cpus=1.0)
        try:
            self.box = cgroups.create_box(wanted, hierarchy)
        except OSError as exc:
            self.box_note = f"cannot create a {hierarchy.version} cgroup ({exc.strerror or exc})"
            return
        self.callback(self._kill_and_remove_box)  # whatever happened: nothing outlives the block
        self._join_fds = self.box.join_fds()
        for fd in self._join_fds:
            self.callback(os.close, fd)

    def _kill_and_remove_box(self) -> None:
        self.box.kill()  # one read of cgroup.procs when kill_all has already emptied it
        self.box.remove()

    # --- in the child, between fork and exec -----------------------------------------------

    def child_setup(self):
        limits, nproc, join = self.limits, self.nproc, list(self._join_fds)
        cpu = int(limits.cpu_seconds + 0.999)
        address_space = limits.address_space_bytes or limits.memory_bytes
        ruleset, filter_ = self.ruleset, (None if self.use_bwrap else self.filter)

        def setup() -> None:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
            resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if nproc is not None:
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
            for fd in join:
                os.write(fd, b"0")  # "0": the writing process itself
            if ruleset is not None:
                ruleset.restrict()
            if filter_ is not None:
                filter_.install()

        return setup

    # --- afterwards ------------------------------------------------------------------------

    def threads(self, pid: int) -> list[int]:
        """The tasks to sample for starvation: the cgroup's, else the runner's own threads."""
        if self.box is not None:
            return self.box.threads()
        try:
            return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            return []

    def kill_all(self, pid: int, known: set[int] = frozenset()) -> None:
        """Kill the whole tree: through the cgroup, else the process group and its descendants."""
        kill_group(pid)
        if self.box is not None:
            self.box.kill()
            return
        if self.uid is not None:  # the uid is leased to this box alone: all of its processes at once
            kill_uid(self.uid)
        for _ in range(3):  # without a cgroup: what /proc still links to the runner
            left = _descendants({pid, *known}) - {os.getpid()}
            if self.uid is not None:  # the uid is leased to this box alone: its processes are ours
                left |= _processes_of(self.uid)
            if not left:
                return
            for other in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(other, signal.SIGKILL)

    def memory_exceeded(self) -> bool:
        return self.box is not None and self.box.memory_exceeded()

    def cpu_seconds(self) -> float | None:
        return self.box.cpu_seconds() if self.box is not None else None

    def throttled_seconds(self) -> float:
        return self.box.throttled_seconds() if self.box is not None else 0.0

    def describe(self) -> str:
        parts = ["bubblewrap" if self.use_bwrap else "fallback without namespaces"]
        if not self.use_bwrap:
            parts.append(f"landlock abi {self.ruleset.abi}" if self.ruleset is not None
                         else "NO landlock (kernel lacks it): the file system is as the uid sees it")
        parts.append("seccomp" if self.filter is not None else f"NO seccomp ({self.filter_note})")
        parts.append(self.box.describe() if self.box is not None
                     else f"NO cgroup ({self.box_note}): per-process rlimits only")
        parts.append(f"uid {self.uid}" if self.uid is not None else "the grader's own uid")
        if self.gpu is not None:
            parts.append(self.gpu.describe())
        return ", ".join(parts)


def kill_group(pid: int) -> None:
    """SIGKILL the process group the runner leads (a first sweep; the cgroup is the sure one)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def keep_private(inputs: Path, uid: int | None) -> None:
    """Let only the box read its inputs: group ``uid`` (the runner's gid), nothing for others.

    They hold the submission's code and the hidden arguments; world-readable (0755 / 0644, as
    written), any uid could read them while the box ran: a neighbouring box in the fallback
    without Landlock (which then ran the neighbour's cells as its own), or any local user.
    Without a uid of its own the runner is the grader's uid, which owns them."""
    if not inputs.is_dir():
        return  # nothing to protect (the runner will say it has no inputs)
    shared, folder = (0o640, 0o750) if uid is not None else (0o600, 0o700)
    for path in [*inputs.iterdir(), inputs]:
        if uid is not None:
            os.chown(path, -1, uid, follow_symlinks=False)
        os.chmod(path, folder if path.is_dir() else shared)


KILL_UID_TRIES = 20
# One pass reaches every process (forks wait for it, and a process sent SIGKILL cannot fork);
# a second costs nothing.
KILL_PASSES = 2


def kill_uid(uid: int, tries: int = KILL_UID_TRIES) -> bool:
    """SIGKILL every process of ``uid`` with ``kill(-1)`` sent as that uid; False if the sender
    was itself killed every time it tried.

    A sweep that lists processes and kills each one races with a tree that keeps forking: a
    child forked after the listing lives on. ``kill(-1)`` reaches every process the sender may
    signal in one pass, and a process that has been sent SIGKILL can no longer fork. The
    sender is a child of ours that becomes ``uid`` for just that (it can then signal only
    ``uid``'s processes, never the grader's); where the kernel lets the box's processes signal
    it (no Landlock signal scoping), one of them may kill it first, so it is sent again.
    """
    for _ in range(tries):
        child = os.fork()
        if child == 0:  # only system calls until _exit: the parent may have other threads
            code = 1
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                for _ in range(KILL_PASSES):  # zombies count, so "none left" may never come
                    os.kill(-1, signal.SIGKILL)
                code = 0
            except ProcessLookupError:
                code = 0  # nothing left to signal
            finally:
                os._exit(code)
        try:
            _, status = os.waitpid(child, 0)
        except ChildProcessError:  # reaped elsewhere: its outcome is unknown, send again
            continue
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            return True
    return False


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, real uid) for every process we can see.

    (From /proc/<pid>/status: the owner of /proc/<pid> is root for a process that switched
    uids without exec'ing since, as the runner does.)
    """
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                fields = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
            table[int(entry.name)] = (int(fields["PPid"]), int(fields["Uid"].split()[0]))
        except (OSError, ValueError, KeyError, IndexError):
            continue
    return table


def _descendants(roots: set[int]) -> set[int]:
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def _processes_of(uid: int) -> set[int]:
    return {pid for pid, (_, owner) in _proc_table().items() if owner == uid}


def _own_process_count() -> int:
    """Our uid's processes (a stat per entry: for a non-root grader the owner is exact)."""
    uid, count = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                count += entry.stat().st_uid == uid
    return count
