"""Question text written once, rendered as Typst (PDF) and as HTML (Moodle, Canvas, QTI).

A prompt is a list of pieces: ``str`` is plain prose (escaped for each target) and
``Math`` is a formula with a Typst form (real notation in the PDF) and a plain Unicode
form (LMS question text, which has no Typst).
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Math:
    typst: str
    plain: str

    def __add__(self, other: Math) -> Math:
        return Math(self.typst + " " + other.typst, self.plain + other.plain)


Pieces = list  # of str | Math

_TYPST_SPECIAL = re.compile(r"([\\#$*_<>@\[\]`~=/+-])")


def escape_typst(text: str) -> str:
    """Plain prose as Typst markup: every character that starts markup is escaped."""
    return _TYPST_SPECIAL.sub(r"\\\1", text)


def typst_string(text: str) -> str:
    """A Typst string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_typst(pieces: Pieces) -> str:
    return "".join(f"${p.typst}$" if isinstance(p, Math) else escape_typst(p) for p in pieces)


def to_html(pieces: Pieces) -> str:
    return "".join(f"<i>{html.escape(p.plain)}</i>" if isinstance(p, Math) else html.escape(p)
                   for p in pieces)


def to_plain(pieces: Pieces) -> str:
    return "".join(p.plain if isinstance(p, Math) else p for p in pieces)


# --- numbers -------------------------------------------------------------------------

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def format_number(x: float, digits: int = 4) -> str:
    """Shortest plain form with at most ``digits`` significant digits ("0.0123", "2e-11")."""
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return str(x)
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.{digits}g}"


def num(x: float, digits: int = 4) -> Math:
    """A number as math: 1.5e-04 becomes 1.5 · 10^(-4) (Typst) and 1.5·10⁻⁴ (plain)."""
    text = format_number(x, digits)
    if text == "NaN":
        return Math('"NaN"', "NaN")
    if text in ("inf", "-inf"):
        sign = "-" if text.startswith("-") else ""
        return Math(f"{sign}infinity", f"{sign}∞")
    if "e" in text:
        mantissa, exponent = text.split("e")
        exponent = str(int(exponent))
        head_t = "" if mantissa == "1" else f"{mantissa} dot "
        head_p = "" if mantissa == "1" else f"{mantissa}·"
        return Math(f"{head_t}10^({exponent})", f"{head_p}10{exponent.translate(_SUPERSCRIPT)}")
    return Math(text, text)


def vec(values, digits: int = 4) -> Math:
    """A row vector: (1, -2, 0.5)."""
    items = [num(v, digits) for v in values]
    return Math("(" + ", ".join(i.typst for i in items) + ")",
                "(" + ", ".join(i.plain for i in items) + ")")


def mat(rows, digits: int = 4) -> Math:
    """A matrix: mat(1, 2; 3, 4) in Typst, [[1, 2], [3, 4]] in plain text."""
    cells = [[num(v, digits) for v in row] for row in rows]
    return Math("mat(" + "; ".join(", ".join(c.typst for c in row) for row in cells) + ")",
                "[" + ", ".join("[" + ", ".join(c.plain for c in row) + "]" for row in cells) + "]")


def sym(typst: str, plain: str | None = None) -> Math:
    return Math(typst, typst if plain is None else plain)


def eq(name: Math, value: Math) -> Math:
    return Math(f"{name.typst} = {value.typst}", f"{name.plain} = {value.plain}")
