"""One cgroup per sandbox: limits written, the whole tree capped, killed and removed.

The file-writing logic runs against fake cgroup trees (plain folders); the real hierarchy
of this machine is used, as root, for the end-to-end tests, which skip where it is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.course.cases import Case
from autograder.grading.grade import CallPlan, write_inputs
from autograder.sandbox import Limits, SandboxSettings, cgroups, confinement, isolation, run_runner
from autograder.sandbox.cgroups import BoxLimits, BoxV1, BoxV2, Hierarchy, find_hierarchy

MiB = 1024 * 1024
LIMITS = BoxLimits(memory_bytes=300 * MiB, processes=12, cpus=1.0)

V1_MOUNTS = """cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""
V1_OWN = "8:pids:/\n4:memory:/jobs/grader\n2:cpuacct:/\n1:cpu:/\n0::/\n"


def _real_hierarchy():
    hierarchy, why = find_hierarchy()
    if os.geteuid() != 0 or hierarchy is None:
        pytest.skip(f"needs root and a cgroup hierarchy ({why or 'not root'})")
    try:
        box = cgroups.create_box(LIMITS, hierarchy)
    except OSError as exc:
        pytest.skip(f"cgroups not writable here: {exc}")
    return hierarchy, box


def test_v1_box_writes_memory_swap_pids_and_cpu_limits(tmp_path):
    parents = {c: tmp_path / c for c in ("memory", "pids", "cpu", "cpuacct")}
    for p in parents.values():
        p.mkdir()
    box = BoxV1.create(parents, "autograder-box-1-2-3", LIMITS)
    assert (tmp_path / "memory/autograder-box-1-2-3/memory.limit_in_bytes").read_text() == str(300 * MiB)
    assert (tmp_path / "pids/autograder-box-1-2-3/pids.max").read_text() == "12"
    cpu = tmp_path / "cpu/autograder-box-1-2-3"
    assert (cpu / "cpu.cfs_quota_us").read_text() == "100000" and (cpu / "cpu.cfs_period_us").read_text() == "100000"
    assert (cpu / "cpu.shares").read_text() == "1024"
    assert not box.memory_exceeded()
    (box.dirs["memory"] / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert box.memory_exceeded()
    (box.dirs["cpuacct"] / "cpuacct.usage").write_text("2500000000\n")
    assert box.cpu_seconds() == 2.5


def test_v2_box_writes_one_directory_and_reads_oom_kills(tmp_path):
    box = BoxV2.create(tmp_path, "autograder-box-1-2-3", LIMITS, {"memory", "pids", "cpu"})
    path = tmp_path / "autograder-box-1-2-3"
    assert (path / "memory.max").read_text() == str(300 * MiB)
    assert (path / "pids.max").read_text() == "12"
    assert (path / "cpu.max").read_text() == "100000 100000"
    (path / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 1\noom_kill 0\n")
    assert not box.memory_exceeded()
    (path / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n")
    assert box.memory_exceeded()
    assert box.describe() == "cgroup v2 (cpu, memory, pids)"


def test_hierarchy_prefers_v2_with_controllers_else_v1_below_our_own_cgroup(tmp_path):
    hierarchy, _ = find_hierarchy(V1_MOUNTS, V1_OWN)  # the v2 mount has no controllers: v1
    assert hierarchy.version == "v1"
    assert hierarchy.parents["memory"] == Path("/sys/fs/cgroup/memory/jobs/grader")
    assert hierarchy.parents["pids"] == Path("/sys/fs/cgroup/pids")
    unified = tmp_path / "unified"
    (unified / "grader").mkdir(parents=True)
    (unified / "grader" / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    hierarchy, _ = find_hierarchy(f"cgroup2 {unified} cgroup2 rw 0 0\n", "0::/grader\n")
    assert hierarchy.version == "v2" and set(hierarchy.parents) == {"cpu", "memory", "pids"}
    none, why = find_hierarchy("proc /proc proc rw 0 0\n", "0::/\n")
    assert none is None and "memory and pids" in why


def test_stale_boxes_of_dead_graders_are_removed_live_ones_kept(tmp_path, monkeypatch):
    dead = tmp_path / "autograder-box-999999999-5-0"
    ours = tmp_path / cgroups.box_name()
    unrelated = tmp_path / "someone-else"
    for d in (dead, ours, unrelated):
        d.mkdir()
    monkeypatch.setattr(cgroups, "_cleaned", set())
    assert cgroups.remove_stale([tmp_path]) == 1
    assert not dead.exists() and ours.exists() and unrelated.exists()


def _start_setsid_spinners(box) -> subprocess.Popen:
    """A process started inside ``box`` that forks three children into new sessions (the
    escape a kill by process group misses); returns once all four are members, or after 10 s."""
    join = box.join_fds()
    spinner = ("import os, time\nfor _ in range(3):\n    if os.fork() == 0:\n        os.setsid()\n"
               "        while True: time.sleep(0.01)\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", spinner], pass_fds=join,
                            preexec_fn=lambda: [os.write(fd, b"0") for fd in join])
    for fd in join:
        os.close(fd)
    deadline = time.monotonic() + 10
    while len(box.procs()) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    return proc


def test_real_box_kills_setsid_children_and_is_removed():
    _, box = _real_hierarchy()
    try:
        proc = _start_setsid_spinners(box)
        members = box.procs()
        assert len(members) == 4, members  # the parent and three children in new sessions
        assert (box.dirs["memory"] / "memory.limit_in_bytes").read_text().strip() == str(300 * MiB)
        assert box.kill()
        proc.wait(timeout=5)
        assert box.procs() == []
        assert all(not Path(f"/proc/{pid}/stat").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
                   for pid in members)
    finally:
        assert box.remove()
    assert all(not d.exists() for d in box.dirs.values())


FANOUT = '''
import os, time
import numpy as np

children = []
for _ in range(5):
    pid = os.fork()
    if pid == 0:
        block = np.ones(150 * 1024 * 1024 // 8)  # 150 MiB, every page touched
        time.sleep(0.5)  # all five hold theirs at once
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)

def softmax(z, axis=-1):
    return z
'''


def _run(tmp_path, source: str, settings: SandboxSettings):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    tmp_path.chmod(0o755)
    write_inputs(inputs, [source], "submission",
                 CallPlan.for_cases((Case("softmax", "probe", "x", (np.zeros(1),)),)))
    return run_runner(inputs, settings)


def test_forked_children_over_the_tree_cap_end_as_memory_exceeded(tmp_path):
    _, box = _real_hierarchy()
    box.remove()
    # Each child (150 MiB) is far under RLIMIT_AS; five of them are over the tree's 512 MiB.
    limits = Limits(memory_bytes=512 * MiB, wall_seconds=20, load_seconds=15)
    outcome = _run(tmp_path, FANOUT, SandboxSettings(limits=limits))
    assert "cgroup" in outcome.isolation and "NO cgroup" not in outcome.isolation
    assert outcome.memory_exceeded, outcome


SETSID_SLEEPER = '''
import ctypes, os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(15, TAG, 0, 0, 0)  # PR_SET_NAME: the test finds it by name
        while True:
            time.sleep(0.05)
    os._exit(0)

def softmax(z, axis=-1):
    return z
'''


def _named(tag: str) -> list[str]:
    """Live processes called ``tag`` (a killed orphan stays a zombie until init reaps it)."""
    found = []
    for entry in os.scandir("/proc"):
        try:
            if not entry.name.isdigit() or open(f"{entry.path}/comm").read().strip() != tag:
                continue
            if open(f"{entry.path}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(entry.name)
        except OSError:
            pass
    return found


@pytest.mark.parametrize("with_cgroup", [True, False])
def test_fallback_kills_an_orphan_in_a_new_session(tmp_path, monkeypatch, with_cgroup):
    """Without namespaces nothing dies with the runner: the cgroup (or, without one, the
    leased uid's processes and /proc's descendants) must take the orphan too."""
    from test_sandbox_fallback import use_a_python_the_sandbox_uid_can_read

    use_a_python_the_sandbox_uid_can_read(monkeypatch)
    if not with_cgroup:
        if os.geteuid() != 0:
            pytest.skip("without a cgroup only a root grader's leased uid finds the orphan")
        monkeypatch.setattr(confinement, "_hierarchy", lambda: (None, "disabled by the test"))
    tag = f"ag{os.getpid() % 100000}{int(with_cgroup)}orph"[:15]
    outcome = _run(tmp_path, SETSID_SLEEPER.replace("TAG", repr(tag.encode())),
                   SandboxSettings(isolation="none"))
    assert ("NO cgroup" in outcome.isolation) != with_cgroup, outcome.isolation
    deadline = time.monotonic() + 3
    while _named(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _named(tag) == []


def test_box_limits_follow_the_runs_limits(monkeypatch):
    made = []
    monkeypatch.setattr(confinement, "_hierarchy", lambda: (Hierarchy("v1", {}, frozenset()), ""))

    def fake_create(limits, hierarchy):
        made.append(limits)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cgroups, "create_box", fake_create)
    limits = Limits(memory_bytes=700 * MiB, processes=9)
    with confinement.Confinement(limits=limits, use_bwrap=True, inputs=Path("/nonexistent"), worker=0,
                                 mounts=(), layout=isolation.PythonLayout.current()) as confined:
        assert "NO cgroup (cannot create a v1 cgroup (Permission denied))" in confined.describe()
    assert made == [BoxLimits(700 * MiB, 9, cpus=1.0)]


SETSID_HOG = '''
import os
for _ in range(8):  # children in new sessions, each spinning: out of the process group
    if os.fork() == 0:
        os.setsid()
        while True:
            pass
while True:
    pass
'''


def test_a_setsid_cpu_hog_leaves_its_neighbours_results_unchanged(a1, reference_source, tmp_path):
    """Two runs at once (as ``--jobs 2``): the hog's tree shares one CPU quota, and the
    correct submissions graded beside it score exactly as in a quiet run."""
    from concurrent.futures import ThreadPoolExecutor

    from autograder.grading.grade import grade_for_assignment

    settings = SandboxSettings(overrides=(("wall_seconds", 3.0), ("load_seconds", 2.0)))
    good = tmp_path / "good.py"
    good.write_text(reference_source)
    hog = tmp_path / "hog.py"
    hog.write_text(SETSID_HOG)

    def verdicts(result):
        return result.status, [(c.case.case_id, c.passed, c.points) for c in result.case_results]

    quiet = verdicts(grade_for_assignment(a1, good, settings))
    with ThreadPoolExecutor(max_workers=2) as pool:
        hogging = pool.submit(grade_for_assignment, a1, hog, settings, worker=0)
        neighbours = pool.submit(lambda: [grade_for_assignment(a1, good, settings, worker=1)
                                          for _ in range(3)])
        assert hogging.result().score == 0
        assert [verdicts(r) for r in neighbours.result()] == [quiet] * 3


def test_v2_falls_back_to_the_root_when_our_own_cgroup_cannot_hand_out_controllers(tmp_path, monkeypatch):
    """A login session's scope holds processes, so v2 refuses to enable controllers in it."""
    own = tmp_path / "user.slice" / "session-1.scope"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpu memory pids\n")
    (own / "cgroup.subtree_control").mkdir()  # writing it fails, as EBUSY would
    (tmp_path / "cgroup.subtree_control").write_text("cpu memory pids\n")
    monkeypatch.setattr(cgroups, "_cleaned", set())
    hierarchy, _ = find_hierarchy(f"cgroup2 {tmp_path} cgroup2 rw 0 0\n", "0::/user.slice/session-1.scope\n")
    assert hierarchy.parents["memory"] == own and hierarchy.fallback == tmp_path
    box = cgroups.create_box(LIMITS, hierarchy)
    assert box.dirs["memory"].parent == tmp_path
    assert (box.dirs["memory"] / "pids.max").read_text() == "12"


def _v2_mount() -> Path | None:
    mounts = cgroups._mounts(Path("/proc/self/mounts").read_text())
    return next((Path(mount) for kind, mount, _ in mounts if kind == "cgroup2"), None)


def test_real_v2_cgroup_kill_takes_setsid_children_and_the_box_is_removed():
    """The v2 kill switch on this kernel (limits need controllers this v2 mount may lack)."""
    mount = _v2_mount()
    if os.geteuid() != 0 or mount is None:
        pytest.skip("needs root and a cgroup v2 mount")
    path = mount / f"{cgroups.box_name()}"
    try:
        path.mkdir()
    except OSError as exc:
        pytest.skip(f"cgroup v2 not writable here: {exc}")
    box = BoxV2({"memory": path, "pids": path})
    try:
        proc = _start_setsid_spinners(box)
        assert len(box.procs()) == 4 and len(box.threads()) >= 4
        assert box.kill()
        proc.wait(timeout=5)
        assert box.procs() == []
    finally:
        assert box.remove()
    assert not path.exists()
