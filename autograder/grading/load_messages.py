"""What a student is told about their top-level code (the notebook's cells as they load).

Syntax errors are found here, in the grader, by compiling each cell's source: the source
is the student's own, so the compiler's message is safe to show, and the sandbox's report
about compiling is needed only for cells too large to compile here. Errors raised while the cells *run* come from the
sandbox's load report, where the hidden inputs were readable: unless every input of the run
was public (``echo``), they are told in the kit's words only, a checked location and a
builtin exception name from ``redact``'s list.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from ..sandbox.protocol import Record
from .evaluate import location
from .redact import raised, redact

MAX_LOAD_MESSAGES = 50
HIDDEN_LOAD_MESSAGES = 5
# Compiling costs the grader about 250 bytes of memory and a microsecond per byte of source
# (a 20 MB cell: 5.6 GB and 20 s), so only this much is compiled here; a larger cell's syntax
# error is taken from the sandbox's report, which can change only the student's own status.
MAX_CELL_COMPILE = 128 * 1024
MAX_TOTAL_COMPILE = 1024 * 1024


def syntax_errors(cells: Sequence[str], load: Record | None = None) -> list[str]:
    """One message per cell that does not compile, as the runner would compile it."""
    messages = []
    budget = MAX_TOTAL_COMPILE
    reported = _reported_syntax_errors(load)
    for index, source in enumerate(cells):
        if len(source) > min(MAX_CELL_COMPILE, budget):
            if index in reported:
                messages.append(f"SyntaxError in {location({'cell': index}, cells)} (the cell is too "
                                "large for the grader to show where)")
            continue
        budget -= len(source)
        if "\0" in source:  # Python 3.11.2 raises ValueError here, later 3.11s SyntaxError: one message
            messages.append(f"SyntaxError in {location({'cell': index}, cells)}: the cell contains null bytes")
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. invalid escape sequences: not errors
                compile(source, f"<cell {index}>", "exec", dont_inherit=True)
        except SyntaxError as exc:
            where = location({"cell": index, "line": exc.lineno}, cells)
            messages.append(f"{type(exc).__name__} in {where}: {str(exc.msg)[:200]}")
        except (ValueError, MemoryError, RecursionError, OverflowError) as exc:
            # Null bytes, or source too deeply nested or too large for the compiler.
            kind = type(exc).__name__
            messages.append(f"{location({'cell': index}, cells)} could not be compiled ({kind})")
    return messages


def _reported_syntax_errors(load: Record | None) -> set[int]:
    return {entry["cell"] for entry in load_cells(load)
            if isinstance(entry.get("syntax_error"), dict) and isinstance(entry.get("cell"), int)}


def load_cells(load: Record | None) -> list[dict]:
    """The load report's per-cell entries (untrusted: every field is checked where used)."""
    cells = load.meta.get("cells", []) if load else []
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []


def runtime_errors(load: Record | None, cells: Sequence[str], *, echo: bool) -> list[str]:
    """One message per cell that raised while it ran (a few, where hidden inputs were readable).

    The runner reports cell i at position i; an entry anywhere else is not its report and is
    skipped. Each kit-words message can still carry which allow-listed exception and which
    line: at most ``HIDDEN_LOAD_MESSAGES`` of them are shown, then a count.
    """
    messages = []
    for position, entry in enumerate(load_cells(load)[: len(cells)]):
        err = entry.get("error")
        if entry.get("cell") != position or not isinstance(err, dict):
            continue
        running = location({"cell": position}, cells)
        if entry.get("timeout"):
            messages.append(f"{running} did not finish within the time limit for loading")
            continue
        inner = location(err, cells)
        if inner and err.get("cell") != position:
            at = f" (at {inner})"
        elif inner and ", line " in inner:
            at = ", line " + inner.rpartition(", line ")[2]
        else:
            at = ""
        if echo:
            what = f"{redact(str(err.get('type'))[:60])}: {redact(str(err.get('message'))[:200])}"
        else:
            what = raised(err.get("type"))
        messages.append(f"while running {running}{at}: {what}")
    limit = MAX_LOAD_MESSAGES if echo else HIDDEN_LOAD_MESSAGES
    if len(messages) > limit:
        messages[limit:] = [f"... and {len(messages) - limit} more code cells failed as they ran"]
    return messages
