"""Was a timed-out run starved by the machine, or slow by its own doing?

The kernel keeps, per task, ``/proc/<tid>/schedstat``: ns spent running, ns spent
runnable but waiting on a run queue, and timeslices. Sampled while the box runs (tasks
that exit take their figures with them, so each task's largest sample counts):

    ran        = CPU time of the box (its cgroup's usage when there is one, else the sum
                 of its tasks' run time)
    waited     = sum over the box's tasks of their run-queue delay
    throttled  = time the box was held back by its own CPU quota (cgroup cpu.stat)

    starved  <=>  timed out  and  ran < RAN_FRACTION * wall  and  waited > WAIT_FRACTION * wall
                  and  throttled < THROTTLED_FRACTION * wall

i.e. it got less than a tenth of a CPU over its wall time while it had work ready for at
least half of it, and not because it asked for more than its quota. Why so low: a box is
one cgroup, weighted like one task, so on a machine merely busy with other work (load 4 on
2 cores) even an endless loop gets a third of a CPU, and its timeout is its own; while the
kit's wall limits are ten times or more what a correct submission needs, so a correct run
times out only when it got a small fraction of a CPU. (Calls cut by the runner's per-call
alarm are not covered: only the run's own timeout is judged here.) A box that sleeps or
blocks waits on no run queue (not starved: its own doing); a tree of spinning children
wants more than its one CPU, is throttled, and competes with itself (not starved either,
even on a busy machine: its run would not have ended anyway).
"""

from __future__ import annotations

from dataclasses import dataclass, field

RAN_FRACTION = 0.1  # a tenth of one CPU: far below what a box gets even on a busy machine
WAIT_FRACTION = 0.5
THROTTLED_FRACTION = 0.1
SAMPLE_SECONDS = 0.2


def read_schedstat(tid: int) -> tuple[int, int] | None:
    """(ns on a CPU, ns waiting for one) of one task, or None if it is gone."""
    try:
        with open(f"/proc/{tid}/schedstat") as f:
            fields = f.read().split()
        return int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class RunQueueSampler:
    """Largest (run, wait) seen per task; ``sample`` is cheap (a read per task)."""

    seen: dict[int, tuple[int, int]] = field(default_factory=dict)

    def sample(self, tids) -> None:
        for tid in tids:
            figures = read_schedstat(tid)
            if figures is not None:
                old = self.seen.get(tid, (0, 0))
                self.seen[tid] = (max(old[0], figures[0]), max(old[1], figures[1]))

    def ran_seconds(self) -> float:
        return sum(run for run, _ in self.seen.values()) / 1e9

    def waited_seconds(self) -> float:
        return sum(wait for _, wait in self.seen.values()) / 1e9


def starved(*, timed_out: bool, wall: float, waited: float, ran: float, throttled: float = 0.0) -> bool:
    if not timed_out or wall <= 0:
        return False
    return (ran < RAN_FRACTION * wall and waited > WAIT_FRACTION * wall
            and throttled < THROTTLED_FRACTION * wall)
