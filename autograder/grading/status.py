"""What a submission did, in the contract's words: the gradebook's ``status`` column.

Members are strings (``Status.GRADED == "graded"``, and they hash, print, format and
serialise as their value), so the gradebook, results.json and the cache hold the same text
as before there was an enum, and a status read back from JSON compares equal to its member.
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    GRADED = "graded"  # the submission ran to the end
    SYNTAX_ERROR = "syntax_error"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASHED = "crashed"
    INVALID = "invalid_submission"
    TAMPERED = "tampered"  # the result stream broke the protocol: records forged, repeated or reordered
    GRADER_ERROR = "grader_error"  # a fault in the kit itself; the row still appears, never cached

    # The value, wherever text is made of it (csv, f-strings, str()), on every Python >= 3.10.
    __str__ = str.__str__
    __format__ = str.__format__
    __hash__ = str.__hash__
