"""Starvation: a timed-out run that waited for a CPU far more than it ran."""

from __future__ import annotations

import os
import threading

from autograder.sandbox.starvation import RunQueueSampler, read_schedstat, starved


def test_only_a_timeout_that_waited_and_barely_ran_is_starved():
    assert starved(timed_out=True, wall=10, waited=8, ran=0.5)
    assert not starved(timed_out=True, wall=10, waited=8, ran=3)  # a busy machine, not a starved one
    assert not starved(timed_out=False, wall=10, waited=8, ran=0.5)  # it finished: nothing to retry
    assert not starved(timed_out=True, wall=10, waited=0.1, ran=0.1)  # it slept: its own doing
    # Ten spinning children under their own one-CPU quota wait a lot, but the box ran all along.
    assert not starved(timed_out=True, wall=10, waited=90, ran=9.9)
    # ... and on a busy machine, held back by that quota, it is still its own doing.
    assert not starved(timed_out=True, wall=10, waited=90, ran=4, throttled=5)


def test_sampler_keeps_the_largest_figures_of_each_task():
    sampler = RunQueueSampler()
    stop = threading.Event()
    worker = threading.Thread(target=lambda: [sum(range(1000)) for _ in iter(stop.is_set, True)])
    worker.start()
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{os.getpid()}/task")]
        sampler.sample(tids)
        first = sampler.ran_seconds()
        sampler.sample(tids)
    finally:
        stop.set()
        worker.join()
    assert sampler.ran_seconds() >= first > 0
    assert sampler.waited_seconds() >= 0
    assert read_schedstat(2**22 + 12345) is None  # a task that is gone


def test_a_timeout_behind_busy_neighbours_on_its_cpu_is_marked_starved(tmp_path, monkeypatch):
    """The run and fifteen spinners outside it share one CPU: it gets about a sixteenth.
    (Each spinner in its own session: autogroups would otherwise weigh them all as one.)"""
    import subprocess
    import sys

    import numpy as np

    from autograder.course.cases import Case
    from autograder.grading.grade import CallPlan, write_inputs
    from autograder.sandbox import Limits, SandboxSettings, confinement, launch, run_runner

    cpu = max(os.sched_getaffinity(0))
    original = confinement.Confinement.child_setup

    def pinned(self):
        setup = original(self)

        def run():
            os.sched_setaffinity(0, {cpu})
            setup()

        return run

    monkeypatch.setattr(confinement.Confinement, "child_setup", pinned)
    seen = []  # the figures, for the failure message
    monkeypatch.setattr(launch, "starved", lambda **figures: seen.append(figures) or starved(**figures))
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    tmp_path.chmod(0o755)
    write_inputs(inputs, ["while True:\n    pass\n"], "submission",
                 CallPlan.for_cases((Case("softmax", "probe", "x", (np.zeros(1),)),)))
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                 preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
                                 start_new_session=True) for _ in range(15)]
    try:
        outcome = run_runner(inputs, SandboxSettings(limits=Limits(wall_seconds=2, load_seconds=2)))
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    assert outcome.timed_out and outcome.starved, (outcome, seen)
