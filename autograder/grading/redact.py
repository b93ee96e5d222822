"""What of the submission's own words may be shown to a student, and how.

Code in the sandbox can read every input of its run, so anything it writes (an exception's
type name or message, a warning, printed output) may carry hidden inputs, encoded any way
it likes. Two rules follow:

- Where the run had hidden inputs (graded runs), feedback uses only the kit's words: the
  property that failed, and names from the fixed lists below (a builtin exception class,
  a builtin warning category, numpy's own floating-point warnings). A string that is not
  on a list is never shown; a name that is can carry at most which of the few names it is.
- Where every input of the run was public (``autograder check``), the submission's words
  may be shown, with numbers redacted (``redact``) as a second line of defence.
"""

from __future__ import annotations

import re
from collections.abc import Collection

import numpy as np

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)[eE][-+]?\d+|[-+]?\d*\.\d+|[-+]?\d+\.")

# Builtin exceptions a student's code commonly raises; any other name reads "an exception".
BUILTIN_EXCEPTIONS = frozenset({
    "ArithmeticError", "AssertionError", "AttributeError", "BufferError", "EOFError",
    "FileNotFoundError", "FloatingPointError", "ImportError", "IndentationError", "IndexError",
    "KeyError", "KeyboardInterrupt", "LookupError", "MemoryError", "ModuleNotFoundError",
    "NameError", "NotImplementedError", "OSError", "OverflowError", "PermissionError",
    "RecursionError", "RuntimeError", "StopIteration", "SystemExit", "TypeError",
    "UnboundLocalError", "ValueError", "ZeroDivisionError",
})
BUILTIN_WARNINGS = frozenset({
    "BytesWarning", "DeprecationWarning", "FutureWarning", "ImportWarning",
    "PendingDeprecationWarning", "ResourceWarning", "RuntimeWarning", "SyntaxWarning",
    "UnicodeWarning", "UserWarning", "Warning",
})
# NumPy's floating-point warnings ("overflow encountered in exp"): their wording is numpy's,
# and the ufunc must be one of numpy's, so only the fixed text can pass.
_NUMPY_FP_WARNING = re.compile(
    r"^RuntimeWarning: (overflow|underflow|divide by zero|invalid value) encountered in (\w{1,30})$"
)


def redact(text: str) -> str:
    """``text`` with every decimal or exponent number replaced by '#'; plain integers (shapes,
    counts, line numbers) stay readable."""
    return _NUMBER.sub("#", text)


_INTEGER = re.compile(r"\d+")


def keep_known_integers(text: str, known: Collection[int]) -> str:
    """``redact(text)``, and then every integer that is not in ``known`` replaced by '#' too.

    For sentences the grader computes from arrays the submission chose (a check's "the
    weights have shape (0, 1815068268)"): ``known`` holds the numbers the kit itself wrote
    (the expected shapes, the case's description), so the submission can pick at most which
    of those few numbers each place shows."""
    return _INTEGER.sub(lambda m: m.group() if int(m.group()) in known else "#", redact(text))


def exception_name(value: object) -> str | None:
    """``value`` when it names a builtin exception on the list, else None."""
    return value if isinstance(value, str) and value in BUILTIN_EXCEPTIONS else None


def raised(value: object) -> str:
    """'raised ValueError', or 'raised an exception' for a name not on the list."""
    return f"raised {exception_name(value) or 'an exception'}"


def warning_words(text: object) -> str:
    """The kit's description of one warning the runner reported as 'Category: message'."""
    if not isinstance(text, str):
        return "emitted a warning"
    match = _NUMPY_FP_WARNING.match(text)
    if match and isinstance(getattr(np, match.group(2), None), np.ufunc):
        return f"emitted a warning (RuntimeWarning: {match.group(1)} encountered in {match.group(2)})"
    category = text.partition(":")[0]
    return f"emitted a warning ({category})" if category in BUILTIN_WARNINGS else "emitted a warning"
