"""grade_submission over the strict protocol, with a stand-in for the sandbox.

The stand-in answers every call honestly with the reference solution (as the runner would
for a correct submission), then misbehaves as each test asks: a forged, repeated or
reordered record, a run cut short, a starved or out-of-memory run. No sandbox is started,
so these tests pin the grader's rules alone, quickly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from autograder.grading import grade as grade_module
from autograder.grading.grade import (
    CRASHED,
    GRADED,
    GRADER_ERROR,
    MEMORY,
    TAMPERED,
    TIMEOUT,
    grade_submission,
)
from autograder.sandbox import RunOutcome, SandboxSettings
from autograder.sandbox.runner import encode_record

record = encode_record  # exactly the bytes the runner writes for a record


def outcome(results: bytes, **flags) -> RunOutcome:
    defaults = {f.name: False for f in dataclasses.fields(RunOutcome)
                if f.default is dataclasses.MISSING}
    defaults.update(results=results, log="", exit_status=0, wall_seconds=0.1, cpu_seconds=0.1,
                    isolated=True)
    return RunOutcome(**{**defaults, **flags})


class FakeSandbox:
    """Answers the calls in ``inputs`` with the reference; ``script(run, records)`` may then
    change the list of record bytes and return RunOutcome flags for that run."""

    def __init__(self, reference, script=None):
        self.reference = reference
        self.script = script or (lambda run, records: {})
        self.runs = 0
        self.asked: list[list[str]] = []

    def __call__(self, inputs: Path, settings, *, worker=0, mounts=()):
        calls = json.loads((inputs / "calls.json").read_text())
        with np.load(inputs / "arrays.npz") as npz:
            arrays = {key: npz[key] for key in npz.files}
        records = [record({"kind": "load", "cells": [{"cell": 0}]})]
        for call in calls:
            args = [arrays[a["array"]] if "array" in a else a["value"] for a in call["args"]]
            kwargs = {k: arrays[a["array"]] if "array" in a else a["value"] for k, a in call["kwargs"].items()}
            value = np.asarray(self.reference[call["function"]](*args, **kwargs))
            given = {f"a{i}": v for i, v in enumerate(args + list(kwargs.values())) if isinstance(v, np.ndarray)}
            records.append(record({"kind": "call", "id": call["id"], "n_results": 1, "tuple": False,
                                   "warnings": []}, {"r0": value, **given}))
        records.append(record({"kind": "done"}))
        self.asked.append([c["id"] for c in calls])
        flags = self.script(self.runs, records) or {}
        self.runs += 1
        return outcome(b"".join(records), **flags)


@pytest.fixture
def reference(reference_source):
    namespace: dict = {}
    exec(compile(reference_source, "<reference>", "exec"), namespace)
    return namespace


def grade_with(monkeypatch, a1, write_py, sandbox) -> grade_module.SubmissionResult:
    monkeypatch.setattr(grade_module, "run_runner", sandbox)
    path = write_py("student", "def softmax(z, axis=-1):\n    return z\n")
    return grade_submission(path, cases=a1.cases, expected=a1.expected, settings=SandboxSettings())


def scored(result) -> list[bool]:
    return [r.passed for r in result.case_results]


def test_the_honest_stand_in_earns_full_marks(monkeypatch, a1, write_py, reference):
    result = grade_with(monkeypatch, a1, write_py, FakeSandbox(reference))
    assert result.status == GRADED and result.score == a1.max_score


@pytest.mark.parametrize("attack", ["duplicate", "unknown", "swapped", "after_done", "second_load"])
def test_a_record_out_of_place_is_tampering_with_zero_from_there_on(monkeypatch, a1, write_py, reference,
                                                                    attack):
    at = 10  # records[at] is the call record of case 9 (records[0] is the load report)

    def forge(run, records):
        if attack == "duplicate":
            records.insert(at, records[at - 1])
        elif attack == "unknown":
            records.insert(at, record({"kind": "call", "id": "c9999", "n_results": 1}))
        elif attack == "swapped":
            records[at], records[at + 1] = records[at + 1], records[at]
        elif attack == "after_done":
            records.append(records[at])
        else:
            records.insert(at, records[0])

    result = grade_with(monkeypatch, a1, write_py, FakeSandbox(reference, forge))
    assert result.status == TAMPERED
    assert any("tampered with" in m for m in result.messages), result.messages
    kept = len(a1.cases) if attack == "after_done" else at - 1
    assert scored(result)[:kept] == [True] * kept
    assert result.score == kept  # a1's cases are worth a point each
    assert all("tampered with" in r.reason for r in result.case_results[kept:])


def test_a_cut_stream_is_a_crash_and_its_prefix_stays_scored(monkeypatch, a1, write_py, reference):
    def cut(run, records):
        if run == 0:
            del records[6:]
            records.append(records[-1][:-5])  # killed while writing
        return {"exit_status": 9}

    sandbox = FakeSandbox(reference, cut)
    result = grade_with(monkeypatch, a1, write_py, sandbox)
    # The function that stopped the first run gets no more calls; the others are re-run under
    # fresh ids (the strict order applies per run), and earn their points.
    assert result.status == CRASHED
    assert sandbox.runs == 2 and sandbox.asked[1][0] == "c0000"
    stopped = a1.cases[5].question
    assert all(r.passed for r in result.case_results if r.case.question != stopped)
    assert scored(result)[:5] == [True] * 5


def test_a_starved_timeout_is_run_again_once(monkeypatch, a1, write_py, reference):
    def starve_first(run, records):
        if run == 0:
            del records[3:]
            return {"timed_out": True, "starved": True}

    sandbox = FakeSandbox(reference, starve_first)
    result = grade_with(monkeypatch, a1, write_py, sandbox)
    assert sandbox.runs == 2
    assert result.status == GRADED and result.score == a1.max_score


def test_starved_twice_is_the_grader_s_error_not_the_student_s(monkeypatch, a1, write_py, reference):
    def starve(run, records):
        del records[3:]
        return {"timed_out": True, "starved": True}

    sandbox = FakeSandbox(reference, starve)
    result = grade_with(monkeypatch, a1, write_py, sandbox)
    assert sandbox.runs == 2
    assert result.status == GRADER_ERROR
    assert any("grader's fault" in m for m in result.messages), result.messages


def test_a_timeout_that_was_not_starved_is_the_student_s(monkeypatch, a1, write_py, reference):
    def slow(run, records):
        del records[3:]
        return {"timed_out": True}

    result = grade_with(monkeypatch, a1, write_py, FakeSandbox(reference, slow))
    assert result.status == TIMEOUT


def test_the_cgroup_memory_verdict_is_the_memory_status(monkeypatch, a1, write_py, reference):
    def oom(run, records):
        del records[4:]
        return {"memory_exceeded": True, "exit_status": 9}

    result = grade_with(monkeypatch, a1, write_py, FakeSandbox(reference, oom))
    assert result.status == MEMORY
    assert any("out of memory" in m for m in result.messages), result.messages


def test_the_budget_is_shared_by_every_run_of_a_submission(monkeypatch, a1, write_py, reference):
    budgets = []
    real = grade_module.read_stream

    def spy(data, call_ids, *, budget):
        budgets.append(budget)
        return real(data, call_ids, budget=budget)

    def cut(run, records):
        if run == 0:
            del records[6:]

    monkeypatch.setattr(grade_module, "read_stream", spy)
    grade_with(monkeypatch, a1, write_py, FakeSandbox(reference, cut))
    limit = SandboxSettings().resolved_limits().result_bytes
    assert budgets[0] == limit and 0 < limit - budgets[1] < 64 * 1024
