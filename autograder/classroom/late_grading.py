"""A late policy applied to a graded class: the outputs of ``autograder grade`` after the penalty.

    policy + extensions + submission times  ->  one LateResult per submission
    -> gradebook.csv gains raw_score, late_penalty (score becomes the final score)
    -> each feedback file says how its penalty was computed
    -> results.json carries the final score (LMS exports use it) and the verdicts
    -> late_report.txt lists every penalty and every submission whose time was unknown

It runs after the batch has written its outputs (from the cache), so a re-run that grades
nothing applies the same policy to the same results and writes the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..course.cases import points_per_question
from ..machine.files import write_atomic
from ..outputs.feedback import feedback_names
from ..outputs.gradebook import format_points, write_gradebook
from .batch import BatchResult
from .late_policy import (
    LatePolicy,
    LateResult,
    assess,
    assignment_late_policy,
    load_policy,
    lookup,
    matching_key,
    read_extensions,
    read_submission_times,
)


@dataclass(frozen=True)
class LateInputs:
    """What the TA gives: the policy, extensions (key -> new due date) and submission
    times (key -> when), keyed by student id, LMS id, "Participant <id>" or e-mail."""

    policy: LatePolicy
    extensions: dict[str, datetime] = field(default_factory=dict)
    times: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def from_files(cls, policy: Path, extensions: Path | None = None, times: Path | None = None) -> LateInputs:
        rules = load_policy(policy)
        return cls(rules,
                   read_extensions(extensions, rules.tz) if extensions else {},
                   read_submission_times(times, rules.tz) if times else {})


def _keys(student: str, owner: dict) -> list[str]:
    lms_id = str(owner.get("lms_id", ""))
    keys = [student, lms_id, owner.get("name", "")]
    if owner.get("lms") == "moodle" and lms_id:
        keys.append(f"Participant {lms_id}")
    return [k for k in keys if k]


def named_time(owner: dict, policy: LatePolicy) -> datetime | None:
    """The submission time an LMS wrote into the file name: Blackboard's attempt
    (YYYY-MM-DD-HH-MM-SS, the server's local time, taken in the policy's time zone)."""
    try:
        when = datetime.strptime(str(owner.get("attempt") or ""), "%Y-%m-%d-%H-%M-%S")
    except ValueError:
        return None
    return when.replace(tzinfo=policy.tz)


def assess_class(batch: BatchResult, max_score: float, inputs: LateInputs) -> dict[str, LateResult]:
    """submission id -> its LateResult, for every graded submission of ``batch``."""
    verdicts = {}
    for graded in batch.submissions:
        student = graded.result.submission
        keys = _keys(student, graded.owner or {})
        submitted = lookup(inputs.times, keys) or named_time(graded.owner or {}, inputs.policy)
        verdicts[student] = assess(
            inputs.policy, raw_score=graded.result.score, max_score=max_score,
            submitted=submitted, due=lookup(inputs.extensions, keys),
            flagged_late=bool((graded.owner or {}).get("late")),
        )
    return verdicts


def apply_late_policy(batch: BatchResult, *, questions, max_score: float, inputs: LateInputs) -> list[str]:
    """Rewrite ``batch``'s outputs with the penalties; returns summary lines for the TA."""
    verdicts = assess_class(batch, max_score, inputs)
    write_gradebook(batch.gradebook, batch.results, questions, max_score, late=verdicts)
    names = feedback_names([r.submission for r in batch.results])
    for student, verdict in verdicts.items():
        path = batch.feedback_dir / names[student]
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            write_atomic(path, text.rstrip("\n") + "\n\n" + _feedback(verdict, inputs.policy))
    results_path = batch.out_dir / "results.json"
    data = json.loads(results_path.read_text(encoding="utf-8"))
    for entry in data.get("submissions", []):
        verdict = verdicts.get(entry["submission"])
        if verdict is not None:
            entry.update(raw_score=verdict.raw_score, late_penalty=verdict.penalty, score=verdict.score,
                         late=verdict.as_json())
    data["late_policy"] = inputs.policy.as_json()
    write_atomic(results_path, json.dumps(data, indent=1) + "\n")
    lines = _report(verdicts, inputs.policy) + _unused_extensions(batch, inputs)
    write_atomic(batch.out_dir / "late_report.txt", "\n".join(lines) + "\n")
    return lines


def _unused_extensions(batch: BatchResult, inputs: LateInputs) -> list[str]:
    """Extension rows no submission matched: a mistyped id leaves its student penalised."""
    used = {matching_key(inputs.extensions, _keys(g.result.submission, g.owner or {})) for g in batch.submissions}
    unused = sorted(k for k in inputs.extensions if k not in used)
    if not unused:
        return []
    return [f"{len(unused)} extension(s) matched no submission (check the ids): {', '.join(unused[:20])}"
            + (f" and {len(unused) - 20} more" if len(unused) > 20 else "")]


def _feedback(verdict: LateResult, policy: LatePolicy) -> str:
    lines = ["Late policy", f"  {policy.describe()}", f"  {verdict.explanation}"]
    if verdict.penalty:
        lines.append(f"  Score: {format_points(verdict.raw_score)} from the tests - "
                     f"{format_points(verdict.penalty)} late penalty = {format_points(verdict.score)}")
    return "\n".join(lines) + "\n"


def _report(verdicts: dict[str, LateResult], policy: LatePolicy) -> list[str]:
    penalised = sorted(s for s, v in verdicts.items() if v.penalty)
    unknown = sorted(s for s, v in verdicts.items() if not v.known)
    lines = [f"late policy: {policy.describe()}",
             f"{len(penalised)} of {len(verdicts)} submission(s) penalised"]
    lines += [f"  {s}: -{format_points(verdicts[s].penalty)} ({verdicts[s].explanation})" for s in penalised]
    if unknown:
        lines.append(f"{len(unknown)} submission(s) with no known submission time or due date: "
                     "NO penalty applied (give --submission-times)")
        lines += [f"  {s}" + (" (the LMS marked it late)" if "marked it late" in verdicts[s].explanation else "")
                  for s in unknown]
    return lines


# --- the command line (the options live in late_policy.add_grade_options; cli.py calls these) ---

def inputs_from_args(args, assignment) -> LateInputs | None:
    """The policy, extensions and times the options name (read before grading starts, so a
    broken file stops the command at once); the assignment's own policy when no
    ``--late-policy``; None when there is no policy at all."""

    extensions, times = _path(args, "extensions"), _path(args, "submission_times")
    if _path(args, "late_policy"):
        return LateInputs.from_files(_path(args, "late_policy"), extensions, times)
    policy = assignment_late_policy(assignment)
    if policy is None:
        if extensions or times:
            raise ValueError("--extensions and --submission-times need a --late-policy")
        return None
    return LateInputs(policy, read_extensions(extensions, policy.tz) if extensions else {},
                      read_submission_times(times, policy.tz) if times else {})


def apply_to_batch(inputs: LateInputs | None, assignment, batch: BatchResult) -> list[str]:
    """``apply_late_policy`` on a finished batch (no-op without a policy); lines to print."""
    if inputs is None or not batch.results:
        return []
    graded_cases = [r.case for r in batch.results[0].case_results]  # all cases, or the public ones
    max_score = sum(points_per_question(assignment.questions, graded_cases).values())
    return apply_late_policy(batch, questions=assignment.questions, max_score=max_score, inputs=inputs)


def _path(args, name: str) -> Path | None:
    value = getattr(args, name, None)
    return Path(value) if value else None


def report_lines(out_dir: Path) -> list[str]:
    """What the last run's late policy did (late_report.txt), for the command to print."""
    try:
        return (Path(out_dir) / "late_report.txt").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
