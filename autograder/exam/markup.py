"""Question text written once, rendered as Typst (PDF) and as HTML (Moodle, Canvas, QTI).

A prompt is a list of pieces: ``str`` is plain prose (escaped for each target) and
``Math`` is a formula with a Typst form (real notation in the PDF), a TeX form (LMS
question text, typeset by MathJax between ``\\( ... \\)``) and a plain Unicode form (the
fallback: LMS text without MathJax, CSV and JSON files, and any formula without TeX).

Numbers that are parameters print exactly (``num(x)``: the shortest text that reads back
as the same float), so a key computed from the parameters is the key for the printed
numbers; computed values (options, keys) pass ``digits`` to round what they show.
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
    tex: str | None = None  # None: the LMS text shows ``plain``

    def __add__(self, other: Math) -> Math:
        tex = self.tex + " " + other.tex if self.tex is not None and other.tex is not None else None
        return Math(self.typst + " " + other.typst, self.plain + other.plain, tex)


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


MATH_STYLES = ("tex", "plain")


def to_html(pieces: Pieces, math: str = "tex") -> str:
    """HTML for an LMS. ``math="tex"``: formulas as ``\\( TeX \\)`` for MathJax (Moodle's
    MathJax filter, Canvas, QTI players), a formula without TeX as plain Unicode in
    ``<i>``; ``math="plain"``: every formula as plain Unicode (an LMS without MathJax)."""
    if math not in MATH_STYLES:
        raise ValueError(f"math style {math!r}: use one of {', '.join(MATH_STYLES)}")
    out = []
    for p in pieces:
        if not isinstance(p, Math):
            out.append(html.escape(p))
        elif math == "tex" and p.tex is not None:
            out.append(html.escape(f"\\({p.tex}\\)", quote=False))
        else:
            out.append(f"<i>{html.escape(p.plain)}</i>")
    return "".join(out)


def to_plain(pieces: Pieces) -> str:
    return "".join(p.plain if isinstance(p, Math) else p for p in pieces)


# --- numbers -------------------------------------------------------------------------

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def format_number(x: float, digits: int | None = 4) -> str:
    """Shortest plain form with at most ``digits`` significant digits ("0.0123", "2e-11");
    ``digits=None``: the shortest text that reads back as exactly ``x`` ("1498.6")."""
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return str(x)
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    if digits is None:
        return repr(x)
    return f"{x:.{digits}g}"


def num(x: float, digits: int | None = None) -> Math:
    """A number as math: 1.5e-04 becomes 1.5 · 10^(-4) (Typst), 1.5 \\cdot 10^{-4} (TeX)
    and 1.5·10⁻⁴ (plain). ``digits=None`` prints ``x`` exactly (parameters)."""
    text = format_number(x, digits)
    if text == "NaN":
        return Math('"NaN"', "NaN", r"\mathrm{NaN}")
    if text in ("inf", "-inf"):
        sign = "-" if text.startswith("-") else ""
        return Math(f"{sign}infinity", f"{sign}∞", f"{sign}\\infty")
    if "e" in text:
        mantissa, exponent = text.split("e")
        exponent = str(int(exponent))
        head_t = "" if mantissa == "1" else f"{mantissa} dot "
        head_p = "" if mantissa == "1" else f"{mantissa}·"
        head_x = "" if mantissa == "1" else f"{mantissa} \\cdot "
        return Math(f"{head_t}10^({exponent})", f"{head_p}10{exponent.translate(_SUPERSCRIPT)}",
                    f"{head_x}10^{{{exponent}}}")
    return Math(text, text, text)


def vec(values, digits: int | None = None) -> Math:
    """A row vector: (1, -2, 0.5)."""
    items = [num(v, digits) for v in values]
    return Math("(" + ", ".join(i.typst for i in items) + ")",
                "(" + ", ".join(i.plain for i in items) + ")",
                "(" + ", ".join(i.tex for i in items) + ")")


def mat(rows, digits: int | None = None) -> Math:
    """A matrix: mat(1, 2; 3, 4) in Typst, [[1, 2], [3, 4]] in plain text, bmatrix in TeX."""
    cells = [[num(v, digits) for v in row] for row in rows]
    return Math("mat(" + "; ".join(", ".join(c.typst for c in row) for row in cells) + ")",
                "[" + ", ".join("[" + ", ".join(c.plain for c in row) + "]" for row in cells) + "]",
                "\\begin{bmatrix}" + " \\\\ ".join(" & ".join(c.tex for c in row) for row in cells)
                + "\\end{bmatrix}")


def sym(typst: str, plain: str | None = None, tex: str | None = None) -> Math:
    """A formula: Typst for the PDF, plain Unicode, and TeX for MathJax (None: plain is shown)."""
    return Math(typst, typst if plain is None else plain, tex)


def eq(name: Math, value: Math) -> Math:
    tex = f"{name.tex} = {value.tex}" if name.tex is not None and value.tex is not None else None
    return Math(f"{name.typst} = {value.typst}", f"{name.plain} = {value.plain}", tex)
