"""Templates and the questions drawn from them.

A ``Template`` draws parameters from a seeded Generator (``draw``), computes the answer
and the common-mistake distractors with the kit's reference solutions (``solve``), and
writes the question text (``prompt``). ``instantiate`` turns a template and a seed into
a ``Question``: it redraws while a distractor lands within tolerance of the key or of
another distractor, picks a unit (answers below Canvas's 4-decimal resolution are asked
in units of 10^-k), and shuffles the options of choice questions.

Kinds: ``numeric`` (a number within tolerance), ``choice`` (one correct option),
``multi`` (select all that apply: at least one option is right and at least one wrong,
so every LMS can score it and "tick nothing" is never the key).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from . import markup
from .markup import Math, Pieces
from .seeding import generator

KINDS = ("numeric", "choice", "multi")
OPTION_DIGITS = 4  # significant digits of a computed value printed as an option
MAX_DRAWS = 200
# Canvas keeps 4 decimals: a tolerance of at least 5e-4 (in the asked unit) survives it.
MIN_ASKED_TOLERANCE = 5e-4


class TemplateError(ValueError):
    """A template is malformed or cannot produce a valid question."""


@dataclass
class Distractor:
    """A wrong value and the named mistake that produces it."""

    mistake: str
    description: str
    value: float


@dataclass
class Option:
    """A choice: its text (``Pieces``), whether it is correct, the mistake behind it and,
    for a numeric choice, the value it stands for (in the asked unit)."""

    text: Pieces
    correct: bool
    mistake: str | None = None
    description: str = ""
    value: float | None = None


@dataclass
class Solution:
    """``value`` and ``distractors`` (numeric answers, also numeric choice questions), or
    ``options`` (choice questions whose options are statements)."""

    value: float | None = None
    distractors: list[Distractor] = field(default_factory=list)
    options: list[Option] = field(default_factory=list)


class Template:
    """Subclass and set the class attributes; implement draw, solve and prompt.

    id: unique name [a-z0-9_]; version: bump whenever draw/solve/prompt change what a
    student sees or the key (it enters the seed); kind: numeric | choice | multi;
    rtol/atol: tolerance of numeric answers (|answer - key| <= atol + rtol |key|);
    assignments: the reference solutions it calls (checked before a build).
    """

    id: str = ""
    version: int = 1
    kind: str = "numeric"
    topic: str = ""
    title: str = ""
    points: float = 1.0
    rtol: float = 0.01
    atol: float = 1e-3
    assignments: tuple[str, ...] = ()
    source: str = "built-in"

    def draw(self, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def solve(self, params: dict) -> Solution:
        raise NotImplementedError

    def prompt(self, params: dict) -> Pieces:
        raise NotImplementedError

    def tolerance(self, value: float) -> float:
        return self.atol + self.rtol * abs(value)


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)


def conflicts(template: Template, solution: Solution) -> list[str]:
    """Why a draw is unusable: distractors too close to the key or to each other."""
    problems = []
    if template.kind == "numeric" or (template.kind == "choice" and not solution.options):
        if not _finite(solution.value):
            return [f"the key is not finite ({solution.value})"]
        values = [("key", solution.value)] + [(d.mistake, d.value) for d in solution.distractors]
        for i in range(len(values)):
            for j in range(i + 1, len(values)):
                (na, a), (nb, b) = values[i], values[j]
                if _finite(a) and _finite(b):
                    if abs(a - b) <= template.tolerance(a) + template.tolerance(b):
                        problems.append(f"{nb} is within tolerance of {na}")
                elif template.kind == "choice" and not _finite(a) and not _finite(b):
                    if markup.format_number(a) == markup.format_number(b):
                        problems.append(f"{nb} and {na} are both {a}")
    else:
        texts = [markup.to_plain(o.text) for o in solution.options]
        if len(set(texts)) != len(texts):
            problems.append("two options read the same")
        right = sum(o.correct for o in solution.options)
        if template.kind == "choice" and right != 1:
            problems.append("a choice question needs exactly one correct option")
        if template.kind == "multi" and right == 0:
            problems.append("a select-all question needs at least one correct option")
        if template.kind == "multi" and right == len(solution.options):
            problems.append("a select-all question needs at least one wrong option")
    return problems


def unit_exponent(template: Template, value: float) -> int:
    """k in {0, 3, 6, ...}: ask in units of 10^-k so the tolerance reads >= 5e-4."""
    tolerance = template.tolerance(value)
    k = 0
    while tolerance * 10.0**k < MIN_ASKED_TOLERANCE and k < 30:
        k += 3
    return k


@dataclass
class Question:
    """One drawn question as a student sees it; everything needed to grade it.

    Numeric values (key, distractors, tolerance) are in the asked unit, 10^-unit_exponent.
    ``key`` is a float (numeric) or the sorted list of correct option indices (choice,
    multi). ``order`` is the shuffle applied to the solved options.
    """

    qid: str
    number: int
    template: str
    version: int
    kind: str
    points: float
    seed: str
    params: dict
    draws: int
    unit_exponent: int
    rtol: float
    atol: float
    key: float | list[int]
    tolerance: float | None
    distractors: list[Distractor]
    options: list[Option]
    order: list[int]
    prompt: Pieces

    @property
    def scale(self) -> float:
        return 10.0 ** (-self.unit_exponent)

    def manifest_entry(self) -> dict:
        return {
            "qid": self.qid, "number": self.number, "template": self.template,
            "version": self.version, "kind": self.kind, "points": self.points,
            "seed": self.seed, "draws": self.draws, "params": self.params,
            "unit_exponent": self.unit_exponent, "rtol": self.rtol, "atol": self.atol,
            "key": self.key, "tolerance": self.tolerance, "text": markup.to_plain(self.prompt),
            "distractors": [{**asdict(d), "value": d.value if _finite(d.value) else None}
                            for d in self.distractors],
            "options": [{"text": markup.to_plain(o.text), "correct": o.correct, "mistake": o.mistake,
                         "description": o.description,
                         "value": o.value}
                        for o in self.options],
            "order": self.order,
        }


def _draw_valid(template: Template, seed: str) -> tuple[dict, Solution, int]:
    rng = generator(seed)
    last: list[str] = []
    for attempt in range(1, MAX_DRAWS + 1):
        params = template.draw(rng)
        with np.errstate(all="ignore"):
            solution = template.solve(params)
        last = conflicts(template, solution)
        if not last:
            return params, solution, attempt
    raise TemplateError(f"template {template.id}: no valid draw in {MAX_DRAWS} attempts "
                        f"(last: {'; '.join(last)})")


def instantiate(template: Template, qid: str, number: int, seed: str,
                params: dict | None = None, order: list[int] | None = None,
                unit: int | None = None) -> Question:
    """Draw (or, with ``params``, re-solve) one question.

    With ``params``, ``order`` and ``unit`` from a manifest the student's numbers (and the
    unit they answered in) stay exactly as printed and only the key is recomputed (a
    regrade after a template fix).
    """
    draws = 0
    if params is None:
        params, solution, draws = _draw_valid(template, seed)
    else:
        with np.errstate(all="ignore"):
            solution = template.solve(params)
    prompt = list(template.prompt(params))
    exponent, tolerance, key, distractors, options = 0, None, None, [], []
    numeric_value = template.kind == "numeric" or (template.kind == "choice" and not solution.options)
    if numeric_value:
        exponent = unit_exponent(template, solution.value) if unit is None else unit
        scale = 10.0 ** (-exponent)
        distractors = [Distractor(d.mistake, d.description, d.value / scale)
                       for d in solution.distractors]
        if template.kind == "numeric":
            key = solution.value / scale
            tolerance = template.tolerance(solution.value) / scale
            distractors = [d for d in distractors if _finite(d.value)]
        else:
            key_value = solution.value / scale
            options = [Option([markup.num(key_value, OPTION_DIGITS)], True, value=key_value)] + [
                Option([markup.num(d.value, OPTION_DIGITS)], False, d.mistake, d.description, d.value)
                for d in distractors]
        if exponent:
            example = unit_math(exponent)
            example = Math(f"2.5 dot {example.typst}", f"2.5·{example.plain}", f"2.5 \\cdot {example.tex}")
            prompt += [" Give the answer in units of ", unit_math(exponent), " (for example, ", example,
                       " is entered as 2.5)."]
    else:
        options = list(solution.options)
    if options:
        if order is None and template.kind == "multi":
            order = list(range(len(options)))  # statements and labels read best in their own order
        elif order is None:
            order_seed = hashlib.sha256(f"{seed}/order".encode()).hexdigest()
            order = [int(i) for i in generator(order_seed).permutation(len(options))]
        if sorted(order) != list(range(len(options))):
            raise TemplateError(f"template {template.id}: stored option order {order} does not fit "
                                f"{len(options)} options")
        options = [options[i] for i in order]
        key = [i for i, o in enumerate(options) if o.correct]
    return Question(qid=qid, number=number, template=template.id, version=template.version,
                    kind=template.kind, points=float(template.points), seed=seed, params=params,
                    draws=draws, unit_exponent=exponent, rtol=template.rtol, atol=template.atol,
                    key=key, tolerance=tolerance, distractors=distractors, options=options,
                    order=list(order or []), prompt=prompt)


def unit_math(exponent: int) -> Math:
    """10^-k as a formula (never a literal caret in print)."""
    return Math(f"10^(-{exponent})", f"10{markup.format_number(-exponent).translate(markup._SUPERSCRIPT)}",
                f"10^{{-{exponent}}}")


def option_letter(index: int) -> str:
    return chr(ord("A") + index)
