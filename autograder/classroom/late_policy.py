"""Late submissions: a course's policy, per-student extensions, and the penalty it gives.

A policy is a small TOML or JSON file (the course's, or ``late_policy.toml`` beside an
assignment's hidden material)::

    due = "2026-10-01T23:59:00+02:00"   # the assignment's due date (an LMS may give it instead)
    timezone = "+02:00"                 # for times written without one (default UTC)
    grace_minutes = 15                  # this late counts as on time
    penalty_percent = 10                # percent of the maximum score ...
    per = "day"                         # ... per started day ("day") or hour ("hour") late
    max_penalty_percent = 50            # the penalty never exceeds this (default 100)
    zero_after_days = 7                 # later than this: the score is 0 (default: never)

With ``late = submitted - due`` (the student's extended due date when the extensions
CSV has one), the penalty is::

    late <= grace                 -> 0
    late >  zero_after_days       -> the whole raw score
    otherwise                     -> min(ceil(late / unit) * penalty_percent, max_penalty_percent)
                                     / 100 * max_score, and never more than the raw score

``late`` is counted from the due date, not from the end of the grace period: the grace
period forgives a few minutes, it does not move the deadline. Where no submission time
is known the penalty is 0 and the explanation says so (a Canvas ``LATE`` flag without a
time is reported, never guessed at).

Submission times come from whatever the source really gives: Gradescope's
``submission_metadata.json`` (``created_at``, and the due date with extensions), a CSV
the TA writes (``student,submitted``), or Moodle's grading worksheet export (its
``Identifier`` and ``Last modified (submission)`` columns). Every function here is pure
apart from the readers of those files.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..csvinput import CsvInputError, read_table
from ..outputs.points import format_points as _num  # one home for the rule (and its "-0" fix)

UNITS = {"day": timedelta(days=1), "hour": timedelta(hours=1)}


class LatePolicyError(ValueError):
    """A policy, extensions or times file that cannot be used as written."""


@dataclass(frozen=True)
class LatePolicy:
    """How lateness costs points (see the module docstring for the formula)."""

    due: datetime | None = None
    timezone: str = "+00:00"
    grace_minutes: float = 0.0
    penalty_percent: float = 0.0
    per: str = "day"
    max_penalty_percent: float = 100.0
    zero_after_days: float | None = None

    def __post_init__(self) -> None:
        if self.per not in UNITS:
            raise LatePolicyError(f"late policy: per must be 'day' or 'hour', not {self.per!r}")
        for name in ("grace_minutes", "penalty_percent", "max_penalty_percent"):
            if not getattr(self, name) >= 0:
                raise LatePolicyError(f"late policy: {name} must be >= 0, not {getattr(self, name)!r}")
        if self.zero_after_days is not None and not self.zero_after_days >= 0:
            raise LatePolicyError(f"late policy: zero_after_days must be >= 0, not {self.zero_after_days!r}")
        parse_offset(self.timezone)

    @property
    def tz(self) -> timezone:
        return parse_offset(self.timezone)

    def describe(self) -> str:
        """The policy in one sentence, for feedback."""
        parts = []
        if self.grace_minutes:
            parts.append(f"{_num(self.grace_minutes)} minutes' grace")
        if self.penalty_percent:
            parts.append(f"{_num(self.penalty_percent)} % of the maximum score per started {self.per} late"
                         + (f", at most {_num(self.max_penalty_percent)} %"
                            if self.max_penalty_percent < 100 else ""))
        if self.zero_after_days is not None:
            parts.append(f"0 points when more than {_num(self.zero_after_days)} days late")
        return "; ".join(parts) or "no penalty for lateness"

    def as_json(self) -> dict:
        data = asdict(self)
        data["due"] = self.due.isoformat() if self.due else None
        return data


@dataclass(frozen=True)
class LateResult:
    """What lateness cost one submission.

    raw_score: the points the tests gave; penalty: points taken off; score: what counts.
    known:     a submission time (and a due date) was known; when not, penalty is 0.
    explanation: how the penalty was computed, in words for the student.
    """

    raw_score: float
    penalty: float
    score: float
    known: bool
    late_seconds: float
    explanation: str

    def as_json(self) -> dict:
        return asdict(self)


def parse_offset(text: str) -> timezone:
    """'+02:00', '-0530', 'UTC' or 'Z' -> a fixed-offset timezone."""
    text = text.strip()
    if text.upper() in ("UTC", "Z", "GMT", ""):
        return timezone.utc
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if not match:
        raise LatePolicyError(f"timezone {text!r}: write it as an offset such as +02:00 or -05:00")
    sign = 1 if match[1] == "+" else -1
    try:
        return timezone(sign * timedelta(hours=int(match[2]), minutes=int(match[3])))
    except ValueError:  # +25:00: no such offset on Earth
        raise LatePolicyError(f"timezone {text!r}: an offset lies between -23:59 and +23:59") from None


DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
MOODLE_TIME_FORMATS = ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M", "%d %B %Y, %I:%M %p")


def parse_time(text: str, tz: timezone = timezone.utc) -> datetime:
    """An ISO 8601 time ('2026-10-01T23:59:00+02:00', a trailing Z, or with a space), or
    Moodle's export format ('Thursday, 1 October 2026, 11:59 PM'); without an offset, in ``tz``."""
    text = text.strip()
    if not text:
        raise LatePolicyError("empty time")
    if DATE_ONLY.fullmatch(text):  # midnight at its start? the end of that day? never guessed
        raise LatePolicyError(f"{text!r} has no time of day: write {text}T23:59:00 for the end of that "
                              f"day (or {text}T00:00:00 for its start)")
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        when = None
        for fmt in MOODLE_TIME_FORMATS:
            try:
                when = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if when is None:
            raise LatePolicyError(f"cannot read the time {text!r} (use ISO 8601, e.g. "
                                  "2026-10-01T23:59:00+02:00)") from None
    return when if when.tzinfo else when.replace(tzinfo=tz)


def policy_from_mapping(data: Mapping) -> LatePolicy:
    known = set(LatePolicy.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise LatePolicyError(f"late policy: unknown setting(s) {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(known))})")
    values = dict(data)
    try:
        for name in ("grace_minutes", "penalty_percent", "max_penalty_percent"):
            if name in values:
                values[name] = float(values[name])
        if values.get("zero_after_days") is not None:
            values["zero_after_days"] = float(values["zero_after_days"])
    except (TypeError, ValueError) as exc:
        raise LatePolicyError(f"late policy: {exc}") from None
    tz = parse_offset(str(values.get("timezone", "+00:00")))
    if values.get("due"):
        # A TOML date (due = 2026-10-01) is not a datetime: parse_time refuses it as a date alone.
        values["due"] = values["due"] if isinstance(values["due"], datetime) else parse_time(str(values["due"]), tz)
        if values["due"].tzinfo is None:
            values["due"] = values["due"].replace(tzinfo=tz)
    else:
        values["due"] = None
    return LatePolicy(**values)


def _read_flat_toml(text: str) -> dict:
    """The flat ``key = value`` subset of TOML a policy uses (Python 3.10 has no tomllib)."""
    data = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = re.sub(r"\s+#.*$", "", line).strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise LatePolicyError(f"late policy line {number}: expected key = value")
        value = value.strip()
        if value[:1] in "\"'":
            data[key.strip()] = value[1:-1]
        elif value in ("true", "false"):
            data[key.strip()] = value == "true"
        elif DATE_ONLY.match(value):  # a TOML date or date-time, unquoted
            data[key.strip()] = value
        else:
            try:
                data[key.strip()] = float(value)
            except ValueError:
                raise LatePolicyError(f"late policy line {number}: {value!r} is not a number, "
                                      "true/false or a quoted text") from None
    return data


def load_policy(path: Path) -> LatePolicy:
    """A policy from a .toml or .json file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # Notepad's BOM included
    except UnicodeDecodeError as exc:
        raise LatePolicyError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise LatePolicyError(f"cannot read the late policy {path} ({exc.strerror or exc})") from None
    try:
        if path.suffix == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise LatePolicyError(f"not valid JSON ({exc})") from None
        else:
            data = _load_toml(text)
        if not isinstance(data, Mapping):
            raise LatePolicyError(f"a late policy is a table of settings (due, penalty_percent, ...), "
                                  f"not a {type(data).__name__}")
        return policy_from_mapping(data)
    except LatePolicyError as exc:
        raise LatePolicyError(f"{path}: {exc}") from None


def _load_toml(text: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        return _read_flat_toml(text)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LatePolicyError(str(exc)) from None




STUDENT_COLUMNS = ("student", "student id", "id", "identifier", "email", "email address", "username",
                   "sis login id", "submission")
DUE_COLUMNS = ("due", "due date", "new due date", "extended due", "extension")
SUBMITTED_COLUMNS = ("submitted", "submission time", "submitted at", "last modified (submission)", "time")


def _pick(row: dict[str, str], names) -> str:
    return next((row[n] for n in names if row.get(n)), "")


def _keyed_times(path: Path, columns, what: str, tz: timezone) -> dict[str, datetime]:
    """student (casefolded) -> time. A file without a student or a time column is refused
    (read as nothing, it would silently penalise everyone it meant to excuse), and so are
    two rows giving one student different times (which one was meant?)."""
    try:
        table = read_table(path, f"{what} file")
    except CsvInputError as exc:
        raise LatePolicyError(str(exc)) from None
    for wanted in (STUDENT_COLUMNS, columns):
        if len(table.missing(wanted)) == len(wanted):
            raise LatePolicyError(f"{path}: no column for the {'student' if wanted is STUDENT_COLUMNS else what} "
                                  f"(found: {', '.join(table.columns) or 'nothing'}; expected one of "
                                  f"{', '.join(wanted)})")
    found: dict[str, datetime] = {}
    first: dict[str, tuple[int, datetime]] = {}  # student_key -> (row, time) of its first row
    for number, cells in table.rows:
        row = {k.casefold(): v for k, v in cells.items()}
        who, when = _pick(row, STUDENT_COLUMNS), _pick(row, columns)
        if not who or not when or when == "-":
            continue
        try:
            time = parse_time(when, tz)
        except LatePolicyError as exc:
            raise LatePolicyError(f"{path} row {number} ({what}): {exc}") from None
        same = student_key(who)  # "00123" and "123", "Ada" and "ada": one student
        if same in first and first[same][1] != time:
            raise LatePolicyError(f"{path}: rows {first[same][0]} and {number} give {who!r} two different "
                                  f"{what}s ({first[same][1].isoformat()} and {time.isoformat()}); keep one")
        first.setdefault(same, (number, time))
        found[who.casefold()] = time
    return found


def read_extensions(path: Path, tz: timezone = timezone.utc) -> dict[str, datetime]:
    """Extensions CSV: a student column (student id, email, LMS id) and ``due`` (the new due date)."""
    return _keyed_times(Path(path), DUE_COLUMNS, "new due date", tz)


def read_submission_times(path: Path, tz: timezone = timezone.utc) -> dict[str, datetime]:
    """Submission times: a TA's CSV (``student,submitted``) or Moodle's grading worksheet
    (``Identifier``, ``Last modified (submission)``)."""
    return _keyed_times(Path(path), SUBMITTED_COLUMNS, "submission time", tz)


def student_key(text: str) -> str:
    """What two spellings of one student id share: case, Unicode form, and the leading zeros
    Excel drops from a numeric id when a sheet is opened and saved ("00123" -> 123)."""
    folded = unicodedata.normalize("NFC", text.strip()).casefold()
    return (folded.lstrip("0") or "0") if folded.isdigit() else folded


def matching_key(table: Mapping[str, datetime], keys) -> str | None:
    """The key of ``table`` that the first matching of ``keys`` (student id, LMS id,
    'Participant <id>', e-mail ...) finds, compared as ``student_key``s; None if none."""
    index = {student_key(k): k for k in table}
    for key in keys:
        if key and student_key(key) in index:
            return index[student_key(key)]
    return None


def lookup(table: Mapping[str, datetime], keys) -> datetime | None:
    """The time of the first of ``keys`` in ``table`` (``matching_key``)."""
    found = matching_key(table, keys)
    return None if found is None else table[found]


def _duration(seconds: float) -> str:
    minutes = math.ceil(seconds / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes or not parts else []
    return " ".join(parts)


def assess(policy: LatePolicy, *, raw_score: float, max_score: float, submitted: datetime | None,
           due: datetime | None = None, flagged_late: bool = False) -> LateResult:
    """The penalty for one submission (formula in the module docstring).

    due: the student's own due date (an extension, or an LMS's), else the policy's.
    flagged_late: the LMS marked it late without saying when (Canvas's download names).
    """
    due = due or policy.due
    if submitted is None or due is None:
        missing = "submission time" if submitted is None else "due date"
        flag = " The LMS marked it late, but without a time no penalty can be computed." if flagged_late else ""
        return LateResult(raw_score, 0.0, raw_score, False, 0.0,
                          f"No {missing} is known for this submission, so no late penalty was applied.{flag}")
    late = (submitted - due).total_seconds()
    when = f"submitted {submitted.isoformat(timespec='minutes')}, due {due.isoformat(timespec='minutes')}"
    if late <= policy.grace_minutes * 60:
        text = "on time" if late <= 0 else f"{_duration(late)} late, within the grace period"
        return LateResult(raw_score, 0.0, raw_score, True, max(late, 0.0), f"Late policy: {text} ({when}).")
    if policy.zero_after_days is not None and late > policy.zero_after_days * 86400:
        return LateResult(raw_score, raw_score, 0.0, True, late,
                          f"Late policy: {_duration(late)} late ({when}), more than "
                          f"{_num(policy.zero_after_days)} days: the score is 0 (was {_num(raw_score)}).")
    units = math.ceil(late / UNITS[policy.per].total_seconds())
    percent = min(units * policy.penalty_percent, policy.max_penalty_percent)
    penalty = min(round(percent / 100 * max_score, 4), max(raw_score, 0.0))
    text = (f"Late policy: {_duration(late)} late ({when}): {units} started {policy.per}(s) x "
            f"{_num(policy.penalty_percent)} % = {_num(percent)} % of {_num(max_score)} points"
            + (f" (capped at {_num(policy.max_penalty_percent)} %)"
               if units * policy.penalty_percent > policy.max_penalty_percent else "")
            + f": -{_num(penalty)} points.")
    return LateResult(raw_score, penalty, round(raw_score - penalty, 4), True, late, text)


# --- Gradescope's submission_metadata.json ---------------------------------------------------

def gradescope_times(metadata: Mapping) -> tuple[datetime | None, datetime | None]:
    """(submitted, due) from Gradescope's submission metadata.

    ``created_at`` is the submission time; the due date is the latest of the group
    members' own ``users[].assignment.due_date`` (Gradescope puts extensions there), else
    ``assignment.due_date``.
    """
    def when(text):
        try:
            return parse_time(str(text)) if text else None
        except LatePolicyError:
            return None

    submitted = when(metadata.get("created_at"))
    own = [when((u.get("assignment") or {}).get("due_date")) for u in metadata.get("users") or []
           if isinstance(u, Mapping)]
    own = [d for d in own if d is not None]
    due = max(own) if own else when((metadata.get("assignment") or {}).get("due_date"))
    return submitted, due


# --- the command line ---------------------------------------------------------------------

def add_grade_options(parser) -> None:
    """``--late-policy``, ``--extensions`` and ``--submission-times`` on ``autograder grade``
    (here, with nothing heavy imported, so that building the parser stays fast)."""
    parser.add_argument("--late-policy", metavar="FILE",
                        help="apply a late policy (TOML/JSON: due, timezone, grace_minutes, penalty_percent, "
                             "per day|hour, max_penalty_percent, zero_after_days); default: the "
                             "assignment's own late_policy.toml, if any. Adds raw_score and late_penalty "
                             "to the gradebook; score becomes the final score")
    parser.add_argument("--extensions", metavar="CSV",
                        help="per-student due dates: a student column (id, e-mail or LMS id) and 'due'")
    parser.add_argument("--submission-times", metavar="CSV",
                        help="when each student submitted: 'student,submitted' (a TA's file) or Moodle's "
                             "grading worksheet export; without a time no penalty is applied (and reported)")


LATE_POLICY_FILES = ("late_policy.toml", "late_policy.json")


def assignment_late_policy(assignment) -> LatePolicy | None:
    """The assignment's own late policy (``late_policy.toml`` or ``.json`` beside its hidden
    material), or None."""
    for name in LATE_POLICY_FILES:
        if (assignment.hidden_dir / name).is_file():
            return load_policy(assignment.hidden_dir / name)
    return None
