"""One cgroup per sandbox: memory, process count and CPU of the whole process tree.

Rlimits bind one process at a time: ten forked children may each use the full
RLIMIT_AS, and a child that calls ``setsid()`` leaves the process group that is killed.
A cgroup holds every process the runner ever starts, whatever it does, so

    memory:  the tree's total (``memory.max`` / ``memory.limit_in_bytes``, swap included
             where the kernel accounts it) ends with the kernel's OOM killer, recorded
             (``memory.events`` / ``memory.oom_control``: oom_kill) as ``memory_exceeded``;
    pids:    ``pids.max`` bounds fork bombs without touching another box's budget;
    cpu:     a quota of ``cpus`` CPUs (``cpu.max`` / ``cpu.cfs_quota_us``) and equal weights,
             so a tree of spinning children gets one CPU, never its neighbour's;
    kill:    ``cgroup.kill`` (v2), else SIGKILL to every member until none is left (forks
             blocked first by ``pids.max = 0``); then the cgroup is removed.

Both hierarchies are supported: v2 (one tree, controllers enabled in the parent's
``cgroup.subtree_control``) and v1 (one tree per controller, e.g. ``/sys/fs/cgroup/memory``).
Boxes are created below the grader's own cgroup, so the limits of the grader's machine
or container still bind them (on v2, where that cgroup holds processes and so may not hand
out controllers, below the hierarchy's root instead), and are named ``autograder-box-<pid>-<start>-<n>`` after
the grader that made them: a later grader removes those whose grader is gone.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "autograder-box-"
CPU_PERIOD_US = 100_000
V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct")
REQUIRED = ("memory", "pids")
KILL_SECONDS = 5.0


@dataclass(frozen=True)
class BoxLimits:
    memory_bytes: int
    processes: int
    cpus: float = 1.0


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read(path: Path) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _ids(path: Path) -> list[int]:
    return [int(line) for line in _read(path).split() if line.isdigit()]


def _key_value(text: str, key: str) -> int | None:
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


class Box:
    """A sandbox's cgroup: one directory (v2) or one per controller (v1)."""

    version = ""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs  # controller -> directory ("" for the single v2 directory)

    def _unique_dirs(self) -> list[Path]:
        return list(dict.fromkeys(self.dirs.values()))

    def join_fds(self) -> list[int]:
        """Open ``cgroup.procs`` of each directory; the child writes ``0`` to each to join."""
        fds = []
        try:
            for d in self._unique_dirs():
                fds.append(os.open(d / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC))
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        return fds

    def procs(self) -> list[int]:
        return sorted({pid for d in self._unique_dirs() for pid in _ids(d / "cgroup.procs")})

    def threads(self) -> list[int]:
        raise NotImplementedError

    def cpu_seconds(self) -> float | None:
        raise NotImplementedError

    def memory_exceeded(self) -> bool:
        raise NotImplementedError

    def throttled_seconds(self) -> float:
        """How long its own CPU quota held the box back (cpu.stat)."""
        where = self.dirs.get("cpu")
        if where is None:
            return 0.0
        stat = _read(where / "cpu.stat")
        usec = _key_value(stat, "throttled_usec")  # v2
        if usec is not None:
            return usec / 1e6
        return (_key_value(stat, "throttled_time") or 0) / 1e9  # v1, ns

    def _stop_forks(self) -> None:
        limit = self.dirs["pids"] / "pids.max"
        if limit.exists():  # (a stale box is known only by a directory that may lack it)
            try:
                _write(limit, "0")
            except OSError:
                pass

    def kill(self, seconds: float = KILL_SECONDS, sleep=time.sleep) -> bool:
        """SIGKILL every member until the cgroup is empty; False if some survived ``seconds``."""
        self._stop_forks()
        deadline = time.monotonic() + seconds
        while True:
            members = self.procs()
            if not members:
                return True
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if time.monotonic() > deadline:
                return False
            sleep(0.002)

    def remove(self, attempts: int = 50) -> bool:
        """rmdir each directory (a killed member may take a moment to leave)."""
        left = self._unique_dirs()
        for _ in range(attempts):
            still = []
            for d in left:
                try:
                    os.rmdir(d)
                except FileNotFoundError:
                    pass
                except OSError:
                    still.append(d)
            if not still:
                return True
            left = still
            time.sleep(0.002)
        return False

    def describe(self) -> str:
        return f"cgroup {self.version} ({', '.join(sorted(c for c in self.dirs if c != 'cpuacct'))})"


class BoxV2(Box):
    version = "v2"

    @property
    def path(self) -> Path:
        return self.dirs["memory"]

    @classmethod
    def create(cls, parent: Path, name: str, limits: BoxLimits, controllers: set[str]) -> BoxV2:
        path = parent / name
        path.mkdir(mode=0o755)
        box = cls({c: path for c in ("memory", "pids", "cpu") if c in controllers})
        try:
            _write(path / "memory.max", str(limits.memory_bytes))
            _write(path / "pids.max", str(limits.processes))
            for optional, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
                if (path / optional).exists():  # swap accounting / group OOM may be absent
                    _write(path / optional, value)
            if "cpu" in controllers:
                _write(path / "cpu.max", f"{int(limits.cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}")
                _write(path / "cpu.weight", "100")
        except BaseException:
            box.remove(attempts=1)
            raise
        return box

    def threads(self) -> list[int]:
        return _ids(self.path / "cgroup.threads")

    def cpu_seconds(self) -> float | None:
        usage = _key_value(_read(self.path / "cpu.stat"), "usage_usec")
        return None if usage is None else usage / 1e6

    def memory_exceeded(self) -> bool:
        return (_key_value(_read(self.path / "memory.events"), "oom_kill") or 0) > 0

    def kill(self, seconds: float = KILL_SECONDS, sleep=time.sleep) -> bool:
        if (self.path / "cgroup.kill").exists():
            try:
                _write(self.path / "cgroup.kill", "1")  # atomic: no fork escapes it
            except OSError:
                pass
        return super().kill(seconds, sleep)


class BoxV1(Box):
    version = "v1"

    @classmethod
    def create(cls, parents: dict[str, Path], name: str, limits: BoxLimits) -> BoxV1:
        dirs: dict[str, Path] = {}
        box = cls(dirs)
        try:
            for controller, parent in parents.items():
                path = parent / name
                if path not in dirs.values():
                    path.mkdir(mode=0o755)
                dirs[controller] = path
            memory = dirs["memory"]
            _write(memory / "memory.limit_in_bytes", str(limits.memory_bytes))
            if (memory / "memory.memsw.limit_in_bytes").exists():  # memory + swap: no swapping out
                _write(memory / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
            _write(dirs["pids"] / "pids.max", str(limits.processes))
            if "cpu" in dirs:
                _write(dirs["cpu"] / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                _write(dirs["cpu"] / "cpu.cfs_quota_us", str(int(limits.cpus * CPU_PERIOD_US)))
                _write(dirs["cpu"] / "cpu.shares", "1024")
        except BaseException:
            box.remove(attempts=1)
            raise
        return box

    def threads(self) -> list[int]:
        return _ids(self.dirs["pids"] / "tasks")

    def cpu_seconds(self) -> float | None:
        where = self.dirs.get("cpuacct")
        text = _read(where / "cpuacct.usage").strip() if where else ""
        return int(text) / 1e9 if text.isdigit() else None

    def memory_exceeded(self) -> bool:
        memory = self.dirs["memory"]
        kills = _key_value(_read(memory / "memory.oom_control"), "oom_kill")
        if kills is not None:
            return kills > 0
        failures = _read(memory / "memory.failcnt").strip()  # kernels before 4.13
        return failures.isdigit() and int(failures) > 0


# --- where boxes go ---------------------------------------------------------------------


@dataclass(frozen=True)
class Hierarchy:
    """Where this grader may create boxes: v2 (one parent) or v1 (a parent per controller).

    v2's rule "no processes in a cgroup that hands controllers to children" means the
    grader's own cgroup (a login session's scope, say) usually cannot be the parent; then
    the hierarchy's root, which is exempt, is the next candidate (``fallback``).
    """

    version: str
    parents: dict[str, Path]  # controller -> parent directory (the grader's own cgroup)
    controllers: frozenset[str]
    fallback: Path | None = None  # v2: the mount's root, when it is not our own cgroup


def _mounts(mounts_text: str) -> list[tuple[str, str, set[str]]]:
    out = []
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
            out.append((fields[2], fields[1].replace("\\040", " "), set(fields[3].split(","))))
    return out


def _own_paths(cgroup_text: str) -> dict[str, str]:
    """'/proc/self/cgroup' -> {controller: path}, with '' for the v2 entry ('0::/path')."""
    own = {}
    for line in cgroup_text.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    return own


def _inside(mount: str, path: str) -> Path:
    return Path(mount) / path.lstrip("/")


def find_hierarchy(mounts_text: str | None = None, cgroup_text: str | None = None) -> tuple[Hierarchy | None, str]:
    """The hierarchy to use, or None with the reason there is none (texts: for tests)."""
    mounts = _mounts(_read(Path("/proc/self/mounts")) if mounts_text is None else mounts_text)
    own = _own_paths(_read(Path("/proc/self/cgroup")) if cgroup_text is None else cgroup_text)
    for kind, mount, _ in mounts:
        if kind == "cgroup2" and "" in own:
            parent = _inside(mount, own[""])
            available = set(_read(parent / "cgroup.controllers").split())
            if all(c in available for c in REQUIRED):
                wanted = available & {"memory", "pids", "cpu"}
                root = Path(mount)
                return Hierarchy("v2", {c: parent for c in wanted}, frozenset(wanted),
                                 fallback=None if parent == root else root), ""
    parents = {}
    for kind, mount, options in mounts:
        if kind != "cgroup":
            continue
        for controller in V1_CONTROLLERS:
            if controller in options and controller in own and controller not in parents:
                parents[controller] = _inside(mount, own[controller])
    if all(c in parents for c in REQUIRED):
        return Hierarchy("v1", parents, frozenset(parents)), ""
    return None, "no cgroup hierarchy with the memory and pids controllers"


_sequence = itertools.count()
_cleaned: set[Path] = set()
_clean_lock = threading.Lock()
_NAME = re.compile(re.escape(PREFIX) + r"(\d+)-(\d+)-\d+$")


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat: tells a live grader from a new process with its old pid."""
    text = _read(Path(f"/proc/{pid}/stat"))
    return text.rsplit(")", 1)[1].split()[19] if ")" in text else None


def box_name() -> str:
    pid = os.getpid()
    return f"{PREFIX}{pid}-{_start_time(pid) or 0}-{next(_sequence)}"


def _enable_v2_controllers(parent: Path, controllers: frozenset[str]) -> None:
    enabled = set(_read(parent / "cgroup.subtree_control").split())
    missing = [c for c in sorted(controllers) if c not in enabled]
    if missing:  # refused (EBUSY) where the parent holds processes and is not the root
        _write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))


def create_box(limits: BoxLimits, hierarchy: Hierarchy) -> Box:
    """A new, empty box with the limits written; raises OSError where that is not allowed."""
    if hierarchy.version == "v2":
        parent = next(iter(hierarchy.parents.values()))
        try:
            _enable_v2_controllers(parent, hierarchy.controllers)
        except OSError:
            if hierarchy.fallback is None:
                raise
            parent = hierarchy.fallback
            _enable_v2_controllers(parent, hierarchy.controllers)
        remove_stale([parent])
        return BoxV2.create(parent, box_name(), limits, set(hierarchy.controllers))
    remove_stale(list(hierarchy.parents.values()))
    return BoxV1.create(hierarchy.parents, box_name(), limits)


def remove_stale(parents: list[Path]) -> int:
    """Kill and remove boxes left by graders that are gone (once per parent per process)."""
    with _clean_lock:
        todo = [p for p in dict.fromkeys(parents) if p not in _cleaned]
        _cleaned.update(todo)
    removed = 0
    for parent in todo:
        try:
            entries = list(os.scandir(parent))
        except OSError:
            continue
        for entry in entries:
            match = _NAME.match(entry.name)
            if not match or not entry.is_dir(follow_symlinks=False):
                continue
            pid, start = int(match.group(1)), match.group(2)
            if _start_time(pid) == start:
                continue  # its grader is alive (maybe another class graded right now)
            stale = Box({"pids": Path(entry.path)})
            stale.kill(seconds=1.0)
            removed += stale.remove()
    return removed
