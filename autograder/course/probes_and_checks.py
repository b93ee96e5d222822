"""The assignment's own code around the student's functions: probes, checks, mounts.

Most cases are one plain call whose result is compared value by value. Some properties
need more, and each need has one place:

- ``probes.py`` (runs in the sandbox, next to the student's code, and in the grader for
  the expected value): drives the student's functions, e.g. builds a PyTorch module,
  calls ``kaiming_init_`` on it and returns the weights as arrays. A probe returns RAW
  DATA only (draws, weights, shapes as ints, states), never a verdict: no 0/1 flag, no
  "within 10%", no equality. Nothing guards it in the sandbox; the submission can patch,
  hook or forge anything there, so the rule that keeps grades right is that a forged
  result can only carry values the submission could have returned honestly.
- ``checks.py`` (grader only): judges returned arrays when equality with the reference is
  the wrong test, e.g. the mean, spread and shape of a random draw, whether two draws
  under different global seeds agree, or the accuracy of returned weights re-evaluated
  here (``checks.DATA`` maps mounts to host folders). Every verdict is made here or by
  the value comparison with the reference's probe output, never in the sandbox.
- mounts: read-only data folders (a dataset) the probes read, under ``/sandbox/data/<name>``
  in the sandbox; ``probes.DATA`` maps each name to its path wherever the probes run.
- import paths: the mounts the runner also puts on ``sys.path`` before the submission's cells
  run, as Jupyter has the notebook's folder there: the view of the assignment's
  ``shared_with_grader`` package (``autograder.course.shared_with_grader``), so the notebook,
  the probes and the sandbox import the same modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProbesAndChecks:
    """What grading an assignment's cases needs besides the cases: its probes (with the data
    folders they read) for the sandbox, its checks for the comparison.

    probes_source: text of probes.py (None: the assignment has none).
    checks:         {name: check(case, got, expected) -> problem or None}.
    mounts:         ((name, host folder), ...), mounted read-only for the probes.
    import_paths:   names of mounts put on the sandbox's sys.path (in this order, first first).
    """

    probes_source: str | None = None
    checks: Mapping[str, Callable] = field(default_factory=dict)
    mounts: tuple[tuple[str, str], ...] = ()
    import_paths: tuple[str, ...] = ()


NO_PROBES_OR_CHECKS = ProbesAndChecks()
