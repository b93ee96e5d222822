"""CSV files that are safe to open in a spreadsheet.

Excel, LibreOffice and Google Sheets evaluate a cell that starts with ``=``, ``+``, ``-``
or ``@`` as a formula (``=HYPERLINK(...)`` in a student's file name becomes a live link),
and tab or carriage return can start one too. Following OWASP's advice on CSV injection,
every such text cell is written with a leading apostrophe, which spreadsheets show as
plain text. Plain numbers (``-2``, ``+1.5``) are left as they are: they are data the kit
formats itself, and a spreadsheet must still read them as numbers.

Every CSV the kit writes goes through ``writer`` (or ``safe_cell``), so there is one
rule for the gradebook, the LMS exports and the exam grades.
"""

from __future__ import annotations

import csv
import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def safe_cell(value: Any) -> Any:
    """``value`` as it may stand in a CSV cell: text that a spreadsheet would run as a
    formula gets a leading apostrophe; numbers and other text are unchanged."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


class _SafeWriter:
    def __init__(self, inner):
        self._inner = inner

    def writerow(self, row):
        return self._inner.writerow([safe_cell(cell) for cell in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


class _SafeDictWriter:
    def __init__(self, inner):
        self._inner = inner
        self.fieldnames = inner.fieldnames

    def writeheader(self):
        return self._inner.writeheader()

    def writerow(self, row):
        return self._inner.writerow({key: safe_cell(cell) for key, cell in row.items()})

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def writer(handle, **kwargs) -> _SafeWriter:
    """``csv.writer`` whose every cell passes through ``safe_cell``."""
    return _SafeWriter(csv.writer(handle, **kwargs))


def dict_writer(handle, fieldnames, **kwargs) -> _SafeDictWriter:
    """``csv.DictWriter`` whose every value passes through ``safe_cell``."""
    return _SafeDictWriter(csv.DictWriter(handle, fieldnames=fieldnames, **kwargs))
