"""Reading the CSV files a TA or instructor hands the kit (rosters, extensions, submission
times, answer sheets) as spreadsheets and LMS exports really write them.

One reader for all of them, so each gets the same tolerance and the same clear errors:

- encoding: UTF-8 with or without a BOM (Excel's "CSV UTF-8"), UTF-16 with a BOM (Excel's
  "Unicode Text"); anything else (Excel's plain "CSV" is Windows-1252) is refused with the
  file, the line and what to do, never decoded by guess, since a wrong guess changes ids;
- delimiter: ``,``, ``;`` (Excel where the decimal mark is a comma) or a tab, whichever the
  header line holds most of;
- header cells are stripped of spaces; blank lines and rows of empty cells (Excel leaves
  ``;;;`` lines) are dropped; line numbers are those of the file, for messages.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

DELIMITERS = (",", ";", "\t")


class CsvInputError(ValueError):
    """A CSV file the kit was given cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class Table:
    """columns: the header as written (stripped); rows: (line in the file, column -> value)."""

    path: Path
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]

    def missing(self, wanted) -> list[str]:
        """Which of ``wanted`` the header lacks, compared without regard to case."""
        have = {c.casefold() for c in self.columns}
        return [w for w in wanted if w.casefold() not in have]


def read_table(path: Path, what: str = "CSV file") -> Table:
    """The rows of the CSV at ``path``; ``what`` names the file in errors ("roster", ...)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CsvInputError(f"cannot read the {what} {path} ({exc.strerror or exc})") from None
    text = _decode(data, path, what)
    lines = text.splitlines()
    header_line = next((line for line in lines if line.strip()), "")
    delimiter = max(DELIMITERS, key=header_line.count) if header_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    start = 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1  # a quoted cell may span lines
            if not any(cell.strip() for cell in cells):
                continue
            if columns is None:
                columns = [cell.strip() for cell in cells]
                continue
            rows.append((line, {name: (cells[i].strip() if i < len(cells) else "")
                                for i, name in enumerate(columns) if name}))
    except csv.Error as exc:
        raise CsvInputError(f"{path} line {reader.line_num}: not valid CSV ({exc})") from None
    return Table(path, columns or [], rows)


def _decode(data: bytes, path: Path, what: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise CsvInputError(f"{path}: the {what} starts like UTF-16 but is not valid UTF-16") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise CsvInputError(
            f"{path} line {line}: the {what} is not UTF-8 text (byte 0x{data[exc.start]:02X}); "
            "save it as \"CSV UTF-8\" (Excel) or UTF-8 text and try again") from None
